//! The command families of the differential test's generator: value pools full of edge cases
//! and one function per data type drawing a random command (arguments and normalisation).

use super::gen::{
    Cmd, Gen, Tf, ALL_KEYS, HASHES, LEX_ZSETS, LISTS, SETS, STREAMS, STRINGS, WEIGHT_MEMBERS, ZSETS,
};

/// String values: integers at the i64 edges, floats, blanks, padded numbers, hex.
const VALUES: &[&str] = &[
    "a",
    "b",
    "1",
    "-1",
    "0",
    "10",
    "3.5",
    "",
    " 1",
    "9223372036854775807",
    "-9223372036854775808",
    "hello world",
    "0x10",
    "abc",
    "1e3",
    "007",
];
/// Members and fields: small, so sets and hashes overlap.
const MEMBERS: &[&str] = &["a", "b", "c", "d", "1", "2", "10", "-5"];
/// Counts, indexes, offsets: ordinary, negative, extreme and malformed.
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-2",
    "-3",
    "5",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
    "",
    " 1",
];
const SMALL_INTS: &[&str] = &["0", "1", "2", "3", "-1", "-2", "5", "100"];
const INCRS: &[&str] = &[
    "1",
    "-1",
    "10",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "abc",
    "1.5",
    "",
    " 1",
];
const FLOATS: &[&str] = &[
    "1.5", "-0.5", "3", "0x10", "0x1", "abc", "1e400", "inf", "-inf", "", " 1", "1e3", "-0",
    "0.25", "0.1",
];
/// ZADD / ZINCRBY scores.
const SCORES: &[&str] = &[
    "0", "1", "-1", "2.5", "-0", "+inf", "-inf", "inf", "0x10", "", " 1", "1e400", "nan", "abc",
    "1e3", "-2.25", "3", "5", "2", "0.1",
];
/// Score range bounds.
const SCORE_BOUNDS: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "(2.5", "2.5", "-1", "abc", "", "(", " 1", "0x10", "(-inf",
    "3", "(3", "inf",
];
const LEX_BOUNDS: &[&str] = &["-", "+", "[a", "(a", "[c", "(c", "a", "[", "(", "[1", "(d"];
/// Blocking timeouts: short ones (empty keys answer nil after them) and malformed ones. Never 0:
/// a pop on an empty key would block for ever outside MULTI.
const TIMEOUTS: &[&str] = &["0.01", "0.01", "0.01", "-1", "abc", "1e400", "-0.5"];
/// Expire times relative to now. Only with NX/XX or no flag: GT/LT against a TTL set by the
/// same relative command a millisecond earlier would depend on timing.
const REL_SECS: &[&str] = &[
    "100",
    "1000",
    "0",
    "-1",
    "abc",
    "9223372036854775807",
    "1.5",
];
const ABS_SECS: &[&str] = &["4000000000", "4100000000", "1", "0", "-5"];
const ABS_MS: &[&str] = &["4000000000000", "4100000000000", "1", "9223372036854775807"];

impl Gen {
    pub(crate) fn string_cmd(&mut self) -> Cmd {
        let k = self.key(STRINGS);
        let v = self.p(VALUES);
        let ex = |g: &mut Gen| -> Vec<String> {
            match g.rng.below(9) {
                0 => vec!["EX".into(), g.p(REL_SECS)],
                1 => vec!["PX".into(), g.p(&["100000", "0", "-1", "abc"])],
                2 => vec!["EXAT".into(), g.p(ABS_SECS)],
                3 => vec!["PXAT".into(), g.p(ABS_MS)],
                4 => vec!["KEEPTTL".into()],
                5 => vec!["PERSIST".into()],
                6 => vec!["EX".into()],
                _ => vec![],
            }
        };
        let args = match self.rng.below(26) {
            0..=3 => {
                let mut a = vec!["SET".into(), k, v];
                for _ in 0..self.rng.below(3) {
                    match self.rng.below(5) {
                        0 => a.push("NX".into()),
                        1 => a.push("XX".into()),
                        2 => a.push("GET".into()),
                        _ => a.extend(ex(self)),
                    }
                }
                a
            }
            4..=5 => vec!["GET".into(), k],
            6 => {
                let mut a = vec!["GETEX".into(), k];
                a.extend(ex(self));
                a
            }
            7 => vec![self.p(&["GETDEL", "STRLEN"]), k],
            8 => vec![self.p(&["GETSET", "SETNX", "APPEND"]), k, v],
            9 => {
                // REL_SECS counts seconds: PSETEX gets them as thousands of milliseconds, so no
                // key expires in the middle of a run (100 ms would, at a different command on
                // each server).
                let name = self.p(&["SETEX", "PSETEX"]);
                let mut when = self.p(REL_SECS);
                if name == "PSETEX" && when.parse::<i64>().is_ok_and(|n| n > 0) {
                    when.push_str("000");
                }
                vec![name, k, when, v]
            }
            10..=12 => vec![self.p(&["INCR", "DECR"]), k],
            13..=14 => vec![self.p(&["INCRBY", "DECRBY"]), k, self.p(INCRS)],
            15..=16 => vec!["INCRBYFLOAT".into(), k, self.p(FLOATS)],
            17 => vec![
                "SETRANGE".into(),
                k,
                self.p(&["0", "1", "5", "-1", "abc", "12"]),
                v,
            ],
            18 => vec!["GETRANGE".into(), k, self.p(INTS), self.p(INTS)],
            19..=21 => {
                // Odd argument counts too: MSET must then change nothing.
                let name = self.p(&["MSET", "MSETNX"]);
                let mut a = vec![name];
                for _ in 0..1 + self.rng.below(6) {
                    a.push(self.key(STRINGS));
                    if a.len() % 2 == 0 || self.rng.chance(85) {
                        a.push(self.p(VALUES));
                    }
                }
                a
            }
            22..=23 => {
                let mut a = vec!["MGET".into()];
                a.extend(self.keys(STRINGS, 4));
                a
            }
            24 => vec!["SETNX".into(), k, v],
            _ => vec!["SET".into(), k, self.p(&["1", "10", "-5", "2.5", "abc"])],
        };
        (args, Tf::Exact)
    }

    pub(crate) fn bitmap_cmd(&mut self) -> Cmd {
        let k = self.key(STRINGS);
        let unit = |g: &mut Gen| -> Vec<String> {
            match g.rng.below(5) {
                0 => vec!["BYTE".into()],
                1 => vec!["BIT".into()],
                2 => vec!["bit".into()],
                3 => vec!["BOGUS".into()],
                _ => vec![],
            }
        };
        let args = match self.rng.below(8) {
            0..=1 => vec![
                "SETBIT".into(),
                k,
                self.p(&["0", "1", "7", "9", "100", "-1", "x", "4294967296"]),
                self.p(&["0", "1", "1", "2"]),
            ],
            2 => vec![
                "GETBIT".into(),
                k,
                self.p(&["0", "1", "7", "100", "-1", "x"]),
            ],
            3..=4 => {
                let mut a = vec!["BITCOUNT".into(), k];
                match self.rng.below(4) {
                    0 => {}
                    1 => a.push(self.p(SMALL_INTS)),
                    _ => {
                        a.push(self.p(INTS));
                        a.push(self.p(INTS));
                        a.extend(unit(self));
                    }
                }
                a
            }
            5..=6 => {
                let mut a = vec!["BITPOS".into(), k, self.p(&["0", "1", "2", "-1"])];
                for _ in 0..self.rng.below(3) {
                    a.push(self.p(INTS));
                }
                if a.len() == 5 {
                    a.extend(unit(self));
                }
                a
            }
            _ => {
                let op = self.p(&["AND", "OR", "XOR", "NOT", "not", "BOGUS"]);
                let mut a = vec!["BITOP".into(), op, self.key(STRINGS)];
                a.extend(self.keys(STRINGS, 3));
                a
            }
        };
        (args, Tf::Exact)
    }

    pub(crate) fn key_cmd(&mut self) -> Cmd {
        let k = self.rng.pick(ALL_KEYS).to_string();
        let k2 = if self.rng.chance(20) {
            k.clone()
        } else {
            self.rng.pick(ALL_KEYS).to_string()
        };
        let rel_flag = |g: &mut Gen| -> Vec<String> {
            match g.rng.below(4) {
                0 => vec!["NX".into()],
                1 => vec!["XX".into()],
                _ => vec![],
            }
        };
        let any_flag = |g: &mut Gen| -> Vec<String> {
            match g.rng.below(7) {
                0 => vec!["NX".into()],
                1 => vec!["XX".into()],
                2 => vec!["GT".into()],
                3 => vec!["LT".into()],
                4 => vec!["NX".into(), "GT".into()],
                5 => vec!["BOGUS".into()],
                _ => vec![],
            }
        };
        let (args, tf) = match self.rng.below(22) {
            0..=1 => {
                let mut a = vec![self.p(&["DEL", "UNLINK"])];
                a.extend(self.keys(ALL_KEYS, 3));
                (a, Tf::Exact)
            }
            2..=3 => {
                let mut a = vec![self.p(&["EXISTS", "TOUCH"])];
                a.extend(self.keys(ALL_KEYS, 3));
                (a, Tf::Exact)
            }
            4 => (vec!["TYPE".into(), k], Tf::Exact),
            5..=6 => (vec![self.p(&["RENAME", "RENAMENX"]), k, k2], Tf::Exact),
            7 => {
                let mut a = vec!["COPY".into(), k, k2];
                if self.rng.chance(50) {
                    a.push("REPLACE".into());
                }
                (a, Tf::Exact)
            }
            8..=9 => {
                let mut a = vec![self.p(&["EXPIRE", "expire"]), k, self.p(REL_SECS)];
                a.extend(rel_flag(self));
                (a, Tf::Exact)
            }
            10 => {
                let ms = self.p(&["100000", "1000000", "0", "-1", "abc", "9223372036854775807"]);
                let mut a = vec!["PEXPIRE".into(), k, ms];
                a.extend(rel_flag(self));
                (a, Tf::Exact)
            }
            11 => {
                // A past or zero relative time deletes the key: GT/LT are deterministic here.
                let t = self.p(&["0", "-1", "-100"]);
                let mut a = vec!["EXPIRE".into(), k, t];
                a.extend(any_flag(self));
                (a, Tf::Exact)
            }
            12..=13 => {
                let mut a = vec!["EXPIREAT".into(), k, self.p(ABS_SECS)];
                a.extend(any_flag(self));
                (a, Tf::Exact)
            }
            14 => {
                let mut a = vec!["PEXPIREAT".into(), k, self.p(ABS_MS)];
                a.extend(any_flag(self));
                (a, Tf::Exact)
            }
            15 => (vec!["PERSIST".into(), k], Tf::Exact),
            16..=17 => (vec!["TTL".into(), k], Tf::Ttl(2)),
            18 => (vec!["PTTL".into(), k], Tf::Ttl(2000)),
            19 => (vec![self.p(&["EXPIRETIME", "PEXPIRETIME"]), k], Tf::Ttl(0)),
            // Not DBSIZE: it counts keys that expired but were not reclaimed yet, which depends
            // on when each server happened to look; KEYS skips them on both.
            20 => (vec!["KEYS".into(), "*".into()], Tf::Sorted),
            _ => (
                vec!["KEYS".into(), self.p(&["*", "s*", "{t}*", "?1", "*[0-9]"])],
                Tf::Sorted,
            ),
        };
        // EXPIRETIME and PEXPIRETIME differ in unit: fix the tolerance to the name drawn.
        let tf = match (args[0].as_str(), tf) {
            ("EXPIRETIME", Tf::Ttl(_)) => Tf::Ttl(2),
            ("PEXPIRETIME", Tf::Ttl(_)) => Tf::Ttl(2000),
            _ => tf,
        };
        (args, tf)
    }

    pub(crate) fn list_cmd(&mut self) -> Cmd {
        let k = self.key(LISTS);
        // Moves onto the source list itself are a case of their own (rotation, TTL kept).
        let dst = if self.rng.chance(30) {
            k.clone()
        } else {
            self.key(LISTS)
        };
        let side = |g: &mut Gen| g.p(&["LEFT", "RIGHT", "left", "UP"]);
        let args = match self.rng.below(30) {
            0..=4 => {
                let mut a = vec![
                    self.p(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]),
                    k,
                ];
                for _ in 0..1 + self.rng.below(3) {
                    a.push(self.p(MEMBERS));
                }
                a
            }
            5..=6 => {
                let mut a = vec![self.p(&["LPOP", "RPOP"]), k];
                if self.rng.chance(40) {
                    a.push(self.p(INTS));
                }
                a
            }
            7 => vec![self.p(&["LLEN", "LLEN"]), k],
            8 => vec!["LINDEX".into(), k, self.p(INTS)],
            9 => vec!["LSET".into(), k, self.p(INTS), self.p(MEMBERS)],
            10 => vec![
                "LINSERT".into(),
                k,
                self.p(&["BEFORE", "AFTER", "after", "MIDDLE"]),
                self.p(MEMBERS),
                self.p(MEMBERS),
            ],
            11..=12 => vec!["LRANGE".into(), k, self.p(INTS), self.p(INTS)],
            13 => vec!["LTRIM".into(), k, self.p(SMALL_INTS), self.p(SMALL_INTS)],
            14 => vec!["LREM".into(), k, self.p(SMALL_INTS), self.p(MEMBERS)],
            15..=16 => {
                let mut a = vec!["LPOS".into(), k, self.p(MEMBERS)];
                for _ in 0..self.rng.below(3) {
                    let opt = self.p(&["RANK", "COUNT", "MAXLEN", "BOGUS"]);
                    a.push(opt);
                    a.push(self.p(INTS));
                }
                a
            }
            17..=18 => vec!["LMOVE".into(), k, dst, side(self), side(self)],
            19 => vec!["RPOPLPUSH".into(), k, dst],
            20..=21 => {
                let keys = self.keys(LISTS, 3);
                let mut a = vec!["LMPOP".into(), self.numkeys(keys.len())];
                a.extend(keys);
                a.push(side(self));
                if self.rng.chance(50) {
                    a.push(self.p(&["COUNT", "COUNT", "BOGUS"]));
                    a.push(self.p(INTS));
                }
                a
            }
            22..=23 => {
                let mut a = vec![self.p(&["BLPOP", "BRPOP"])];
                a.extend(self.keys(LISTS, 2));
                a.push(self.p(TIMEOUTS));
                a
            }
            24 => vec![
                "BLMOVE".into(),
                k,
                dst,
                side(self),
                side(self),
                self.p(TIMEOUTS),
            ],
            25 => vec!["BRPOPLPUSH".into(), k, dst, self.p(TIMEOUTS)],
            26..=27 => {
                let keys = self.keys(LISTS, 2);
                let mut a = vec!["BLMPOP".into(), self.p(TIMEOUTS), self.numkeys(keys.len())];
                a.extend(keys);
                a.push(side(self));
                if self.rng.chance(40) {
                    a.push("COUNT".into());
                    a.push(self.p(SMALL_INTS));
                }
                a
            }
            _ => vec![
                "RPUSH".into(),
                k,
                self.p(MEMBERS),
                self.p(MEMBERS),
                self.p(MEMBERS),
            ],
        };
        (args, Tf::Exact)
    }

    pub(crate) fn hash_cmd(&mut self) -> Cmd {
        let k = self.key(HASHES);
        let f = self.p(MEMBERS);
        match self.rng.below(20) {
            0..=3 => {
                let mut a = vec![self.p(&["HSET", "HMSET"]), k];
                for _ in 0..1 + self.rng.below(3) {
                    a.push(self.p(MEMBERS));
                    if self.rng.chance(90) {
                        a.push(self.p(VALUES));
                    }
                }
                (a, Tf::Exact)
            }
            4 => (vec!["HSETNX".into(), k, f, self.p(VALUES)], Tf::Exact),
            5 => (
                vec![self.p(&["HGET", "HEXISTS", "HSTRLEN"]), k, f],
                Tf::Exact,
            ),
            6 => (vec!["HMGET".into(), k, f, self.p(MEMBERS)], Tf::Exact),
            7..=8 => (vec!["HDEL".into(), k, f, self.p(MEMBERS)], Tf::Exact),
            9 => (vec!["HLEN".into(), k], Tf::Exact),
            10..=11 => (vec!["HINCRBY".into(), k, f, self.p(INCRS)], Tf::Exact),
            12 => (vec!["HINCRBYFLOAT".into(), k, f, self.p(FLOATS)], Tf::Exact),
            13 => (vec![self.p(&["HKEYS", "HVALS"]), k], Tf::Sorted),
            14..=15 => (vec!["HGETALL".into(), k], Tf::SortedPairs),
            16 => (vec!["HRANDFIELD".into(), k, "100".into()], Tf::Sorted),
            17 => (
                vec!["HRANDFIELD".into(), k, "100".into(), "WITHVALUES".into()],
                Tf::SortedPairs,
            ),
            18 => (
                vec!["HRANDFIELD".into(), k, self.p(&["-3", "2", "0"])],
                Tf::Shape,
            ),
            _ => (vec!["HRANDFIELD".into(), k], Tf::Shape),
        }
    }

    pub(crate) fn set_cmd(&mut self) -> Cmd {
        let k = self.key(SETS);
        let m = self.p(MEMBERS);
        let algebra = |g: &mut Gen, store: bool| -> Vec<String> {
            let base = g.p(&["SUNION", "SINTER", "SDIFF"]);
            let mut a = vec![if store { format!("{base}STORE") } else { base }];
            if store {
                a.push(g.key(SETS));
            }
            a.extend(g.keys(SETS, 3));
            a
        };
        match self.rng.below(22) {
            0..=4 => {
                let mut a = vec!["SADD".into(), k];
                for _ in 0..1 + self.rng.below(3) {
                    a.push(self.p(MEMBERS));
                }
                (a, Tf::Exact)
            }
            5..=6 => (vec!["SREM".into(), k, m, self.p(MEMBERS)], Tf::Exact),
            7 => (vec!["SISMEMBER".into(), k, m], Tf::Exact),
            8 => (vec!["SMISMEMBER".into(), k, m, self.p(MEMBERS)], Tf::Exact),
            9 => (vec!["SCARD".into(), k], Tf::Exact),
            10..=11 => (vec!["SMEMBERS".into(), k], Tf::Sorted),
            // SPOP with a count at least the set's size is determined: it takes every member.
            12 => (vec!["SPOP".into(), k, "100".into()], Tf::Sorted),
            13 => (vec!["SRANDMEMBER".into(), k, "100".into()], Tf::Sorted),
            14 => (
                vec!["SRANDMEMBER".into(), k, self.p(&["-3", "2"])],
                Tf::Shape,
            ),
            15 => (vec!["SMOVE".into(), k, self.key(SETS), m], Tf::Exact),
            16..=17 => (algebra(self, false), Tf::Sorted),
            18..=19 => (algebra(self, true), Tf::Exact),
            _ => {
                let keys = self.keys(SETS, 3);
                let mut a = vec!["SINTERCARD".into(), self.numkeys(keys.len())];
                a.extend(keys);
                if self.rng.chance(40) {
                    a.push("LIMIT".into());
                    a.push(self.p(SMALL_INTS));
                }
                (a, Tf::Exact)
            }
        }
    }

    pub(crate) fn zset_cmd(&mut self) -> Cmd {
        let k = self.key(ZSETS);
        // Lex ranges only on sorted sets whose scores are all equal: Redis leaves their result
        // unspecified otherwise.
        let lk = self.p(LEX_ZSETS);
        let m = self.p(MEMBERS);
        let ws = |g: &mut Gen, a: &mut Vec<String>| {
            if g.rng.chance(50) {
                a.push("WITHSCORES".into());
            }
        };
        let minmax = |g: &mut Gen| g.p(&["MIN", "MAX", "min", "BOGUS"]);
        let combine = |g: &mut Gen, name: &str, store: bool| -> Vec<String> {
            let keys = g.keys(ZSETS, 3);
            let mut a = vec![name.to_string()];
            if store {
                a.push(g.key(ZSETS));
            }
            a.push(g.numkeys(keys.len()));
            // ZUNIONSTORE and friends accept sets as inputs too.
            a.extend(
                keys.into_iter()
                    .map(|k| if g.rng.chance(10) { g.p(SETS) } else { k }),
            );
            if !name.starts_with("ZDIFF") {
                if g.rng.chance(30) {
                    a.push("WEIGHTS".into());
                    for _ in 0..1 + g.rng.below(3) {
                        a.push(g.p(&["2", "0.5", "-1", "0", "inf", "abc"]));
                    }
                }
                if g.rng.chance(30) {
                    a.push("AGGREGATE".into());
                    a.push(g.p(&["SUM", "MIN", "MAX", "max", "AVG"]));
                }
            }
            if !store && g.rng.chance(50) {
                a.push("WITHSCORES".into());
            }
            a
        };
        match self.rng.below(47) {
            0..=6 => {
                let mut a = vec!["ZADD".into(), k];
                for _ in 0..self.rng.below(4) {
                    a.push(self.p(&["NX", "XX", "GT", "LT", "CH", "INCR", "CH"]));
                }
                for _ in 0..1 + self.rng.below(2) {
                    a.push(self.p(SCORES));
                    a.push(self.p(MEMBERS));
                }
                (a, Tf::Scores)
            }
            7..=8 => (vec!["ZINCRBY".into(), k, self.p(SCORES), m], Tf::Scores),
            9 => (vec!["ZSCORE".into(), k, m], Tf::Scores),
            10 => (vec!["ZMSCORE".into(), k, m, self.p(MEMBERS)], Tf::Scores),
            11 => (vec!["ZCARD".into(), k], Tf::Exact),
            12 => (
                vec![
                    "ZCOUNT".into(),
                    k,
                    self.p(SCORE_BOUNDS),
                    self.p(SCORE_BOUNDS),
                ],
                Tf::Exact,
            ),
            13 => (
                vec![
                    "ZLEXCOUNT".into(),
                    lk,
                    self.p(LEX_BOUNDS),
                    self.p(LEX_BOUNDS),
                ],
                Tf::Exact,
            ),
            // No WITHSCORE: see "ZRANK WITHSCORE" in the test's V72 list.
            14 => (vec![self.p(&["ZRANK", "ZREVRANK"]), k, m], Tf::Exact),
            15..=16 => (vec!["ZREM".into(), k, m, self.p(MEMBERS)], Tf::Exact),
            17..=21 => {
                let by = self.rng.below(3);
                let mut a = vec!["ZRANGE".into(), if by == 2 { lk } else { k }];
                match by {
                    0 => {
                        a.push(self.p(INTS));
                        a.push(self.p(INTS));
                    }
                    1 => {
                        a.push(self.p(SCORE_BOUNDS));
                        a.push(self.p(SCORE_BOUNDS));
                        a.push("BYSCORE".into());
                    }
                    _ => {
                        a.push(self.p(LEX_BOUNDS));
                        a.push(self.p(LEX_BOUNDS));
                        a.push("BYLEX".into());
                    }
                }
                if self.rng.chance(40) {
                    a.push("REV".into());
                }
                if self.rng.chance(35) {
                    a.push("LIMIT".into());
                    a.push(self.p(SMALL_INTS));
                    a.push(self.p(SMALL_INTS));
                }
                ws(self, &mut a);
                (a, Tf::Scores)
            }
            22..=23 => {
                let name = self.p(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
                let mut a = vec![name, k, self.p(SCORE_BOUNDS), self.p(SCORE_BOUNDS)];
                ws(self, &mut a);
                if self.rng.chance(30) {
                    a.push("LIMIT".into());
                    a.push(self.p(SMALL_INTS));
                    a.push(self.p(SMALL_INTS));
                }
                (a, Tf::Scores)
            }
            24 => {
                let name = self.p(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
                (
                    vec![name, lk, self.p(LEX_BOUNDS), self.p(LEX_BOUNDS)],
                    Tf::Exact,
                )
            }
            25 => (
                vec![
                    "ZREMRANGEBYRANK".into(),
                    k,
                    self.p(SMALL_INTS),
                    self.p(SMALL_INTS),
                ],
                Tf::Exact,
            ),
            26 => (
                vec![
                    "ZREMRANGEBYSCORE".into(),
                    k,
                    self.p(SCORE_BOUNDS),
                    self.p(SCORE_BOUNDS),
                ],
                Tf::Exact,
            ),
            27 => (
                vec![
                    "ZREMRANGEBYLEX".into(),
                    lk,
                    self.p(LEX_BOUNDS),
                    self.p(LEX_BOUNDS),
                ],
                Tf::Exact,
            ),
            28..=29 => {
                let mut a = vec![self.p(&["ZPOPMIN", "ZPOPMAX"]), k];
                if self.rng.chance(50) {
                    a.push(self.p(INTS));
                }
                (a, Tf::Scores)
            }
            30..=31 => {
                let keys = self.keys(ZSETS, 3);
                let mut a = vec!["ZMPOP".into(), self.numkeys(keys.len())];
                a.extend(keys);
                a.push(minmax(self));
                if self.rng.chance(50) {
                    a.push("COUNT".into());
                    a.push(self.p(INTS));
                }
                (a, Tf::Scores)
            }
            32 => {
                let mut a = vec![self.p(&["BZPOPMIN", "BZPOPMAX"])];
                a.extend(self.keys(ZSETS, 2));
                a.push(self.p(TIMEOUTS));
                (a, Tf::Scores)
            }
            33 => {
                let keys = self.keys(ZSETS, 2);
                let mut a = vec!["BZMPOP".into(), self.p(TIMEOUTS), self.numkeys(keys.len())];
                a.extend(keys);
                a.push(minmax(self));
                if self.rng.chance(40) {
                    a.push("COUNT".into());
                    a.push(self.p(SMALL_INTS));
                }
                (a, Tf::Scores)
            }
            34..=35 => {
                let name = self.p(&["ZUNION", "ZINTER", "ZDIFF"]);
                (combine(self, &name, false), Tf::Scores)
            }
            36..=37 => {
                let name = self.p(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
                (combine(self, &name, true), Tf::Exact)
            }
            38 => {
                let mut a = vec!["ZRANGESTORE".into(), self.key(ZSETS), k];
                if self.rng.chance(50) {
                    a.extend([self.p(INTS), self.p(INTS)]);
                } else {
                    a.extend([self.p(SCORE_BOUNDS), self.p(SCORE_BOUNDS), "BYSCORE".into()]);
                }
                if self.rng.chance(30) {
                    a.extend(["LIMIT".into(), self.p(SMALL_INTS), self.p(SMALL_INTS)]);
                }
                (a, Tf::Exact)
            }
            39 => {
                let keys = self.keys(ZSETS, 3);
                let mut a = vec!["ZINTERCARD".into(), self.numkeys(keys.len())];
                a.extend(keys);
                if self.rng.chance(40) {
                    a.extend(["LIMIT".into(), self.p(SMALL_INTS)]);
                }
                (a, Tf::Exact)
            }
            // ZRANDMEMBER with a count at least the size returns every member.
            40 => (vec!["ZRANDMEMBER".into(), k, "100".into()], Tf::Sorted),
            41 => (
                vec!["ZRANDMEMBER".into(), k, "100".into(), "WITHSCORES".into()],
                Tf::SortedScorePairs,
            ),
            42..=44 => {
                let mut a = vec!["ZADD".into(), lk];
                for _ in 0..1 + self.rng.below(3) {
                    a.push("0".into());
                    a.push(self.p(MEMBERS));
                }
                (a, Tf::Exact)
            }
            _ => {
                let mut a = vec!["ZADD".into(), k];
                for _ in 0..1 + self.rng.below(3) {
                    a.push(self.p(&["1", "2", "3", "2.5", "-1", "0"]));
                    a.push(self.p(MEMBERS));
                }
                (a, Tf::Scores)
            }
        }
    }

    /// `w_<m>` strings and `wh_<m>` hashes that SORT BY/GET patterns read.
    pub(crate) fn weight_cmd(&mut self) -> Cmd {
        let m = self.p(WEIGHT_MEMBERS);
        let w = self.p(&["1", "2", "3", "10", "-1", "2.5", "abc", "", "1e400", "inf"]);
        if self.rng.chance(50) {
            (vec!["SET".into(), format!("w_{m}"), w], Tf::Exact)
        } else {
            (
                vec!["HSET".into(), format!("wh_{m}"), "f".into(), w],
                Tf::Exact,
            )
        }
    }

    pub(crate) fn sort_cmd(&mut self) -> Cmd {
        let family = if self.rng.chance(70) {
            LISTS
        } else {
            &[SETS, ZSETS].concat()[..]
        };
        let k = self.key(family);
        let name = self.p(&["SORT", "SORT", "SORT_RO"]);
        let mut a = vec![name.clone(), k];
        let by = match self.rng.below(5) {
            0..=1 => Some(self.p(&["w_*", "wh_*->f", "nosort", "nokey_*"])),
            _ => None,
        };
        let nosort = by.as_deref() == Some("nosort");
        let alpha = self.rng.chance(40);
        if let Some(by) = &by {
            a.extend(["BY".into(), by.clone()]);
        }
        let limit = !nosort && self.rng.chance(30);
        if limit {
            a.extend(["LIMIT".into(), self.p(SMALL_INTS), self.p(SMALL_INTS)]);
        }
        for _ in 0..self.rng.below(3) {
            a.extend(["GET".into(), self.p(&["#", "w_*", "wh_*->f"])]);
        }
        if self.rng.chance(30) {
            a.push(self.p(&["ASC", "DESC"]));
        }
        if alpha {
            a.push("ALPHA".into());
        }
        // Not stored when the order is unspecified (ALPHA with BY, see below): the stored list
        // would differ and everything after with it.
        let store = name == "SORT" && !(alpha && by.is_some()) && self.rng.chance(25);
        if store {
            a.extend(["STORE".into(), self.key(LISTS)]);
        }
        let tf = sort_tf(&a);
        (a, tf)
    }

    pub(crate) fn stream_cmd(&mut self) -> Cmd {
        let k = self.key(STREAMS);
        let id = |g: &mut Gen| {
            g.p(&[
                "1-1",
                "1-2",
                "2-0",
                "5-*",
                "3",
                "0-0",
                "0-1",
                "9-9",
                "abc",
                "18446744073709551615-1",
            ])
        };
        let bound = |g: &mut Gen| g.p(&["-", "+", "1", "2-0", "(1-1", "5", "abc"]);
        let args = match self.rng.below(10) {
            0..=3 => {
                let mut a = vec!["XADD".into(), k];
                if self.rng.chance(20) {
                    a.push("NOMKSTREAM".into());
                }
                a.push(id(self));
                a.extend([self.p(MEMBERS), self.p(VALUES)]);
                a
            }
            4 => vec!["XLEN".into(), k],
            5..=6 => {
                let mut a = vec![
                    self.p(&["XRANGE", "XREVRANGE"]),
                    k,
                    bound(self),
                    bound(self),
                ];
                if self.rng.chance(30) {
                    a.extend(["COUNT".into(), self.p(SMALL_INTS)]);
                }
                a
            }
            7 => vec!["XDEL".into(), k, id(self)],
            _ => vec![
                "XTRIM".into(),
                k,
                self.p(&["MAXLEN", "MINID", "BOGUS"]),
                self.p(&["0", "1", "2", "-1", "2-0", "abc"]),
            ],
        };
        (args, Tf::Exact)
    }
}

/// How a SORT's reply compares, from its final arguments (the generator may cut them short).
/// Unspecified orders: BY nosort on a set (without STORE) follows the set's own order, and ALPHA
/// with BY leaves elements with equal or missing weights in any order (Redis breaks numeric ties
/// by the element, alphabetic ones not at all).
pub(crate) fn sort_tf(args: &[String]) -> Tf {
    let word = |w: &str| args.iter().position(|a| a.eq_ignore_ascii_case(w));
    let by = word("BY").and_then(|i| args.get(i + 1));
    let nosort = by.is_some_and(|b| !b.contains('*'));
    let store = word("STORE").is_some_and(|i| i + 1 < args.len());
    let (limit, alpha) = (word("LIMIT").is_some(), word("ALPHA").is_some());
    if store {
        Tf::Exact
    } else if (nosort || (alpha && by.is_some())) && !limit {
        Tf::Sorted
    } else if alpha && by.is_some() {
        Tf::Shape
    } else {
        Tf::Exact
    }
}
