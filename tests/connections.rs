//! Many connections, and connections that vanish mid-frame or mid-reply: each costs the server
//! one descriptor and bounded memory while it lasts, nothing once it is gone, and never slows
//! the other clients down.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, info_field, Raw, Server};

/// `connected_clients` from INFO clients, asked on `admin`.
fn connected_clients(admin: &mut Raw) -> u64 {
    admin.cmd(&[b"INFO", b"clients"]);
    let info = String::from_utf8_lossy(&admin.reply()).into_owned();
    info_field(&info, "connected_clients").expect("connected_clients in INFO")
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

const CLIENTS: usize = 10_000;

#[test]
fn ten_thousand_connections_each_get_pong_then_leave() {
    let limit = common::raise_fd_limit(CLIENTS as u64 + 1_000);
    if limit < CLIENTS as u64 + 200 {
        common::skip(&format!(
            "this process may open {limit} descriptors, {CLIENTS} clients need more \
             (raise the hard limit: ulimit -Hn as root)"
        ));
        return;
    }
    for backend in common::backends() {
        let started = Instant::now();
        let server = Server::start(2, backend, &["--maxclients", "10050"]);
        let mut admin = server.raw();
        let baseline = connected_clients(&mut admin);
        let mut clients: Vec<TcpStream> = Vec::with_capacity(CLIENTS);
        // In rounds smaller than the listen backlog, so no SYN is dropped and retried.
        for _ in 0..CLIENTS / 250 {
            let mut round: Vec<TcpStream> = (0..250).map(|_| connect(server.port)).collect();
            for stream in &mut round {
                stream.write_all(b"PING\r\n").expect("send PING");
            }
            for stream in &mut round {
                let mut pong = [0u8; 7];
                stream.read_exact(&mut pong).expect("read PONG");
                assert_eq!(&pong, b"+PONG\r\n", "[{backend}]");
            }
            clients.extend(round);
        }
        assert_eq!(
            connected_clients(&mut admin),
            baseline + CLIENTS as u64,
            "[{backend}]"
        );
        drop(clients);
        let mut now = 0;
        assert!(
            eventually(Duration::from_secs(20), || {
                now = connected_clients(&mut admin);
                now == baseline
            }),
            "[{backend}] connected_clients stays at {now}, baseline {baseline}"
        );
        eprintln!(
            "[{backend}] {CLIENTS} connections held and closed in {:?}",
            started.elapsed()
        );
    }
}

/// Runs the server with RLIMIT_NOFILE at `soft`/`hard`; with `drop_raise` it also loses the
/// right to go past the hard limit (CAP_SYS_RESOURCE), as an unprivileged server would.
fn start_with_fd_limit(backend: &str, soft: u64, hard: u64, drop_raise: bool) -> Server {
    Server::start_with(2, backend, &["--maxclients", "10000"], |cmd| {
        // SAFETY: the closure runs in the forked child before exec and calls only setrlimit
        // and prctl, which are async-signal-safe, on local values.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if drop_raise {
                    // Fails harmlessly where the capability is not held anyway.
                    libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
                }
                Ok(())
            });
        }
    })
}

/// linux/capability.h: the right to raise resource limits past the hard limit.
const CAP_SYS_RESOURCE: libc::c_ulong = 24;

/// The soft "Max open files" of a process, from /proc.
fn soft_fd_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("Max open files in /proc/PID/limits")
}

fn config_get(raw: &mut Raw, name: &str) -> String {
    raw.cmd(&[b"CONFIG", b"GET", name.as_bytes()]);
    let reply = String::from_utf8_lossy(&raw.reply()).into_owned();
    reply
        .split("\r\n")
        .nth(4)
        .unwrap_or_else(|| panic!("CONFIG GET {name}: {reply}"))
        .to_string()
}

#[test]
fn fd_limit_is_raised_for_maxclients_or_maxclients_lowered() {
    // Reserved: 32 as Redis, plus 4 per thread.
    const RESERVED: u64 = 40;
    for backend in common::backends() {
        // Room under the hard limit: the soft limit goes up to maxclients + the reserve.
        let mut server = start_with_fd_limit(backend, 256, 20_000, false);
        let mut admin = server.raw();
        assert_eq!(config_get(&mut admin, "maxclients"), "10000", "[{backend}]");
        assert_eq!(soft_fd_limit(server.pid()), 10_000 + RESERVED);
        // Raising maxclients within the hard limit raises the soft limit with it.
        admin.cmd(&[b"CONFIG", b"SET", b"maxclients", b"12000"]);
        assert_eq!(admin.reply(), b"+OK\r\n");
        assert_eq!(soft_fd_limit(server.pid()), 12_000 + RESERVED);
        assert!(server.alive());

        // No room: maxclients is lowered to what the limit leaves, as Redis does.
        let server = start_with_fd_limit(backend, 256, 256, true);
        let mut admin = server.raw();
        let maxclients = config_get(&mut admin, "maxclients");
        if maxclients == "10000" {
            common::skip("the lowering half: the server could raise its hard limit");
            continue;
        }
        assert_eq!(maxclients, (256 - RESERVED).to_string(), "[{backend}]");
        admin.cmd(&[b"INFO", b"clients"]);
        let info = String::from_utf8_lossy(&admin.reply()).into_owned();
        assert_eq!(info_field(&info, "maxclients"), Some(256 - RESERVED));
        admin.cmd(&[b"CONFIG", b"SET", b"maxclients", b"100000"]);
        assert_eq!(
            String::from_utf8_lossy(&admin.reply()),
            format!("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with {}\r\n", 256 - RESERVED)
        );
        // The lowered limit is enforced with Redis's text.
        let held: Vec<Raw> = (1..256 - RESERVED).map(|_| server.raw()).collect();
        assert!(eventually(Duration::from_secs(10), || {
            connected_clients(&mut admin) == 256 - RESERVED
        }));
        let mut over = server.raw();
        over.cmd(&[b"PING"]);
        assert_eq!(over.reply(), b"-ERR max number of clients reached\r\n");
        drop(held);
    }
}

/// A client on its own thread that PINGs until told to stop; returns the slowest round trip.
fn pinger(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Duration, u64)> {
    std::thread::spawn(move || {
        let mut raw = Raw::connect(port);
        let (mut slowest, mut pings) = (Duration::ZERO, 0u64);
        while !stop.load(Relaxed) {
            let sent = Instant::now();
            raw.cmd(&[b"PING"]);
            assert_eq!(raw.reply(), b"+PONG\r\n");
            slowest = slowest.max(sent.elapsed());
            pings += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        (slowest, pings)
    })
}

/// Waits until INFO's connected_clients is `expected` again (20 s at most).
fn clients_return_to(admin: &mut Raw, expected: u64, backend: &str) {
    let mut now = 0;
    assert!(
        eventually(Duration::from_secs(20), || {
            now = connected_clients(admin);
            now == expected
        }),
        "[{backend}] connected_clients stays at {now}, expected {expected}"
    );
}

/// Stops a `pinger` and checks that no PING of its took a second or more.
fn pings_stayed_fast(
    stop: Arc<AtomicBool>,
    ping: std::thread::JoinHandle<(Duration, u64)>,
    backend: &str,
) {
    stop.store(true, Relaxed);
    let (slowest, pings) = ping.join().expect("pinger");
    assert!(pings > 0);
    assert!(
        slowest < Duration::from_secs(1),
        "[{backend}] a PING took {slowest:?} meanwhile"
    );
}

/// Resets the connection on close (RST instead of FIN).
fn set_reset_on_close(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}

#[test]
fn truncated_frames_and_vanishing_clients_cost_nothing_after() {
    let big = vec![b'v'; 256 * 1024];
    let partial: [&[u8]; 6] = [
        b"*3\r\n$3\r\nSET\r\n$5\r\nab",
        b"*3\r\n$3\r\nSET\r\n$1",
        b"*2\r\n$3\r\nGET\r\n$100000\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        b"*1000000\r\n$4\r\nPING\r\n",
        b"PING\r\nPING\r\n*2\r\n$4\r\nECHO",
        b"*2\r\n$4\r\nECHO\r\n$536870912\r\n",
    ];
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.raw();
        admin.cmd(&[b"SET", b"big", &big]);
        assert_eq!(admin.reply(), b"+OK\r\n");
        let baseline = connected_clients(&mut admin);
        let stop = Arc::new(AtomicBool::new(false));
        let ping = pinger(server.port, stop.clone());
        let baseline = baseline + 1;
        let pipeline: Vec<u8> = common::encode(&[b"GET", b"big"]).repeat(64);
        for i in 0..1_000 {
            let mut stream = connect(server.port);
            if i % 10 == 9 {
                // A pipeline of big replies, cut after the first bytes of the first.
                stream.write_all(&pipeline).unwrap();
                let mut some = [0u8; 1024];
                stream.read_exact(&mut some).unwrap();
            } else {
                stream.write_all(partial[i % partial.len()]).unwrap();
            }
            if i % 2 == 0 {
                set_reset_on_close(&stream);
            }
            drop(stream);
        }
        clients_return_to(&mut admin, baseline, backend);
        pings_stayed_fast(stop, ping, backend);
        admin.cmd(&[b"DBSIZE"]);
        assert_eq!(admin.reply(), b":1\r\n", "[{backend}] a partial SET ran");
    }
}

#[test]
fn a_client_leaving_during_a_large_reply_costs_the_others_nothing() {
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.raw();
        // A 100 000-element list (LRANGE reply ~1.3 MB) and 16 values of 1 MB (MGET ~16 MB).
        let items: Vec<Vec<u8>> = (0..100_000)
            .map(|i| format!("item{i}").into_bytes())
            .collect();
        for chunk in items.chunks(10_000) {
            let mut args: Vec<&[u8]> = vec![b"RPUSH", b"{big}list"];
            args.extend(chunk.iter().map(|v| &v[..]));
            admin.cmd(&args);
            admin.reply();
        }
        let value = vec![b'x'; 1 << 20];
        let keys: Vec<Vec<u8>> = (0..16)
            .map(|i| format!("{{big}}v{i}").into_bytes())
            .collect();
        for key in &keys {
            admin.cmd(&[b"SET", key, &value]);
            assert_eq!(admin.reply(), b"+OK\r\n");
        }
        let mut mget: Vec<&[u8]> = vec![b"MGET"];
        mget.extend(keys.iter().map(|k| &k[..]));
        let baseline = connected_clients(&mut admin) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let ping = pinger(server.port, stop.clone());
        for i in 0..40 {
            let mut stream = connect(server.port);
            let request = if i % 2 == 0 {
                common::encode(&mget)
            } else {
                common::encode(&[b"LRANGE", b"{big}list", b"0", b"-1"])
            };
            stream.write_all(&request.repeat(4)).unwrap();
            let mut some = [0u8; 4096];
            stream.read_exact(&mut some).unwrap();
            if i % 4 < 2 {
                set_reset_on_close(&stream);
            }
        }
        clients_return_to(&mut admin, baseline, backend);
        pings_stayed_fast(stop, ping, backend);
        admin.cmd(&[b"LLEN", b"{big}list"]);
        assert_eq!(admin.reply(), b":100000\r\n");
    }
}

/// A connection whose receive buffer is small and fixed, so unread replies back up at once.
fn connect_small_window(port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads until the server closes; the bytes read, or None if it never does.
fn read_until_closed(stream: &mut TcpStream) -> Option<usize> {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return None,
            Err(_) => return Some(total),
        }
    }
}

fn output_limit_disconnections(admin: &mut Raw) -> u64 {
    admin.cmd(&[b"INFO", b"stats"]);
    let info = String::from_utf8_lossy(&admin.reply()).into_owned();
    info_field(&info, "client_output_buffer_limit_disconnections").expect("field in INFO stats")
}

#[test]
fn normal_clients_are_cut_off_at_their_output_buffer_limit() {
    for backend in common::backends() {
        let server = Server::start(
            2,
            backend,
            &["--client-output-buffer-limit", "normal 1mb 512kb 10"],
        );
        let mut admin = server.raw();
        assert_eq!(
            config_get(&mut admin, "client-output-buffer-limit"),
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let value = vec![b'x'; 100 * 1024];
        admin.cmd(&[b"SET", b"big", &value]);
        assert_eq!(admin.reply(), b"+OK\r\n");
        let baseline = connected_clients(&mut admin) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let ping = pinger(server.port, stop.clone());

        // Within the hard limit: five replies of 100 KB are fine.
        let mut reader = server.raw();
        reader.send(&common::encode(&[b"GET", b"big"]).repeat(5));
        for _ in 0..5 {
            assert_eq!(reader.reply().len(), value.len() + 11);
        }
        // 64 of them at once pass the 1 MB hard limit: cut off before anything is sent.
        let mut greedy = connect_small_window(server.port);
        greedy
            .write_all(&common::encode(&[b"GET", b"big"]).repeat(64))
            .unwrap();
        let got = read_until_closed(&mut greedy).expect("cut off at the hard limit");
        assert!(
            got <= 1 << 20,
            "[{backend}] {got} bytes sent past the limit"
        );
        assert_eq!(output_limit_disconnections(&mut admin), 1, "[{backend}]");

        // Soft limit only: more than 512 KB unread for over a second cuts the client off.
        admin.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 0 512kb 1",
        ]);
        assert_eq!(admin.reply(), b"+OK\r\n");
        let pipeline = common::encode(&[b"GET", b"big"]).repeat(80);
        let started = Instant::now();
        let mut slow = connect_small_window(server.port);
        slow.write_all(&pipeline).unwrap();
        // Wait for the cut without reading (a peek does not drain the socket).
        let mut peek = [0u8; 1];
        assert!(eventually(Duration::from_secs(15), || {
            output_limit_disconnections(&mut admin) == 2
        }));
        assert!(started.elapsed() >= Duration::from_secs(1), "[{backend}]");
        let _ = slow.peek(&mut peek);
        let got = read_until_closed(&mut slow).expect("cut off at the soft limit");
        assert!(got < 80 * value.len(), "[{backend}] all {got} bytes sent");
        // A client that reads takes the same 8 MB unharmed.
        let mut fast = server.raw();
        fast.send(&pipeline);
        for _ in 0..80 {
            assert_eq!(fast.reply().len(), value.len() + 11);
        }
        assert_eq!(output_limit_disconnections(&mut admin), 2, "[{backend}]");

        clients_return_to(&mut admin, baseline + 2, backend);
        pings_stayed_fast(stop, ping, backend);
        drop((reader, fast));
    }
}

/// The CPUs a thread may run on, as /proc shows them (e.g. "0-1").
fn cpus_allowed(status_path: impl AsRef<std::path::Path>) -> String {
    let status = std::fs::read_to_string(status_path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Each worker thread's ("ringkv-N") allowed CPUs, by thread name.
fn worker_cpus(pid: u32) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.starts_with("ringkv-") {
            found.push((name.trim().to_string(), cpus_allowed(dir.join("status"))));
        }
    }
    found.sort();
    found
}

#[test]
fn threads_are_pinned_only_to_the_cpus_server_cpulist_names() {
    let own = cpus_allowed("/proc/self/status");
    let first: String = own.chars().take_while(char::is_ascii_digit).collect();
    assert!(!first.is_empty(), "no CPU in {own:?}");
    let expected_pinned = vec![
        ("ringkv-0".to_string(), first.clone()),
        ("ringkv-1".to_string(), first.clone()),
    ];
    let server = Server::start(2, "auto", &["--server_cpulist", &first]);
    eventually(Duration::from_secs(5), || {
        worker_cpus(server.pid()) == expected_pinned
    });
    assert_eq!(worker_cpus(server.pid()), expected_pinned);
    let mut raw = server.raw();
    assert_eq!(config_get(&mut raw, "server_cpulist"), first);
    raw.cmd(&[b"CONFIG", b"SET", b"server_cpulist", b"0"]);
    assert_eq!(
        raw.reply(),
        b"-ERR CONFIG SET failed (possibly related to argument 'server_cpulist') - can't set immutable config\r\n"
    );

    // By default, and with a list that does not parse, threads may run on any CPU the process
    // may (the server still starts, as Redis does).
    for extra in [&[][..], &["--server_cpulist", "3-1"][..]] {
        let server = Server::start(2, "auto", extra);
        let expected = vec![
            ("ringkv-0".to_string(), own.clone()),
            ("ringkv-1".to_string(), own.clone()),
        ];
        eventually(Duration::from_secs(5), || {
            worker_cpus(server.pid()).len() == 2
        });
        let mut raw = server.raw();
        raw.cmd(&[b"PING"]);
        assert_eq!(raw.reply(), b"+PONG\r\n");
        assert_eq!(worker_cpus(server.pid()), expected, "flags {extra:?}");
    }
}

/// A client that sends its whole pipeline before it reads a reply (as a client library's
/// pipeline does) gets every reply, in order: the server keeps reading and running commands
/// while the replies before them wait for the client, as Redis buffers them, instead of
/// waiting on a client that waits on it.
#[test]
fn a_pipeline_sent_whole_before_any_read_gets_all_its_replies() {
    const VALUES: usize = 8;
    // About 25 MB of commands and 26 MB of replies, far beyond both sides' socket buffers.
    const GETS: usize = 1_000_000;
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        let mut admin = server.raw();
        let values: Vec<Vec<u8>> = (0..VALUES).map(|i| vec![b'a' + i as u8; 8 + i]).collect();
        for (i, value) in values.iter().enumerate() {
            admin.cmd(&[b"SET", format!("k{i}").as_bytes(), value]);
            assert_eq!(admin.reply(), b"+OK\r\n");
        }
        let (mut pipeline, mut expected) = (Vec::new(), Vec::new());
        for n in 0..GETS {
            let value = &values[n % VALUES];
            pipeline.extend(common::encode(&[
                b"GET",
                format!("k{}", n % VALUES).as_bytes(),
            ]));
            expected.extend(format!("${}\r\n", value.len()).into_bytes());
            expected.extend_from_slice(value);
            expected.extend_from_slice(b"\r\n");
            if n % 100_000 == 99_999 {
                pipeline.extend(common::encode(&[b"INCR", b"counter"]));
                expected.extend(format!(":{}\r\n", n / 100_000 + 1).into_bytes());
            }
        }
        let mut client = connect_small_window(server.port);
        client
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let sent = client.write_all(&pipeline);
        assert!(
            sent.is_ok(),
            "[{backend}] the pipeline was not taken: {sent:?}"
        );
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).expect("every reply");
        assert!(got == expected, "[{backend}] replies differ");
        let mut reader = Raw { stream: client };
        reader.cmd(&[b"PING"]);
        assert_eq!(reader.reply(), b"+PONG\r\n", "[{backend}]");
    }
}
