//! The AOF directory as Redis 7.0 reads it at start, side by side with redis-server 7.0.15:
//! manifests Redis refuses are refused, ones it takes are taken; a pre-7.0 single AOF in
//! `dir` is moved into `appenddirname` and named by the manifest as Redis names it; DEBUG
//! LOADAOF puts back what the files hold.

use crate::common;

use common::{eventually, query as cmd, require_tool, Server, TempDir};
use redis::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn set(key: &str, value: &str) -> String {
    format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    )
}

/// Lays out `dir`/appendonlydir with `files` (name, content) and a manifest of `manifest`.
fn lay_out(dir: &Path, manifest: &str, files: &[(&str, String)]) {
    let aof = dir.join("appendonlydir");
    let _ = std::fs::remove_dir_all(&aof);
    std::fs::create_dir_all(&aof).unwrap();
    for (name, content) in files {
        std::fs::write(aof.join(name), content).unwrap();
    }
    std::fs::write(aof.join("appendonly.aof.manifest"), manifest).unwrap();
}

/// Whether redis-server 7.0.15 refuses to start on `dir` with `appendonly yes` (it exits),
/// or runs (it is then stopped).
fn redis_refuses(dir: &Path) -> bool {
    require_tool("redis-server", "redis-server");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return !status.success();
        }
        if redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
        {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server neither answered nor exited");
}

/// Whether ringkv refuses to start on `dir` with `appendonly yes`; when it runs, the number
/// of keys it loaded.
fn ringkv_outcome(dir: &Path) -> Result<i64, ()> {
    let mut server = Server::start(
        2,
        "uring",
        &["--dir", dir.to_str().unwrap(), "--appendonly", "yes"],
    );
    if eventually(Duration::from_secs(2), || !server.alive()) {
        assert_ne!(server.exit_code(), Some(0));
        return Err(());
    }
    match cmd(&mut server.redis(), &["DBSIZE"]) {
        Value::Int(n) => Ok(n),
        other => panic!("DBSIZE answered {other:?}"),
    }
}

#[test]
fn manifests_are_refused_and_taken_as_redis_does() {
    let base = || ("appendonly.aof.1.base.aof", set("k1", "v1"));
    let incr = |seq: u32, key: &str| (format!("appendonly.aof.{seq}.incr.aof"), set(key, "v"));
    // (what, manifest, incremental files besides the base)
    type Case = (&'static str, String, Vec<(String, String)>);
    let cases: Vec<Case> = vec![
        ("empty manifest", String::new(), vec![]),
        (
            "a file missing",
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n".into(),
            vec![],
        ),
        (
            "non-monotonic sequence",
            "file appendonly.aof.2.incr.aof seq 2 type i\nfile appendonly.aof.1.incr.aof seq 1 type i\n".into(),
            vec![incr(1, "a"), incr(2, "b")],
        ),
        (
            "blank line",
            "file appendonly.aof.1.base.aof seq 1 type b\n\nfile appendonly.aof.1.incr.aof seq 1 type i\n".into(),
            vec![incr(1, "a")],
        ),
        (
            "unknown type",
            "file appendonly.aof.1.base.aof seq 1 type x\n".into(),
            vec![],
        ),
        (
            "no newline at the end",
            "file appendonly.aof.1.base.aof seq 1 type b".into(),
            vec![],
        ),
        (
            "a path for a name",
            "file ../appendonly.aof.1.base.aof seq 1 type b\n".into(),
            vec![],
        ),
        (
            "sequence zero",
            "file appendonly.aof.1.base.aof seq 0 type b\n".into(),
            vec![],
        ),
        (
            "a gap in the sequence and a comment",
            "# written by hand\nfile appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.3.incr.aof seq 3 type i\n".into(),
            vec![incr(1, "a"), incr(3, "c")],
        ),
        (
            "extra key-value pairs",
            "file appendonly.aof.1.base.aof seq 1 type b newkey newvalue\n".into(),
            vec![],
        ),
    ];
    for (what, manifest, files) in cases {
        let dir = TempDir::new("manifest");
        let (base_name, base_content) = base();
        let mut all = vec![(base_name, base_content)];
        all.extend(files.iter().map(|(n, c)| (n.as_str(), c.clone())));
        lay_out(&dir.0, &manifest, &all);
        let theirs = redis_refuses(&dir.0);
        lay_out(&dir.0, &manifest, &all);
        let ours = ringkv_outcome(&dir.0);
        assert_eq!(
            ours.is_err(),
            theirs,
            "{what}: ringkv {ours:?}, redis refuses: {theirs}"
        );
        if let Ok(keys) = ours {
            assert_eq!(keys as usize, 1 + files.len(), "{what}");
        }
    }
}

#[test]
fn an_old_style_aof_moves_into_the_directory_as_redis_moves_it() {
    let old = format!("{}{}{}", set("k1", "v1"), set("k2", "v2"), set("k3", "v3"));
    let manifest_after = |dir: &Path| {
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
    };
    let redis_dir = TempDir::new("old-aof-redis");
    std::fs::write(redis_dir.0.join("appendonly.aof"), &old).unwrap();
    assert!(!redis_refuses(&redis_dir.0));
    let theirs = manifest_after(&redis_dir.0);

    let dir = TempDir::new("old-aof");
    std::fs::write(dir.0.join("appendonly.aof"), &old).unwrap();
    let always = ["--appendfsync", "always"];
    let args = [&["--dir", dir.path(), "--appendonly", "yes"][..], &always].concat();
    let server = Server::start(2, "uring", &args);
    let mut con = server.redis();
    for i in 1..=3 {
        assert_eq!(
            cmd(&mut con, &["GET", &format!("k{i}")]),
            Value::BulkString(format!("v{i}").into_bytes())
        );
    }
    assert!(!dir.0.join("appendonly.aof").exists());
    assert!(dir.0.join("appendonlydir/appendonly.aof").exists());
    assert_eq!(manifest_after(&dir.0), theirs);
    assert_eq!(
        theirs,
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    // Written after the move, kept across a restart.
    cmd(&mut con, &["SET", "k4", "v4"]);
    drop(con);
    drop(server);
    let server = Server::start(2, "uring", &args);
    assert_eq!(cmd(&mut server.redis(), &["DBSIZE"]), Value::Int(4));
}

#[test]
fn debug_loadaof_puts_back_what_the_files_hold() {
    let dir = TempDir::new("loadaof");
    let server = Server::start(
        2,
        "uring",
        &[
            "--dir",
            dir.path(),
            "--appendonly",
            "yes",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut con = server.redis();
    for i in 0..200 {
        cmd(
            &mut con,
            &["RPUSH", &format!("list{}", i % 7), &i.to_string()],
        );
        cmd(&mut con, &["INCRBY", &format!("counter{}", i % 5), "3"]);
    }
    cmd(&mut con, &["BGREWRITEAOF"]);
    assert!(eventually(Duration::from_secs(10), || {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap();
        info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrites:1")
    }));
    cmd(&mut con, &["SET", "after", "rewrite"]);
    cmd(&mut con, &["EXPIRE", "after", "1000"]);
    let before = cmd(&mut con, &["DEBUG", "DIGEST"]);
    assert_eq!(cmd(&mut con, &["DEBUG", "LOADAOF"]), Value::Okay);
    assert_eq!(cmd(&mut con, &["DEBUG", "DIGEST"]), before);
    assert_eq!(cmd(&mut con, &["DBSIZE"]), Value::Int(13));
    assert_eq!(
        cmd(&mut con, &["GET", "counter0"]),
        Value::BulkString(b"120".to_vec())
    );
}

#[test]
fn bgrewriteaof_with_the_aof_off_writes_a_base_alone_as_redis_does() {
    let manifest_of = |dir: &Path| {
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
    };
    let rewrite_done = |con: &mut redis::Connection, count: &str| {
        eventually(Duration::from_secs(10), || {
            let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
            info.contains("aof_rewrite_in_progress:0") && info.contains(count)
        })
    };
    let redis_dir = TempDir::new("off-rewrite-redis");
    let redis = common::RedisServer::start_with(&["--dir", redis_dir.path()]);
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let dir = TempDir::new("off-rewrite");
    let server = Server::start(
        2,
        "uring",
        &["--dir", dir.path(), "--enable-debug-command", "yes"],
    );
    let mut ours = server.redis();
    for con in [&mut theirs, &mut ours] {
        cmd(con, &["SET", "a", "1"]);
        cmd(con, &["RPUSH", "l", "x", "y"]);
        cmd(con, &["BGREWRITEAOF"]);
    }
    assert!(rewrite_done(&mut theirs, "aof_rewrites:1"));
    assert!(rewrite_done(&mut ours, "aof_rewrites:1"));
    assert_eq!(manifest_of(&dir.0), manifest_of(&redis_dir.0));
    assert_eq!(
        manifest_of(&dir.0),
        "file appendonly.aof.1.base.rdb seq 1 type b\n"
    );
    // A second one replaces the first base; DEBUG LOADAOF reads it back.
    cmd(&mut ours, &["SET", "b", "2"]);
    cmd(&mut ours, &["BGREWRITEAOF"]);
    assert!(rewrite_done(&mut ours, "aof_rewrites:2"));
    assert_eq!(
        manifest_of(&dir.0),
        "file appendonly.aof.2.base.rdb seq 2 type b\n"
    );
    assert!(!dir
        .0
        .join("appendonlydir/appendonly.aof.1.base.rdb")
        .exists());
    let digest = cmd(&mut ours, &["DEBUG", "DIGEST"]);
    assert_eq!(cmd(&mut ours, &["DEBUG", "LOADAOF"]), Value::Okay);
    assert_eq!(cmd(&mut ours, &["DEBUG", "DIGEST"]), digest);
}
