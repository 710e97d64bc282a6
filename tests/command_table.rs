//! Differential test of the command table: COMMAND INFO, LIST, COUNT, DOCS, GETKEYS(ANDFLAGS),
//! the container HELP texts and ACL CAT against redis-server 7.0.15, for every command (and
//! subcommand) both servers have. What only one server has is printed, not compared; where
//! ringkv follows Redis 7.2 on purpose the difference is in `FOLLOWS_7_2`, and nowhere else.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::{RedisServer, Server};
use redis::Value;

/// The only differences from Redis 7.0.15 allowed, with why: (command, field, reason).
const FOLLOWS_7_2: &[(&str, &str, &str)] = &[
    ("zrank", "arity", "7.2's WITHSCORE option makes it -3"),
    ("zrevrank", "arity", "7.2's WITHSCORE option makes it -3"),
    (
        "*",
        "summary",
        "COMMAND DOCS summaries are Redis 7.2's rewritten texts",
    ),
];

fn allowed(name: &str, field: &str) -> bool {
    FOLLOWS_7_2
        .iter()
        .any(|(n, f, _)| (*n == name || *n == "*") && *f == field)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(n) => n.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn texts(v: &Value) -> BTreeSet<String> {
    items(v).iter().map(text).collect()
}

/// One COMMAND INFO entry, order-insensitive where Redis's reply is a set.
#[derive(Debug, Clone, PartialEq)]
struct Info {
    arity: i64,
    flags: BTreeSet<String>,
    keys: (i64, i64, i64),
    categories: BTreeSet<String>,
    subcommands: BTreeMap<String, Info>,
}

fn info(v: &Value) -> Option<(String, Info)> {
    if matches!(v, Value::Nil) {
        return None;
    }
    let e = items(v);
    let subcommands = e
        .get(9)
        .map(|s| items(s).iter().filter_map(info).collect())
        .unwrap_or_default();
    Some((
        text(&e[0]),
        Info {
            arity: int(&e[1]),
            flags: texts(&e[2]),
            keys: (int(&e[3]), int(&e[4]), int(&e[5])),
            categories: texts(&e[6]),
            subcommands,
        },
    ))
}

fn query(con: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn query_result(con: &mut redis::Connection, args: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).map_err(|e| e.to_string())
}

fn pair() -> (RedisServer, Server, redis::Connection, redis::Connection) {
    let redis = RedisServer::start();
    let ringkv = Server::start(2, common::backends()[0], &[]);
    let r = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let k = ringkv.redis();
    (redis, ringkv, r, k)
}

/// Compares one entry, field by field, recording each difference not in `FOLLOWS_7_2`.
fn compare(
    name: &str,
    ours: &Info,
    theirs: &Info,
    diffs: &mut Vec<String>,
    only: &mut Vec<String>,
) {
    if ours.arity != theirs.arity && !allowed(name, "arity") {
        diffs.push(format!(
            "{name}: arity {} (redis {})",
            ours.arity, theirs.arity
        ));
    }
    if ours.flags != theirs.flags {
        diffs.push(format!(
            "{name}: flags {:?} (redis {:?})",
            ours.flags, theirs.flags
        ));
    }
    if ours.keys != theirs.keys {
        diffs.push(format!(
            "{name}: keys {:?} (redis {:?})",
            ours.keys, theirs.keys
        ));
    }
    if ours.categories != theirs.categories {
        diffs.push(format!(
            "{name}: categories {:?} (redis {:?})",
            ours.categories, theirs.categories
        ));
    }
    for (sub, info) in &ours.subcommands {
        match theirs.subcommands.get(sub) {
            Some(redis_sub) => compare(sub, info, redis_sub, diffs, only),
            None => only.push(format!("{sub} (ringkv only)")),
        }
    }
    for sub in theirs.subcommands.keys() {
        if !ours.subcommands.contains_key(sub) {
            only.push(format!("{sub} (redis only)"));
        }
    }
}

#[test]
fn command_info_matches_redis_for_every_command_both_have() {
    let (_redis, _ringkv, mut r, mut k) = pair();
    let names = texts(&query(&mut k, &["COMMAND", "LIST"]));
    let mut diffs = Vec::new();
    let mut only = Vec::new();
    let mut compared = 0;
    for name in names.iter().filter(|n| !n.contains('|')) {
        let ours = info(&items(&query(&mut k, &["COMMAND", "INFO", name]))[0]);
        let theirs = info(&items(&query(&mut r, &["COMMAND", "INFO", name]))[0]);
        let (ours_name, ours) =
            ours.unwrap_or_else(|| panic!("ringkv lists {name} but has no INFO"));
        assert_eq!(&ours_name, name);
        let Some((_, theirs)) = theirs else {
            only.push(format!("{name} (ringkv only)"));
            continue;
        };
        compared += 1;
        compare(name, &ours, &theirs, &mut diffs, &mut only);
    }
    // A subcommand asked for by its full name answers its own entry, on both.
    for name in names.iter().filter(|n| n.contains('|')) {
        let ours = info(&items(&query(&mut k, &["COMMAND", "INFO", name]))[0]);
        let (ours_name, ours) = ours.unwrap_or_else(|| panic!("no INFO for {name}"));
        assert_eq!(&ours_name, name);
        if let Some((_, theirs)) = info(&items(&query(&mut r, &["COMMAND", "INFO", name]))[0]) {
            compare(name, &ours, &theirs, &mut diffs, &mut only);
        }
    }
    let theirs_all = texts(&query(&mut r, &["COMMAND", "LIST"]));
    for name in theirs_all
        .iter()
        .filter(|n| !n.contains('|') && !names.contains(*n))
    {
        only.push(format!("{name} (redis only)"));
    }
    only.sort();
    only.dedup();
    println!("compared {compared} commands; not compared (only one server has them):");
    for line in &only {
        println!("  {line}");
    }
    assert!(compared > 150, "only {compared} commands compared");
    assert!(
        diffs.is_empty(),
        "COMMAND INFO differs:\n{}",
        diffs.join("\n")
    );
    // What ringkv lacks is reported, never an entry: unknown names are nil on both.
    let missing = items(&query(
        &mut k,
        &["COMMAND", "INFO", "nosuchcommand", "config|nosuch"],
    ))
    .to_vec();
    assert_eq!(missing, vec![Value::Nil, Value::Nil]);
}

#[test]
fn command_list_and_count_include_what_redis_includes() {
    let (_redis, _ringkv, mut r, mut k) = pair();
    let ours = texts(&query(&mut k, &["COMMAND", "LIST"]));
    let theirs = texts(&query(&mut r, &["COMMAND", "LIST"]));
    // COUNT counts the rows, LIST adds the subcommands (as Redis 7.0 does).
    let rows = ours.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(int(&query(&mut k, &["COMMAND", "COUNT"])), rows as i64);
    let redis_rows = theirs.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(
        int(&query(&mut r, &["COMMAND", "COUNT"])),
        redis_rows as i64
    );
    for sub in [
        "config|get",
        "object|encoding",
        "xinfo|stream",
        "client|kill",
        "command|docs",
    ] {
        assert!(ours.contains(sub), "{sub} missing from COMMAND LIST");
    }
    let ringkv_only: Vec<&String> = ours.difference(&theirs).collect();
    println!("in ringkv's COMMAND LIST only: {ringkv_only:?}");
    assert!(
        ringkv_only.iter().all(|n| n.starts_with("client|")),
        "unexpected names: {ringkv_only:?}"
    );
    // FILTERBY: PATTERN and ACLCAT are the unfiltered list's subsets Redis gives, restricted
    // to what ringkv has; MODULE is empty on both.
    for filter in [
        ["PATTERN", "config*"],
        ["PATTERN", "x*"],
        ["PATTERN", "*|help"],
        ["ACLCAT", "list"],
        ["ACLCAT", "dangerous"],
        ["ACLCAT", "connection"],
        ["ACLCAT", "nosuchcategory"],
        ["MODULE", "any"],
    ] {
        let args = ["COMMAND", "LIST", "FILTERBY", filter[0], filter[1]];
        let mine = texts(&query(&mut k, &args));
        let want: BTreeSet<String> = texts(&query(&mut r, &args))
            .intersection(&ours)
            .cloned()
            .collect();
        let mine_shared: BTreeSet<String> = mine.intersection(&theirs).cloned().collect();
        assert_eq!(mine_shared, want, "COMMAND LIST FILTERBY {filter:?}");
    }
    let bad = query_result(&mut k, &["COMMAND", "LIST", "FILTERBY", "BOGUS", "x"]);
    assert_eq!(
        bad,
        query_result(&mut r, &["COMMAND", "LIST", "FILTERBY", "BOGUS", "x"])
    );
}

/// COMMAND DOCS fields of one entry (RESP2: a flat list of name, value).
fn docs(v: &Value) -> BTreeMap<String, String> {
    let e = items(v);
    e.chunks(2)
        .filter(|kv| matches!(kv[1], Value::BulkString(_) | Value::SimpleString(_)))
        .map(|kv| (text(&kv[0]), text(&kv[1])))
        .collect()
}

#[test]
fn command_docs_since_and_group_match_redis() {
    let (_redis, _ringkv, mut r, mut k) = pair();
    let names = texts(&query(&mut k, &["COMMAND", "LIST"]));
    let mut diffs = Vec::new();
    for name in &names {
        let theirs = query(&mut r, &["COMMAND", "DOCS", name]);
        if items(&theirs).is_empty() {
            continue;
        }
        let ours = query(&mut k, &["COMMAND", "DOCS", name]);
        assert_eq!(text(&items(&ours)[0]), *name);
        let (ours, theirs) = (docs(&items(&ours)[1]), docs(&items(&theirs)[1]));
        for field in ["summary", "since", "group"] {
            if ours.get(field) != theirs.get(field) && !allowed(name, field) {
                diffs.push(format!(
                    "{name} {field}: {:?} (redis {:?})",
                    ours.get(field),
                    theirs.get(field)
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "COMMAND DOCS differs:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn acl_categories_list_what_redis_lists() {
    let (_redis, _ringkv, mut r, mut k) = pair();
    // ACL CAT: the same names in the same order.
    let cats = query(&mut k, &["ACL", "CAT"]);
    assert_eq!(cats, query(&mut r, &["ACL", "CAT"]));
    let ours_all = texts(&query(&mut k, &["COMMAND", "LIST"]));
    let theirs_all = texts(&query(&mut r, &["COMMAND", "LIST"]));
    for cat in items(&cats).iter().map(text) {
        let ours = texts(&query(&mut k, &["ACL", "CAT", &cat]));
        let theirs = texts(&query(&mut r, &["ACL", "CAT", &cat]));
        let want: BTreeSet<String> = theirs.intersection(&ours_all).cloned().collect();
        let got: BTreeSet<String> = ours.intersection(&theirs_all).cloned().collect();
        assert_eq!(got, want, "ACL CAT {cat}");
        assert!(
            ours.is_subset(&ours_all),
            "ACL CAT {cat} names an unknown command"
        );
    }
    assert_eq!(
        query_result(&mut k, &["ACL", "CAT", "nosuch"]),
        query_result(&mut r, &["ACL", "CAT", "nosuch"])
    );
}

#[test]
fn getkeys_help_texts_and_subcommand_errors_match_redis() {
    let (_redis, _ringkv, mut r, mut k) = pair();
    let same: &[&[&str]] = &[
        &["COMMAND", "HELP"],
        &["FUNCTION", "HELP"],
        &["MEMORY", "HELP"],
        &["OBJECT", "HELP"],
        &["XINFO", "HELP"],
        &["XGROUP", "HELP"],
        &["COMMAND", "GETKEYS", "zunionstore", "d", "2", "a", "b"],
        &["COMMAND", "GETKEYS", "zunion", "0", "a"],
        &["COMMAND", "GETKEYS", "eval", "return 1", "0"],
        &["COMMAND", "GETKEYS", "eval", "return 1", "2", "a", "b", "c"],
        &["COMMAND", "GETKEYS", "sort", "s", "BY", "w", "STORE", "d"],
        &[
            "COMMAND", "GETKEYS", "xread", "COUNT", "1", "STREAMS", "a", "b", "0", "0",
        ],
        &["COMMAND", "GETKEYS", "lmpop", "2", "a", "b", "LEFT"],
        &["COMMAND", "GETKEYS", "object", "encoding", "k"],
        &["COMMAND", "GETKEYS", "ping", "x"],
        &["COMMAND", "GETKEYS", "get"],
        &["COMMAND", "GETKEYS", "nosuch", "x"],
        &["COMMAND", "GETKEYSANDFLAGS", "get"],
        &["COMMAND", "GETKEYSANDFLAGS", "ping", "x"],
        &["COMMAND", "COUNT", "x"],
        &["COMMAND", "NOSUCH"],
        &["OBJECT", "ENCODING"],
        &["OBJECT", "NOSUCH"],
        &["CONFIG", "GET"],
        &["MEMORY", "USAGE"],
        &["XINFO", "STREAM"],
        &["CLIENT", "KILL"],
        &["ACL", "WHOAMI", "x"],
        // A subcommand's own grammar refusing the call (Redis's addReplySubcommandSyntaxError),
        // with the container and subcommand as sent.
        &["client", "UNBLOCK", "1", "timeout", "x"],
        &["pubsub", "channels", "a", "b"],
        &["PUBSUB", "SHARDCHANNELS", "a", "b"],
        &["acl", "Cat", "a", "b"],
        &["ACL", "LOG", "1", "2"],
        &["ACL", "GENPASS", "1", "2"],
        &["SCRIPT", "FLUSH", "x", "y"],
        &["SCRIPT", "FLUSH", "x"],
        &["XGROUP", "CREATE", "nokey", "g", "$", "bogus"],
        &["XGROUP", "SETID", "nokey", "g", "$", "bogus"],
        &["XINFO", "CONSUMERS", "nokey", "g"],
        &["CONFIG", "SET", "maxmemory", "0", "x"],
        &["CLIENT", "REPLY", "x"],
        &["CLIENT", "NO-EVICT", "x"],
        &["CLIENT", "NOSUCH"],
        &["config", "nosuch", "x"],
        &["ACL", "DRYRUN", "nobody", "get", "a"],
        &["ACL", "DRYRUN", "default", "nosuch"],
        &["OBJECT", "FREQ", "nokey"],
        &["OBJECT", "IDLETIME", "nokey"],
    ];
    for args in same {
        assert_eq!(
            query_result(&mut k, args),
            query_result(&mut r, args),
            "{args:?}"
        );
    }
    // GETKEYSANDFLAGS: the same keys in the same order (the access flags are RO/RW only).
    for args in [
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "lmove",
            "a",
            "b",
            "LEFT",
            "RIGHT",
        ][..],
        &[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "zinterstore",
            "d",
            "2",
            "a",
            "b",
        ][..],
        &["COMMAND", "GETKEYSANDFLAGS", "mget", "a", "b"][..],
    ] {
        let keys =
            |v: Value| -> Vec<String> { items(&v).iter().map(|e| text(&items(e)[0])).collect() };
        assert_eq!(
            keys(query(&mut k, args)),
            keys(query(&mut r, args)),
            "{args:?}"
        );
    }
}
