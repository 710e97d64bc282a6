//! Upstream conformance: Redis 7.0.15's own Tcl test suite (external mode, one fresh ringkv per
//! unit) must keep at least the pass counts recorded in tests/tcl/baseline.txt, on both I/O
//! backends. Needs tclsh and the suite's source (tests/tcl/run.sh fetches it with
//! `apt-get source redis`; .ci/run installs what is needed).

mod common;

use std::process::Command;

#[test]
fn tcl_suite_keeps_its_baseline() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tcl/run.sh");
    for backend in common::backends() {
        let status = Command::new("bash")
            .arg(script)
            .arg("--check")
            .env("RINGKV_BIN", env!("CARGO_BIN_EXE_ringkv"))
            .env("RINGKV_ARGS", format!("--threads 2 --io-backend {backend}"))
            // A test that hangs (waiting on a feature ringkv lacks) is given up after 10 s.
            .env("RINGKV_TCL_TEST_TIMEOUT", "10")
            .status()
            .expect("run tests/tcl/run.sh (needs bash and tclsh)");
        assert!(
            status.success(),
            "Tcl conformance below baseline on {backend}: see output above"
        );
    }
}
