//! The crash policy: a panic while serving a command logs a report naming the command and
//! aborts the whole process (a supervisor restarts it), instead of leaving a dead shard behind.
//! DEBUG is refused unless `enable-debug-command` allows it, with Redis's text.

use crate::common;

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
        assert!(log.contains("------ STACK TRACE ------"), "{log}");
    }
}

/// Waits for the process to end and returns the signal that ended it.
fn ended_by(server: &mut Server) -> Option<i32> {
    let mut status = None;
    let ended = common::eventually(Duration::from_secs(20), || {
        status = server.try_wait();
        status.is_some()
    });
    assert!(ended, "still running after the crash command");
    status.and_then(|s| s.signal())
}

#[test]
fn a_crash_report_goes_to_the_logfile_and_names_the_client_and_its_command() {
    // (subcommand, signal that ends the process, the cause line)
    let cases: [(&[u8], i32, &str); 2] = [
        (b"PANIC", 6, "DEBUG PANIC called at Unix time"),
        (b"SEGFAULT", 11, "crashed by signal: 11"),
    ];
    for backend in common::backends() {
        for (sub, signal, cause) in cases {
            let dir = common::TempDir::new("crash-log");
            let logfile = format!("{}/ringkv.log", dir.path());
            let extra = ["--enable-debug-command", "yes"];
            let mut server = Server::start_logging(2, backend, &extra, &logfile);
            let mut raw = Raw::connect(server.port);
            raw.cmd(&[b"CLIENT", b"SETNAME", b"crash-test"]);
            assert_eq!(raw.reply(), b"+OK\r\n");
            raw.cmd(&[b"DEBUG", sub, b"with \"quotes\"\n"]);
            let sub = String::from_utf8_lossy(sub);
            assert_eq!(
                ended_by(&mut server),
                Some(signal),
                "{backend} DEBUG {sub}: the process dies by its signal"
            );
            let log = std::fs::read_to_string(&logfile).expect("the log file");
            let report = log
                .split("=== RINGKV BUG REPORT START")
                .nth(1)
                .unwrap_or_else(|| panic!("{backend} DEBUG {sub}: no report in {log}"));
            for expected in [
                cause,
                "command being run on this thread: debug",
                "------ CURRENT CLIENT INFO ------",
                " name=crash-test ",
                "argv[0]: '\"DEBUG\"'",
                &format!("argv[1]: '\"{sub}\"'"),
                "argv[2]: '\"with \\\"quotes\\\"\\n\"'",
                "------ STACK TRACE ------",
                "=== RINGKV BUG REPORT END.",
            ] {
                assert!(
                    report.contains(expected),
                    "{backend} DEBUG {sub}: {expected:?} missing from the report:\n{report}"
                );
            }
        }
    }
}
