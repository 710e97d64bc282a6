//! Differential test: the same command scripts go to redis-server and to ringkv (2 threads, so
//! keys land on both shards); every reply must be byte-identical. redis-server is the oracle
//! for reply shapes and error texts.

use crate::common;

use common::assert_scripts_match_redis;

const SCRIPTS: &[&[&str]] = &[
    // strings
    &[
        "SET foo bar", "GET foo", "GET nokey", "SET foo baz NX", "SET foo baz XX", "GET foo",
        "SET foo 1 NX XX", "SET foo 1 EX 10 PX 100", "SET foo 1 EX 0", "SET foo 1 EX -5",
        "SET foo 1 EX abc", "SET foo 1 KEEPTTL EX 5", "SET foo 1 GET", "SET foo 2 GET NX",
        "SET newkey 2 GET", "SET foo", "SET foo 1 BOGUS", "SET foo 1 EX", "SET foo 1 PX 9223372036854775807",
        "SET foo 1 EX 9223372036854775", "SETNX foo x", "SETNX fresh x", "GETSET foo y", "GETSET none y",
        "GETDEL foo", "GETDEL foo", "SETEX foo 0 x", "SETEX foo -1 x", "SETEX foo abc x", "PSETEX foo 0 x",
        "SETEX foo 100 x", "TTL foo", "SET foo bar", "TTL foo", "SET foo bar EX 100", "SET foo baz KEEPTTL", "TTL foo",
        "GETEX foo", "GETEX foo PERSIST", "TTL foo", "GETEX foo EX 100", "TTL foo", "GETEX foo EX 1 PX 1",
        "GETEX foo KEEPTTL", "GETEX foo NX", "GETEX nokey EX 10", "GETEX foo EX 0",
    ],
    &[
        "MSET a 1 b 2 c 3 foo 4 bar 5", "MGET a b c foo bar nokey", "MSET a", "MSET a 1 b",
        "MSETNX a 1 zz 2", "MSETNX x1 1 x2 2 foo2 3 bar2 4", "MGET x1 x2 foo2 bar2", "MSETNX x1 1",
        "APPEND a 23", "APPEND newapp hello", "GET a", "STRLEN a", "STRLEN nokey", "MSETNX k1 v1 k1 v2", "GET k1",
    ],
    &[
        "INCR n", "INCR n", "DECR n", "INCRBY n 10", "DECRBY n 3", "INCRBY n abc", "INCRBY n 1.5",
        "SET big 9223372036854775807", "INCR big", "SET small -9223372036854775808", "DECR small",
        "DECRBY n -9223372036854775808", "SET s hello", "INCR s", "SET sp \" 1\"", "INCR sp",
        "SET f 10.5", "INCRBYFLOAT f 0.1", "INCRBYFLOAT f -5", "INCRBYFLOAT f abc", "INCRBYFLOAT s 1",
        "INCRBYFLOAT newf 3", "SET f2 5.0e3", "INCRBYFLOAT f2 2.0e2", "INCRBYFLOAT f inf", "INCR", "INCRBY n",
        "SET z 00", "INCR z", "SET y +1", "INCR y", "INCRBYFLOAT n 1", "GET n",
    ],
    &[
        "SET r \"Hello World\"", "GETRANGE r 0 4", "GETRANGE r -5 -1", "GETRANGE r 5 2", "GETRANGE r 0 -100",
        "GETRANGE r -100 -101", "GETRANGE r 0 1000", "GETRANGE nokey 0 1", "GETRANGE r a 1", "SUBSTR r 1 3",
        "SETRANGE r 6 Redis", "GET r", "SETRANGE r 20 X", "GET r", "SETRANGE r -1 X", "SETRANGE nr 0 \"\"",
        "EXISTS nr", "SETRANGE nr 3 ab", "GET nr", "SETRANGE r 0 \"\"", "SETRANGE r 536870911 x",
        "SETRANGE r 536870912 x",
    ],
    &[
        "SET key1 ohmytext", "SET key2 mynewtext", "LCS key1 key2", "LCS key1 key2 LEN", "LCS key1 key2 IDX",
        "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN", "LCS key1 key2 LEN IDX", "LCS key1 key2 BOGUS",
        "LCS key1 nokey", "LCS nokey nokey2 IDX", "LCS key1 key2 MINMATCHLEN",
    ],
    // bitmaps
    &[
        "SETBIT b 7 1", "SETBIT b 7 0", "SETBIT b 100 1", "GETBIT b 100", "GETBIT b 1000", "GETBIT nokey 3",
        "SETBIT b -1 1", "SETBIT b 4294967296 1", "SETBIT b 1 2", "SETBIT b x 1", "SET s foobar",
        "BITCOUNT s", "BITCOUNT s 0 0", "BITCOUNT s 1 1", "BITCOUNT s 1 1 BYTE", "BITCOUNT s 5 30 BIT",
        "BITCOUNT s 1", "BITCOUNT s 0 -1 BOGUS", "BITCOUNT nokey", "BITCOUNT s -2 -1",
        "SET p \"\"", "BITPOS s 1", "BITPOS s 0", "BITPOS s 1 2", "BITPOS s 1 2 -1 BYTE", "BITPOS s 0 8 -1 BIT",
        "BITPOS s 2", "BITPOS nokey 0", "BITPOS nokey 1", "SET ff ~~", "BITPOS ff 0", "BITPOS ff 0 0 -1",
        "SET k1 foobar", "SET k2 abcdef", "BITOP AND dest k1 k2", "GET dest", "BITOP OR dest k1 k2 nokey",
        "BITOP XOR dest k1 k2", "BITOP NOT dest k1", "BITOP NOT dest k1 k2", "BITOP BOGUS dest k1",
        "BITOP AND dest nokey", "EXISTS dest",
    ],
    // keys
    &[
        "MSET a 1 b 2 c 3 foo 4 bar 5", "DEL a b nokey foo", "EXISTS a c c bar", "TYPE c", "TYPE nokey",
        "TOUCH c bar nokey", "UNLINK c", "RENAME bar newbar", "GET newbar", "RENAME nokey x", "RENAME newbar newbar",
        "RENAMENX newbar newbar", "SET other 1", "RENAMENX newbar other", "RENAMENX newbar fresh", "GET fresh",
        "RENAME fresh other", "GET other", "COPY other copy1", "COPY other copy1", "COPY other copy1 REPLACE",
        "COPY other other", "COPY other c2 DB 1", "COPY other c3 DB 99", "COPY other c3 BOGUS", "COPY nokey c4",
        "MOVE other 1", "MOVE other 1", "MOVE nokey 1", "MOVE copy1 0", "MOVE copy1 99", "MOVE copy1 x",
        "SELECT 1", "GET other", "GET c2", "SELECT 0", "EXISTS other", "SELECT 99", "SELECT -1", "SELECT x",
    ],
    &[
        "SET s 12345", "OBJECT ENCODING s", "SET s2 hello", "OBJECT ENCODING s2",
        "SET s3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "OBJECT ENCODING s3", "OBJECT ENCODING nokey", "OBJECT BOGUS s", "OBJECT", "OBJECT FREQ s",
    ],
    // expiry
    &[
        "SET e v", "EXPIRE e 100", "TTL e", "EXPIRE e 100 NX", "EXPIRE e 200 XX", "TTL e", "EXPIRE e 50 GT",
        "EXPIRE e 500 GT", "TTL e", "EXPIRE e 1000 LT", "EXPIRE e 10 LT", "TTL e", "EXPIRE e 10 NX XX",
        "EXPIRE e 10 GT LT", "EXPIRE e 10 BOGUS", "EXPIRE e abc", "PERSIST e", "PERSIST e", "TTL e", "PTTL e",
        "TTL nokey", "PTTL nokey", "EXPIRETIME e", "EXPIRETIME nokey", "PEXPIRETIME e", "EXPIREAT e 1",
        "EXISTS e", "SET e v", "EXPIRE e 9223372036854775807", "EXPIRE e -1", "EXISTS e", "SET e v",
        "PEXPIREAT e 99999999999999", "PEXPIRETIME e", "EXPIRETIME e", "EXPIRE nokey 10", "SET p v",
        "EXPIRE p 10 GT", "EXPIRE p 10 LT", "TTL p", "EXPIRE p 10 XX",
    ],
    // connection, server, errors
    &[
        "PING", "PING hello", "PING a b", "ECHO x", "ECHO", "NOSUCH a b", "nosuch", "GET", "GET a b",
        "DBSIZE", "SET a 1", "DBSIZE", "FLUSHDB BOGUS", "FLUSHALL SYNC", "DBSIZE", "CLIENT SETNAME \"a b\"",
        "CLIENT SETNAME good", "CLIENT GETNAME", "CLIENT BOGUS", "CLIENT SETNAME", "CONFIG GET maxclients",
        "CONFIG GET nosuchoption", "CONFIG SET maxclients abc", "CONFIG SET nosuch 1",
        "CONFIG SET maxclients 100 maxclients 200", "CONFIG SET timeout 0", "CONFIG BOGUS", "CONFIG GET",
        "HELLO 4", "HELLO abc", "SWAPDB 0 x", "SWAPDB 0 99", "KEYS", "SCAN x", "SCAN 0 COUNT 0", "SCAN 0 BOGUS",
        "COMMAND GETKEYS GET k", "COMMAND GETKEYS PING", "COMMAND BOGUS", "OBJECT HELP",
        "SET aaa 1", "KEYS *?*?*?*?", "KEYS a[a-b]?", "KEYS a\\*", "KEYS [^b]*",
    ],
];

#[test]
fn replies_match_redis_server() {
    assert_scripts_match_redis(SCRIPTS);
}
