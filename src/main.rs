//! The `ringkv` binary: parse configuration, set up logging, run the server.

use ringkv::config::Config;

/// mimalloc's per-thread heaps suit the thread-per-core shape: each core allocates and frees
/// its own requests' buffers without contention (measured in bench-results).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let thp_off = ringkv::server::set_thp_disabled(true);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: ringkv [/path/to/redis.conf] [--option value ...]");
        println!(
            "options use Redis's names: --port 6379 --bind 127.0.0.1 --threads N --databases 16"
        );
        println!(
            "  --maxclients 10000 --timeout 0 --loglevel notice --io-backend auto|uring|epoll"
        );
        return;
    }
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!("ringkv {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let mut config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            // A configuration error is already the whole report (as redis-server prints it).
            if e.starts_with('\n') {
                eprintln!("{e}");
            } else {
                eprintln!("ringkv: {e}");
            }
            std::process::exit(1);
        }
    };
    if let Err(e) = config.enter_dir() {
        eprintln!("ringkv: {e}");
        std::process::exit(1);
    }
    if let Err(e) = ringkv::server::check_startup(&config) {
        eprintln!("ringkv: {e}");
        std::process::exit(1);
    }
    if config.get("daemonize") == "yes" {
        if let Err(e) = ringkv::service::daemonize() {
            eprintln!("ringkv: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = ringkv::server::logging::init(&config) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    if config.get("disable-thp") == "no" {
        let _ = ringkv::server::set_thp_disabled(false);
    } else if let Err(e) = thp_off {
        tracing::warn!("disable-thp: cannot disable transparent huge pages: {e}");
    }
    ringkv::server::crash::install();
    if let Err(e) = ringkv::server::run(config) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
