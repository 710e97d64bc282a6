//! SORT / SORT_RO through the real server (2 threads: BY/GET keys on both shards), over sorted
//! sets, lists and sets.

use crate::common;

use common::Server;

fn server() -> Server {
    let backend = common::backends()[0];
    Server::start(2, backend, &[])
}

fn query(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap()
}

fn run(con: &mut redis::Connection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let _: redis::Value = cmd.query(con).unwrap();
}

#[test]
fn sorted_set_sources() {
    let s = server();
    let mut con = s.redis();
    run(
        &mut con,
        &["ZADD", "z", "1", "10", "2", "9", "3", "100", "4", "1.5"],
    );
    assert_eq!(query(&mut con, &["SORT", "z"]), ["1.5", "9", "10", "100"]);
    assert_eq!(
        query(&mut con, &["SORT", "z", "DESC", "LIMIT", "0", "2"]),
        ["100", "10"]
    );
    assert_eq!(
        query(&mut con, &["SORT", "z", "ALPHA"]),
        ["1.5", "10", "100", "9"]
    );
    assert_eq!(
        query(&mut con, &["SORT", "z", "BY", "nosort"]),
        ["10", "9", "100", "1.5"]
    );
    assert_eq!(
        query(
            &mut con,
            &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "2"]
        ),
        ["100", "9"]
    );
    assert_eq!(query(&mut con, &["SORT_RO", "z", "LIMIT", "1", "1"]), ["9"]);
}

#[test]
fn by_and_get_patterns_across_shards() {
    let s = server();
    let mut con = s.redis();
    run(
        &mut con,
        &["ZADD", "ids", "0", "a", "0", "b", "0", "c", "0", "d"],
    );
    // Weight keys spread over both shards.
    run(
        &mut con,
        &[
            "MSET", "w_a", "4", "w_b", "3", "w_c", "2", "w_d", "1", "name_a", "A", "name_c", "C",
        ],
    );
    assert_eq!(
        query(&mut con, &["SORT", "ids", "BY", "w_*"]),
        ["d", "c", "b", "a"]
    );
    let got: Vec<Option<String>> = redis::cmd("SORT")
        .arg("ids")
        .arg("BY")
        .arg("w_*")
        .arg("GET")
        .arg("#")
        .arg("GET")
        .arg("name_*")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        got,
        [
            Some("d".into()),
            None,
            Some("c".into()),
            Some("C".into()),
            Some("b".into()),
            None,
            Some("a".into()),
            Some("A".into())
        ]
    );
    run(&mut con, &["SET", "w_b", "x"]);
    let err = redis::cmd("SORT")
        .arg("ids")
        .arg("BY")
        .arg("w_*")
        .query::<Vec<String>>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("can't be converted into double"),
        "{err}"
    );
    assert_eq!(
        query(&mut con, &["SORT", "ids", "BY", "w_*", "ALPHA", "DESC"]),
        ["b", "a", "c", "d"]
    );
}

#[test]
fn errors() {
    let s = server();
    let mut con = s.redis();
    run(&mut con, &["SET", "str", "x"]);
    let e = redis::cmd("SORT")
        .arg("str")
        .query::<Vec<String>>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("WRONGTYPE"), "{e}");
    let e = redis::cmd("SORT_RO")
        .arg("nokey")
        .arg("STORE")
        .arg("d")
        .query::<Vec<String>>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("syntax error"), "{e}");
    assert!(query(&mut con, &["SORT", "nokey"]).is_empty());
    let n: i64 = redis::cmd("SORT")
        .arg("nokey")
        .arg("STORE")
        .arg("dst")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn list_sources_and_store() {
    let s = server();
    let mut con = s.redis();
    run(&mut con, &["RPUSH", "l", "3", "1", "2"]);
    assert_eq!(query(&mut con, &["SORT", "l"]), ["1", "2", "3"]);
    assert_eq!(
        query(&mut con, &["SORT", "l", "BY", "nosort"]),
        ["3", "1", "2"]
    );
    let n: i64 = redis::cmd("SORT")
        .arg("l")
        .arg("DESC")
        .arg("STORE")
        .arg("foo")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        query(&mut con, &["LRANGE", "foo", "0", "-1"]),
        ["3", "2", "1"]
    );
}

#[test]
fn set_sources() {
    let s = server();
    let mut con = s.redis();
    run(&mut con, &["SADD", "s", "b", "a", "c"]);
    assert_eq!(query(&mut con, &["SORT", "s", "ALPHA"]), ["a", "b", "c"]);
    // BY a constant with STORE on a set still sorts (a set's order is arbitrary).
    let n: i64 = redis::cmd("SORT")
        .arg("s")
        .arg("BY")
        .arg("const")
        .arg("STORE")
        .arg("bar")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        query(&mut con, &["LRANGE", "bar", "0", "-1"]),
        ["a", "b", "c"]
    );
    run(&mut con, &["ZADD", "z", "1", "a", "2", "d"]);
    assert_eq!(
        query(&mut con, &["ZUNION", "2", "s", "z", "WITHSCORES"]),
        ["b", "1", "c", "1", "a", "2", "d", "2"]
    );
}

#[test]
fn command_getkeys_finds_movable_keys_like_redis() {
    common::assert_scripts_match_redis(&[&[
        "COMMAND GETKEYS sort abc store def",
        "COMMAND GETKEYS sort abc store invalid store stillbad store def",
        "COMMAND GETKEYS sort abc by w_* limit 0 1 get store get # store dst",
        "COMMAND GETKEYS sort abc store",
        "COMMAND GETKEYS sort_ro abc",
        "COMMAND GETKEYS zunionstore dst 2 a b weights 1 2",
        "COMMAND GETKEYS zinterstore dst 0 a",
        "COMMAND GETKEYS zunion 2 a b withscores",
        "COMMAND GETKEYS zdiff 3 a b",
        "COMMAND GETKEYS zintercard 2 a b limit 3",
        "COMMAND GETKEYS sintercard 1 a",
        "COMMAND GETKEYS lmpop 2 a b left",
        "COMMAND GETKEYS zmpop 1 a min",
        "COMMAND GETKEYS blmpop 0 2 a b left",
        "COMMAND GETKEYS bzmpop 0 1 a max count 2",
        "COMMAND GETKEYS get k",
    ]]);
}
