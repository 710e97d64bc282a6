//! Differential test for sorted sets and SORT: the same scripts go to redis-server and to ringkv
//! (2 threads: "foo"/"bar" and untagged keys land on both shards); every reply must be
//! byte-identical. Scores are chosen so that Redis 7.0's `%.17g` and 7.2's shortest form print
//! the same text (integers, halves, quarters, inf), since the oracle is redis-server 7.0.
//! ZRANK WITHSCORE is 7.2-only and is tested in tests/zset.rs instead.

mod common;

use common::assert_scripts_match_redis;

const SCRIPTS: &[&[&str]] = &[
    // ZADD flags and errors
    &[
        "ZADD z 1 a 2 b 3 c", "ZADD z 1 a", "ZADD z CH 5 a 2 b", "ZADD z NX 10 a 4 d", "ZADD z XX 11 a 5 e",
        "ZRANGE z 0 -1 WITHSCORES", "ZADD z XX NX 1 a", "ZADD z GT LT 1 a", "ZADD z GT NX 1 a", "ZADD z LT NX 1 a",
        "ZADD z INCR 1 a 2 b", "ZADD z INCR 1.5 a", "ZADD z INCR GT -1 a", "ZADD z INCR LT -1 a", "ZADD z INCR NX 1 a",
        "ZADD z INCR XX 1 nosuch", "ZADD z 1", "ZADD z 1 a 2", "ZADD z abc a", "ZADD z nan a", "ZADD z \"\" a",
        "ZADD z GT CH 100 a 0 b 7 new", "ZADD z LT CH 100 a 0 b 8 new2", "ZRANGE z 0 -1 WITHSCORES",
        "ZADD nx XX 1 a", "EXISTS nx", "ZADD nx XX INCR 1 a", "ZADD z inf i -inf j +inf k", "ZRANGE z 0 -1 WITHSCORES",
        "ZADD z INCR -inf i", "ZINCRBY z -inf i", "ZINCRBY z 2.5 b", "ZINCRBY z abc b", "ZINCRBY newz 3 m", "ZINCRBY z 1",
        "SET str x", "ZADD str 1 a", "ZINCRBY str 1 a", "ZADD z 0.25 q", "ZSCORE z q", "ZADD z -0.5 neg", "ZSCORE z neg",
        "ZADD z 1e3 e3", "ZSCORE z e3", "ZADD z 1 a CH", "ZADD z ch xx gt 12 a",
    ],
    // basic reads
    &[
        "ZADD z 1 a 2 b 3 c 4 d 5 e", "ZCARD z", "ZCARD nokey", "ZSCORE z c", "ZSCORE z nosuch", "ZSCORE nokey a",
        "ZMSCORE z a nosuch e", "ZMSCORE nokey a b", "ZMSCORE z", "ZRANK z a", "ZRANK z e", "ZRANK z nosuch",
        "ZREVRANK z a", "ZREVRANK nokey a", "ZRANK z a withscore extra", "ZREM z a nosuch b", "ZREM z",
        "ZREM nokey a", "ZREM z c d e", "EXISTS z", "SET s v", "ZCARD s", "ZSCORE s a", "ZMSCORE s a", "ZRANK s a", "ZREM s a",
    ],
    // ranges by rank
    &[
        "ZADD z 1 a 2 b 3 c 4 d 5 e", "ZRANGE z 0 -1", "ZRANGE z 1 2 WITHSCORES", "ZRANGE z -2 -1", "ZRANGE z -100 100",
        "ZRANGE z 3 1", "ZRANGE z 5 10", "ZRANGE z 0 -1 REV", "ZRANGE z 0 1 REV WITHSCORES", "ZREVRANGE z 0 1",
        "ZREVRANGE z 0 -1 WITHSCORES", "ZRANGE z 0 -1 LIMIT 0 1", "ZRANGE z a b", "ZRANGE z 0 1 BOGUS", "ZRANGE nokey 0 -1",
        "ZRANGE z 0 9223372036854775807", "ZRANGE z -9223372036854775808 -1", "ZREVRANGE z 0 0 REV", "ZRANGE s 0 1",
        "SET s x", "ZRANGE s 0 1", "ZRANGE z 0 -1 withscores withscores", "ZRANGE z 0 -1 REV REV",
    ],
    // ranges by score
    &[
        "ZADD z 1 a 2 b 3 c 4 d 5 e 5 f", "ZRANGEBYSCORE z -inf +inf", "ZRANGEBYSCORE z 2 4 WITHSCORES", "ZRANGEBYSCORE z (2 (4",
        "ZRANGEBYSCORE z (1 5 LIMIT 1 2", "ZRANGEBYSCORE z -inf inf LIMIT -1 2", "ZRANGEBYSCORE z -inf inf LIMIT 2 -1",
        "ZRANGEBYSCORE z -inf inf LIMIT 10 1", "ZRANGEBYSCORE z -inf inf LIMIT 0 0", "ZRANGEBYSCORE z 4 2", "ZRANGEBYSCORE z (3 3",
        "ZRANGEBYSCORE z a b", "ZRANGEBYSCORE z 1 (x", "ZRANGEBYSCORE z 1 2 LIMIT", "ZRANGEBYSCORE z 1 2 LIMIT a 1",
        "ZRANGEBYSCORE z 1 2 REV", "ZRANGEBYSCORE z 1 2 BYSCORE", "ZREVRANGEBYSCORE z +inf -inf", "ZREVRANGEBYSCORE z 4 2 WITHSCORES",
        "ZREVRANGEBYSCORE z (5 (1 LIMIT 1 1", "ZREVRANGEBYSCORE z 5 5 LIMIT 0 1", "ZRANGE z 2 4 BYSCORE", "ZRANGE z 4 2 BYSCORE REV",
        "ZRANGE z (1 +inf BYSCORE LIMIT 1 3 WITHSCORES", "ZRANGE z +inf -inf BYSCORE REV LIMIT 0 2", "ZCOUNT z -inf +inf",
        "ZCOUNT z (1 (5", "ZCOUNT z 5 1", "ZCOUNT z a 1", "ZCOUNT nokey 0 1", "ZRANGEBYSCORE nokey 0 1", "ZRANGEBYSCORE z 5 5",
        "ZRANGEBYSCORE z 1 2 WITHSCORES LIMIT 0 1 WITHSCORES",
    ],
    // ranges by lex
    &[
        "ZADD z 0 a 0 b 0 c 0 d 0 e 0 foo 0 zap", "ZRANGEBYLEX z - +", "ZRANGEBYLEX z [b [d", "ZRANGEBYLEX z (b (d",
        "ZRANGEBYLEX z (b +", "ZRANGEBYLEX z - (c", "ZRANGEBYLEX z + -", "ZRANGEBYLEX z [f [fz", "ZRANGEBYLEX z - + LIMIT 2 2",
        "ZRANGEBYLEX z b d", "ZRANGEBYLEX z [a", "ZRANGEBYLEX z - + WITHSCORES", "ZREVRANGEBYLEX z + -", "ZREVRANGEBYLEX z [d [b",
        "ZREVRANGEBYLEX z + - LIMIT 1 2", "ZRANGE z [b [d BYLEX", "ZRANGE z [d [b BYLEX REV", "ZRANGE z - + BYLEX WITHSCORES",
        "ZRANGE z - + BYLEX LIMIT 1 1", "ZLEXCOUNT z - +", "ZLEXCOUNT z [b (e", "ZLEXCOUNT z ++ -", "ZLEXCOUNT nokey - +",
        "ZRANGEBYLEX z -- +", "ZRANGEBYLEX z [ (", "ZRANGEBYLEX z \"\" +",
    ],
    // removals by range
    &[
        "ZADD z 1 a 2 b 3 c 4 d 5 e", "ZREMRANGEBYRANK z 0 0", "ZREMRANGEBYRANK z -1 -1", "ZRANGE z 0 -1",
        "ZREMRANGEBYRANK z 5 10", "ZREMRANGEBYRANK z a 1", "ZREMRANGEBYSCORE z (2 3", "ZRANGE z 0 -1",
        "ZREMRANGEBYSCORE z a b", "ZREMRANGEBYSCORE z -inf +inf", "EXISTS z", "ZADD l 0 a 0 b 0 c 0 d",
        "ZREMRANGEBYLEX l [b (d", "ZRANGE l 0 -1", "ZREMRANGEBYLEX l x y", "ZREMRANGEBYLEX l - +", "EXISTS l",
        "ZREMRANGEBYRANK nokey 0 -1", "SET s x", "ZREMRANGEBYRANK s 0 1", "ZREMRANGEBYSCORE s 0 1", "ZREMRANGEBYLEX s - +",
    ],
    // ZRANGESTORE, within and across shards
    &[
        "ZADD {t}src 1 a 2 b 3 c 4 d", "ZRANGESTORE {t}dst {t}src 0 1", "ZRANGE {t}dst 0 -1 WITHSCORES",
        "ZRANGESTORE {t}dst {t}src 2 3 BYSCORE LIMIT 1 1", "ZRANGE {t}dst 0 -1 WITHSCORES", "ZRANGESTORE {t}dst {t}src [a [b BYLEX",
        "ZRANGESTORE {t}dst {t}src 5 10", "EXISTS {t}dst", "ZRANGESTORE {t}dst nosrc 0 -1", "ZRANGESTORE {t}dst {t}src 0 -1 WITHSCORES",
        "ZRANGESTORE {t}dst {t}src 0 -1 LIMIT 0 1", "ZADD foo 1 x 2 y 3 z", "ZRANGESTORE bar foo 0 -1 REV", "ZRANGE bar 0 -1 WITHSCORES",
        "ZRANGESTORE bar foo +inf (1 BYSCORE REV", "ZRANGE bar 0 -1 WITHSCORES", "SET s x", "ZRANGESTORE bar s 0 1",
        "ZRANGESTORE bar foo 1 0", "EXISTS bar",
    ],
    // pops
    &[
        "ZADD z 1 a 2 b 3 c 4 d 5 e", "ZPOPMIN z", "ZPOPMAX z", "ZPOPMIN z 2", "ZPOPMAX z 0", "ZPOPMIN z -1", "ZPOPMIN z abc",
        "ZPOPMIN z 1 2", "ZPOPMAX z 10", "EXISTS z", "ZPOPMIN nokey", "ZPOPMIN nokey 3", "SET s x", "ZPOPMIN s", "ZPOPMAX s 0",
        "ZADD foo 1 a 2 b", "ZADD bar 3 c 4 d", "ZMPOP 2 nokey foo MIN", "ZMPOP 2 nokey bar MAX COUNT 5", "ZMPOP 2 nokey bar MAX",
        "ZMPOP 1 foo MIN COUNT 0", "ZMPOP 1 foo MIN COUNT -1", "ZMPOP 0 foo MIN", "ZMPOP 2 foo MIN", "ZMPOP 1 foo BOGUS",
        "ZMPOP 1 foo MIN COUNT 1 COUNT 2", "ZMPOP abc foo MIN", "ZMPOP 1 foo MIN COUNT", "ZMPOP 2 s foo MIN", "ZMPOP 1 nokey MIN",
        "ZMPOP 1 foo max count 3", "EXISTS foo", "BZPOPMIN foo -1", "BZPOPMIN foo abc", "BZMPOP -1 1 foo MIN", "BZMPOP 0 0 foo MIN",
        "ZADD foo 7 x", "BZPOPMIN nokey foo 0", "ZADD bar 9 y", "BZPOPMAX bar 0", "BZMPOP 0.1 2 nokey bar MIN COUNT 10",
        "BZPOPMIN s 0", "BZMPOP 0 1 s MIN", "BZPOPMIN nokey 0.01", "BZMPOP 0.01 1 nokey MAX",
    ],
    // algebra
    &[
        "ZADD za 1 a 2 b 3 c", "ZADD zb 1 b 2 c 3 d", "ZADD {t}a 1 a 2 b", "ZADD {t}b 5 b 6 c",
        "ZUNION 2 za zb", "ZUNION 2 za zb WITHSCORES", "ZUNION 2 za zb WEIGHTS 2 3 WITHSCORES", "ZUNION 2 za zb AGGREGATE MIN WITHSCORES",
        "ZUNION 2 za zb AGGREGATE MAX WITHSCORES", "ZINTER 2 za zb WITHSCORES", "ZINTER 2 za zb WEIGHTS 1 -1 AGGREGATE SUM WITHSCORES",
        "ZDIFF 2 za zb WITHSCORES", "ZDIFF 1 za", "ZDIFF 2 za za", "ZINTERCARD 2 za zb", "ZINTERCARD 2 za zb LIMIT 1",
        "ZINTERCARD 2 za zb LIMIT 0", "ZINTERCARD 2 za zb LIMIT -1", "ZINTERCARD 0 za", "ZINTERCARD 3 za zb",
        "ZUNION 0 za", "ZUNION -1 za", "ZUNION 3 za zb", "ZUNION 2 za zb WEIGHTS 1", "ZUNION 2 za zb WEIGHTS 1 x",
        "ZUNION 2 za zb AGGREGATE foo", "ZUNION 2 za zb AGGREGATE", "ZDIFF 2 za zb WEIGHTS 1 1", "ZINTERCARD 2 za zb WITHSCORES",
        "ZUNION 2 za nokey WITHSCORES", "ZINTER 2 za nokey", "ZINTERCARD 2 za nokey", "SET s x", "ZUNION 2 za s", "ZINTER 2 s za",
        "ZUNION 2 s za BOGUS", "ZUNIONSTORE dst 2 za zb", "ZRANGE dst 0 -1 WITHSCORES", "ZINTERSTORE dst 2 za zb WEIGHTS 2 2",
        "ZRANGE dst 0 -1 WITHSCORES", "ZDIFFSTORE dst 2 za zb", "ZRANGE dst 0 -1 WITHSCORES", "ZINTERSTORE dst 2 za nokey",
        "EXISTS dst", "ZUNIONSTORE dst 0 za", "ZUNIONSTORE dst 2 za zb WITHSCORES", "ZUNIONSTORE {t}c 2 {t}a {t}b",
        "ZRANGE {t}c 0 -1 WITHSCORES", "ZUNIONSTORE foo 2 bar {t}a", "ZRANGE foo 0 -1 WITHSCORES", "ZUNIONSTORE za 2 za zb",
        "ZRANGE za 0 -1 WITHSCORES", "ZUNIONSTORE s 1 zb", "TYPE s", "ZADD inf 1 a", "ZADD ninf -inf a",
        "ZUNION 2 inf ninf WEIGHTS inf 1 WITHSCORES", "ZINTER 2 inf ninf WEIGHTS 0 0 WITHSCORES", "ZUNION 1 za WEIGHTS nan",
    ],
    // ZRANDMEMBER, ZSCAN
    &[
        "ZADD z 1 a", "ZRANDMEMBER z", "ZRANDMEMBER z 1", "ZRANDMEMBER z -3", "ZRANDMEMBER z -2 WITHSCORES", "ZRANDMEMBER z 5 WITHSCORES",
        "ZRANDMEMBER z 0", "ZRANDMEMBER nokey", "ZRANDMEMBER nokey 5", "ZRANDMEMBER z abc", "ZRANDMEMBER z 1 bogus",
        "ZRANDMEMBER z 1 WITHSCORES x", "ZRANDMEMBER z -9223372036854775808", "ZRANDMEMBER z 9223372036854775807 WITHSCORES",
        "ZRANDMEMBER z -4611686018427387904 WITHSCORES", "SET s x", "ZRANDMEMBER s", "ZRANDMEMBER s 1",
        "ZADD sc 1 a 2.5 b", "ZSCAN sc 0", "ZSCAN sc 0 MATCH a*", "ZSCAN sc 0 COUNT 0", "ZSCAN sc x", "ZSCAN sc 0 BOGUS",
        "ZSCAN nokey 0", "ZSCAN s 0",
    ],
    // SORT on sorted sets
    &[
        "ZADD z 3 c 1 10 2 2 4 x", "SORT z", "SORT z ALPHA", "SORT z ALPHA DESC", "SORT z BY nosort", "SORT z BY nosort DESC",
        "SORT z BY nosort LIMIT 1 2", "SORT z BY nosort DESC LIMIT 0 2", "ZADD n 1 3 2 1 3 2", "SORT n", "SORT n DESC",
        "SORT n LIMIT 1 1", "SORT n LIMIT -5 2", "SORT n LIMIT 10 2", "SORT n LIMIT 0 0", "SORT n LIMIT a b",
        "MSET w_1 30 w_2 20 w_3 10", "SORT n BY w_*", "SORT n BY w_* GET # GET w_*", "SORT n BY w_* GET nokey_*",
        "SORT n GET w_* DESC", "SORT n GET nostar", "SORT n BY w_* ALPHA", "SET w_2 abc", "SORT n BY w_*", "SORT n BY w_* ALPHA",
        "SORT n BOGUS", "SORT n LIMIT 1", "SORT_RO n", "SORT_RO n STORE dst", "SORT nokey", "SET s x", "SORT s", "SORT_RO s",
        "SORT n STORE {x}empty LIMIT 5 5", "EXISTS {x}empty",
    ],
];

#[test]
fn zset_replies_match_redis() {
    assert_scripts_match_redis(SCRIPTS);
}
