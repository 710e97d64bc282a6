//! ACL over pub/sub and inner calls, differential against redis-server: subscribers closed when
//! ACL SETUSER revokes their channels (and pardoned when it does not), shard channels judged
//! as channels, acl-pubsub-default, script calls checked against the user, `user` directives
//! at start, and INFO's error counts for errors inside MULTI/EXEC and scripts.

use crate::common;

use common::{assert_scripts_match_redis, Raw, RedisServer, Server};

fn ask(raw: &mut Raw, args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    raw.cmd(&args);
    raw.reply()
}

/// A subscriber logged in as `user`, named `name`, subscribed with `command` to `names`.
fn subscriber(port: u16, name: &str, command: &str, names: &[&str]) -> Raw {
    let mut raw = Raw::connect(port);
    assert_eq!(ask(&mut raw, &["AUTH", "psuser", "pw"]), b"+OK\r\n");
    assert_eq!(ask(&mut raw, &["CLIENT", "SETNAME", name]), b"+OK\r\n");
    let mut args = vec![command];
    args.extend_from_slice(names);
    let confirmation = ask(&mut raw, &args);
    assert!(
        confirmation.starts_with(b"*3\r\n"),
        "{name}: {confirmation:?}"
    );
    raw
}

/// The client names CLIENT LIST shows, sorted.
fn listed_names(admin: &mut Raw) -> Vec<String> {
    let list = String::from_utf8(ask(admin, &["CLIENT", "LIST"])).unwrap();
    let mut names: Vec<String> = list
        .split_whitespace()
        .filter_map(|field| field.strip_prefix("name="))
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// What happens to subscribers as their user's channels change: the names still listed right
/// after each change, whether each subscriber was closed, and a pardoned one's PING reply.
fn revocation_story(port: u16) -> Vec<String> {
    let mut admin = Raw::connect(port);
    let mut story = Vec::new();
    let setup = [
        "ACL",
        "SETUSER",
        "psuser",
        "reset",
        "on",
        ">pw",
        "+@all",
        "~*",
        "resetchannels",
        "&foo:1",
        "&bar:*",
        "&keep",
    ];
    assert_eq!(ask(&mut admin, &setup), b"+OK\r\n");
    let mut plain = subscriber(port, "plain", "SUBSCRIBE", &["foo:1"]);
    let mut shard = subscriber(port, "shard", "SSUBSCRIBE", &["foo:1"]);
    let mut pattern = subscriber(port, "pattern", "PSUBSCRIBE", &["bar:*"]);
    let mut kept = subscriber(port, "kept", "SUBSCRIBE", &["keep"]);
    // Keeps &keep, drops &foo:1 and &bar:*.
    let change = [
        "ACL",
        "SETUSER",
        "psuser",
        "resetchannels",
        "&keep",
        "&other",
    ];
    story.push(String::from_utf8_lossy(&ask(&mut admin, &change)).into_owned());
    story.push(format!("listed: {:?}", listed_names(&mut admin)));
    for (name, raw) in [
        ("plain", &mut plain),
        ("shard", &mut shard),
        ("pattern", &mut pattern),
    ] {
        story.push(format!("{name} closed: {}", raw.closed()));
    }
    story.push(format!("kept ping: {:?}", ask(&mut kept, &["PING"])));
    // Every channel: nobody loses anything.
    assert_eq!(
        ask(&mut admin, &["ACL", "SETUSER", "psuser", "allchannels"]),
        b"+OK\r\n"
    );
    story.push(format!("listed: {:?}", listed_names(&mut admin)));
    story.push(format!("kept ping: {:?}", ask(&mut kept, &["PING"])));
    // From every channel to none: the last one goes too.
    let revoke = ["ACL", "SETUSER", "psuser", "resetchannels"];
    assert_eq!(ask(&mut admin, &revoke), b"+OK\r\n");
    story.push(format!("listed: {:?}", listed_names(&mut admin)));
    story.push(format!("kept closed: {}", kept.closed()));
    assert_eq!(ask(&mut admin, &["ACL", "DELUSER", "psuser"]), b":1\r\n");
    story
}

#[test]
fn subscribers_closed_when_acl_setuser_revokes_their_channels() {
    let redis = RedisServer::start();
    let expected = revocation_story(redis.port);
    assert!(
        expected.iter().any(|line| line == "plain closed: true"),
        "{expected:?}"
    );
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(revocation_story(server.port), expected, "[{backend}]");
    }
}

#[test]
fn shard_channels_dryrun_scripts_and_pubsub_default_match_redis() {
    assert_scripts_match_redis(&[&[
        "ACL SETUSER sh reset on nopass +@all ~* resetchannels &foo:*",
        "ACL DRYRUN sh SPUBLISH foo:1 m",
        "ACL DRYRUN sh SPUBLISH bar m",
        "ACL DRYRUN sh PUBLISH bar m",
        "ACL DRYRUN sh SSUBSCRIBE foo:1 bar",
        "ACL SETUSER k reset on nopass +@all -incr ~a* &*",
        "ACL DRYRUN k GET b",
        "ACL DRYRUN k GET a1",
        "ACL DRYRUN k INCR a1",
        "AUTH sh x",
        "SPUBLISH bar m",
        "SPUBLISH foo:1 m",
        "EVAL \"return redis.call('spublish','bar','m')\" 0",
        "EVAL \"return redis.pcall('publish','bar','m')\" 0",
        "AUTH k x",
        "EVAL \"return redis.call('get','b')\" 0",
        "EVAL \"return redis.call('incr','a')\" 0",
        "EVAL \"return redis.pcall('incr','a')\" 0",
        "EVAL \"return redis.call('set','a','1')\" 0",
        "READONLY",
        "READWRITE",
        "AUTH default x",
        "CONFIG SET acl-pubsub-default allchannels",
        "ACL SETUSER newu",
        "ACL GETUSER newu",
        "ACL SETUSER newu2 &x",
        "ACL SETUSER newu resetchannels &x",
        "ACL SETUSER newu reset",
        "ACL GETUSER newu",
        "CONFIG SET acl-pubsub-default resetchannels",
        "ACL SETUSER newu reset",
        "ACL GETUSER newu",
        "ACL DELUSER newu newu2 sh k",
    ]]);
}

/// INFO's view of errors after `commands` ran on a fresh (reset) server: the errorstats
/// section, the total error replies, and each command's calls / rejected / failed counts.
fn error_counts(port: u16, commands: &[&[&str]]) -> Vec<String> {
    let mut raw = Raw::connect(port);
    ask(&mut raw, &["CONFIG", "RESETSTAT"]);
    for command in commands {
        ask(&mut raw, command);
    }
    let mut seen = Vec::new();
    let errorstats = String::from_utf8(ask(&mut raw, &["INFO", "errorstats"])).unwrap();
    seen.extend(
        errorstats
            .lines()
            .filter(|l| l.starts_with("errorstat_"))
            .map(str::to_string),
    );
    let stats = String::from_utf8(ask(&mut raw, &["INFO", "stats"])).unwrap();
    seen.extend(
        stats
            .lines()
            .filter(|l| l.starts_with("total_error_replies"))
            .map(str::to_string),
    );
    let commandstats = String::from_utf8(ask(&mut raw, &["INFO", "commandstats"])).unwrap();
    let mut counts: Vec<String> = commandstats
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info"))
        .filter(|l| !l.starts_with("cmdstat_config|resetstat"))
        .map(|l| {
            let (name, fields) = l.split_once(':').unwrap();
            let kept: Vec<&str> = fields
                .split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect();
            format!("{name}:{}", kept.join(","))
        })
        .collect();
    counts.sort();
    seen.extend(counts);
    seen
}

#[test]
fn errors_inside_exec_and_scripts_count_as_redis_counts_them() {
    let commands: &[&[&str]] = &[
        &["SET", "s", "text"],
        // A failing call inside EXEC: counted under it, EXEC not failed.
        &["MULTI"],
        &["SET", "a", "b"],
        &["INCR", "s"],
        &["AUTH", "a"],
        &["EXEC"],
        // Refused while queueing: a rejected SET, then EXECABORT.
        &["MULTI"],
        &["SET"],
        &["EXEC"],
        // A pcall error caught by the script, a raised one, one returned as the reply.
        &["EVAL", "redis.pcall('incr','s')", "0"],
        &["EVAL", "redis.call('incr','s')", "0"],
        &["EVAL", "return redis.pcall('incr','s')", "0"],
        &["EVAL", "return redis.error_reply('MY own')", "0"],
        // An error of the EVAL itself.
        &["EVAL", "a"],
        &["EXEC"],
    ];
    let redis = RedisServer::start();
    let expected = error_counts(redis.port, commands);
    assert!(
        expected
            .iter()
            .any(|l| l.starts_with("cmdstat_incr:calls=4")),
        "{expected:?}"
    );
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(error_counts(server.port, commands), expected, "[{backend}]");
    }
}

#[test]
fn script_calls_refused_by_acl_count_and_log_as_redis() {
    let commands: &[&[&str]] = &[
        &[
            "ACL", "SETUSER", "scripter", "reset", "on", "nopass", "~*", "+eval", "+get",
        ],
        &["AUTH", "scripter", "x"],
        &["EVAL", "redis.call('incr','k')", "0"],
        &["EVAL", "return redis.pcall('incr','k')", "0"],
        &["EVAL", "return redis.call('get','k')", "0"],
        // Asking is no refusal: nothing logged or counted.
        &["EVAL", "return redis.acl_check_cmd('incr','k')", "0"],
        &["AUTH", "default", "x"],
    ];
    let redis = RedisServer::start();
    let expected = error_counts(redis.port, commands);
    for backend in common::backends() {
        let server = Server::start(2, backend, &[]);
        assert_eq!(error_counts(server.port, commands), expected, "[{backend}]");
        let mut raw = server.raw();
        let log = String::from_utf8(ask(&mut raw, &["ACL", "LOG", "1"])).unwrap();
        assert!(log.contains("$7\r\ncontext\r\n$3\r\nlua\r\n"), "{log}");
        assert!(log.contains("$6\r\nobject\r\n$4\r\nincr\r\n"), "{log}");
    }
}

const USERS: &[&str] = &[
    "--user", "alice", "on", ">pw", "~a*", "+@all", "-flushdb", "--user", "default", "on",
    "nopass", "~*", "+@all",
];

#[test]
fn user_directives_create_users_at_start_like_redis() {
    let redis = RedisServer::start_with(USERS);
    let mut theirs = Raw::connect(redis.port);
    let expected = ask(&mut theirs, &["ACL", "LIST"]);
    assert!(expected.starts_with(b"*2\r\n"), "{expected:?}");
    for backend in common::backends() {
        let server = Server::start(2, backend, USERS);
        let mut ours = server.raw();
        assert_eq!(ask(&mut ours, &["ACL", "LIST"]), expected, "[{backend}]");
        // The default user without &* has no channel.
        assert_eq!(
            ask(&mut ours, &["SUBSCRIBE", "x"]),
            ask(&mut theirs, &["SUBSCRIBE", "x"])
        );
    }
}

#[test]
fn a_user_declared_twice_stops_the_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkv"))
        .args(["--port", "0", "--user", "foo", "--user", "foo"])
        .output()
        .expect("run ringkv");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Duplicate user found"), "{text}");
}
