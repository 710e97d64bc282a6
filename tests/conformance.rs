//! Upstream conformance: Redis 7.0.15's own Tcl test suite must pass every test named in
//! tests/tcl/passing/ without crashing: the external-mode units (one fresh ringkv per unit) and
//! the `native:` units (the suite starts ringkv itself as its src/redis-server, with the config
//! files it writes; about 3 minutes) on the default io_uring backend, and the quick external
//! units on epoll (the integration tests already run everything on both backends; the slow
//! data-type units would double CI time). Needs tclsh, redis-tools (redis-cli and friends for
//! native mode) and the suite's source (tests/tcl/run.sh fetches it with `apt-get source
//! redis`; .ci/run installs what is needed).

mod common;

use std::process::Command;

/// The units checked on epoll too: the core ones and the quick data-type ones.
const EPOLL_UNITS: &str =
    "unit/protocol unit/keyspace unit/expire unit/type/string unit/type/incr \
                           unit/info-command unit/quit unit/type/hash unit/type/set unit/scan";

#[test]
fn tcl_suite_keeps_its_baseline() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tcl/run.sh");
    for backend in common::backends() {
        let mut command = Command::new("bash");
        if backend == "epoll" {
            command.env("RINGKV_TCL_CHECK_UNITS", EPOLL_UNITS);
        }
        let status = command
            .arg(script)
            .arg("--check")
            .env("RINGKV_BIN", env!("CARGO_BIN_EXE_ringkv"))
            .env("RINGKV_ARGS", format!("--threads 2 --io-backend {backend}"))
            // A test that hangs (waiting on a feature ringkv lacks) is given up after 20 s.
            .env("RINGKV_TCL_TEST_TIMEOUT", "20")
            .status()
            .expect("run tests/tcl/run.sh (needs bash and tclsh)");
        assert!(
            status.success(),
            "Tcl conformance below baseline on {backend}: see output above"
        );
    }
}
