//! The crash policy: a panic while serving a command logs a report naming the command and
//! aborts the whole process (a supervisor restarts it), instead of leaving a dead shard behind.
//! DEBUG is refused unless `enable-debug-command` allows it, with Redis's text.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Raw, Server};

#[test]
fn debug_is_refused_by_default_as_redis_refuses_it() {
    let server = Server::start(1, "epoll", &[]);
    let mut raw = server.raw();
    raw.cmd(&[b"DEBUG", b"PANIC"]);
    assert_eq!(
        String::from_utf8_lossy(&raw.reply()),
        "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
         you can run it from a local connection, otherwise you need to set this option in the \
         configuration file, and then restart the server.\r\n"
    );
    raw.cmd(&[b"PING"]);
    assert_eq!(raw.reply(), b"+PONG\r\n");
}

#[test]
fn a_panic_logs_a_report_and_aborts_the_process() {
    for backend in common::backends() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringkv"))
            .args(["--port", "0", "--threads", "2", "--io-backend", backend])
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ringkv");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("first log line");
        let port: u16 = first
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        let mut raw = Raw::connect(port);
        raw.cmd(&[b"DEBUG", b"HELP"]);
        assert!(raw.reply().starts_with(b"*"), "DEBUG HELP answers");
        raw.cmd(&[b"DEBUG", b"PANIC"]);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{backend}: still running after DEBUG PANIC"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(6), "{backend}: aborted (SIGABRT)");
        let mut log = String::new();
        out.read_to_string(&mut log).expect("rest of the log");
        assert!(
            log.contains("=== RINGKV BUG REPORT START"),
            "{backend}: {log}"
        );
        assert!(
            log.contains("command being run on this thread: debug"),
            "{log}"
        );
        assert!(log.contains("DEBUG PANIC called at Unix time"), "{log}");
        assert!(log.contains("------ BACKTRACE ------"), "{log}");
    }
}
