//! The Lua libraries and sandbox scripts see (cjson, cmsgpack, struct, bit, loadstring, the
//! read-only globals), compared byte for byte with redis-server 7.0.15.

use crate::common;

use common::{assert_scripts_match_redis, Server};

#[test]
fn cjson_matches_redis() {
    assert_scripts_match_redis(&[&[
        r#"EVAL "return cjson.encode({1, 'x', true, false, cjson.null, {}, {a={b={1,2,{}}}}})" 0"#,
        r#"EVAL "return cjson.encode({1.5, 0.1, 1e20, 123456789012345, -0.0, 1/3, 2^53, 0.1+0.2})" 0"#,
        r#"EVAL "return cjson.encode('a/b\\\1\127\200\n\t')" 0"#,
        r#"EVAL "return cjson.encode({1,2,nil,4})" 0"#,
        r#"EVAL "return cjson.encode({[1]=1,[20]=2})" 0"#,
        r#"EVAL "return cjson.encode({[1]=1,[3]=2})" 0"#,
        r#"EVAL "return cjson.encode({[true]=1})" 0"#,
        r#"EVAL "return cjson.encode(function() end)" 0"#,
        r#"EVAL "return cjson.encode(1/0)" 0"#,
        r#"EVAL "return cjson.encode()" 0"#,
        r#"EVAL "local t = {} t[1] = t return cjson.encode(t)" 0"#,
        r#"EVAL "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10, 0x10]'), ' ')" 0"#,
        r#"EVAL "local d = cjson.decode('{\34a\34:[1,{\34b\34:null}]}') return {d.a[1], d.a[2].b == cjson.null}" 0"#,
        r#"EVAL "local d = cjson.decode('[1,{}, [], null, true, false, -0]') return {#d, type(d[2]), d[4] == cjson.null, d[5], d[6]}" 0"#,
        r#"EVAL "return cjson.decode('x')" 0"#,
        r#"EVAL "return cjson.decode('[1,2')" 0"#,
        r#"EVAL "return cjson.decode('[1,2]x')" 0"#,
        r#"EVAL "return cjson.decode('{1:2}')" 0"#,
        r#"EVAL "return cjson.decode('{\34a\34 1}')" 0"#,
        r#"EVAL "return cjson.decode(string.rep('[', 100000))" 0"#,
        r#"EVAL "return cjson.decode('\34\\u00e9\\ud83d\\ude00\\n\\/\34')" 0"#,
        r#"EVAL "return cjson.decode(nil)" 0"#,
        r#"EVAL "return cjson.decode('\34\\x\34')" 0"#,
        r#"EVAL "return cjson.decode('\34\\ud800\34')" 0"#,
        r#"EVAL "return cjson.decode('\34abc')" 0"#,
        r#"EVAL "local d = cjson.decode return d(1, 2)" 0"#,
        r#"EVAL "return {pcall(cjson.decode, '{')}" 0"#,
        r#"EVAL "return {cjson.encode_sparse_array(), cjson.encode_max_depth(), cjson.decode_max_depth()}" 0"#,
        r#"EVAL "return cjson.encode_max_depth(0)" 0"#,
        r#"EVAL "return cjson.encode_keep_buffer('x')" 0"#,
        r#"EVAL "local r = {cjson.encode_invalid_numbers('null'), cjson.encode(1/0)} cjson.encode_invalid_numbers(false) return r" 0"#,
        r#"EVAL "cjson.encode_max_depth(2) local ok, e = pcall(cjson.encode, {{{1}}}) cjson.encode_max_depth(1000) return e" 0"#,
        r#"EVAL "cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[1]]]') cjson.decode_max_depth(1000) return e" 0"#,
        r#"EVAL "return tostring(cjson.null)" 0"#,
    ]]);
}

#[test]
fn cmsgpack_matches_redis() {
    assert_scripts_match_redis(&[&[
        r#"EVAL "return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^31, 2^32, 2^40, 2^63)" 0"#,
        r#"EVAL "return cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^63)" 0"#,
        r#"EVAL "return cmsgpack.pack(0.1, 1.5, 1e300, -0.0, 1/0)" 0"#,
        r#"EVAL "return cmsgpack.pack({}, {{}}, {1,2,3}, {a=1}, true, false, nil)" 0"#,
        r#"EVAL "return cmsgpack.pack(string.rep('a', 31), string.rep('b', 32), string.rep('c', 300), string.rep('d', 70000))" 0"#,
        r#"EVAL "return cmsgpack.pack('\0\1\255binary')" 0"#,
        r#"EVAL "local a = {y=5} a.x = {x=a} return cmsgpack.pack(a)" 0"#,
        r#"EVAL "local t = cmsgpack.unpack(cmsgpack.pack({a={1,2,{b='c'}}, n=-5, big=4294967296, huge=2^53})) return {t.a[3].b, t.n, tostring(t.big), tostring(t.huge)}" 0"#,
        r#"EVAL "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3}))}" 0"#,
        r#"EVAL "local o, v = cmsgpack.unpack_one(cmsgpack.pack(1, 2), 0) local o2, v2 = cmsgpack.unpack_one(cmsgpack.pack(1, 2), o) return {o, v, o2, v2}" 0"#,
        r#"EVAL "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}" 0"#,
        r#"EVAL "return cmsgpack.unpack_limit('x', -1)" 0"#,
        r#"EVAL "return cmsgpack.unpack_one('x', 5)" 0"#,
        r#"EVAL "return cmsgpack.unpack('\193')" 0"#,
        r#"EVAL "return cmsgpack.unpack('\196\1a')" 0"#,
        r#"EVAL "return cmsgpack.unpack('\205\1')" 0"#,
        r#"EVAL "return cmsgpack.unpack('\221\255\255\255\255')" 0"#,
        r#"EVAL "return cmsgpack.unpack(string.rep('\145', 5000) .. '\192')" 0"#,
        r#"EVAL "return select('#', cmsgpack.unpack(string.rep('\0', 7999)))" 0"#,
        r#"EVAL "return select('#', cmsgpack.unpack(string.rep('\0', 8000)))" 0"#,
        r#"EVAL "return cmsgpack.pack()" 0"#,
        r#"EVAL "return cmsgpack.unpack()" 0"#,
    ]]);
}

/// The shapes job queues use: options packed with cmsgpack by one script and read by the
/// next, job data as JSON, numbers past 2^31 (timestamps), empty arrays.
#[test]
fn job_queue_scripts_match_redis() {
    assert_scripts_match_redis(&[&[
        r#"EVAL "redis.call('set', KEYS[1], cmsgpack.pack({jobId='j1', delay=0, attempts=3, timestamp=1733480000123, tags={}, backoff={type='exponential', delay=1000}})) return 1" 1 opts"#,
        r#"EVAL "local o = cmsgpack.unpack(redis.call('get', KEYS[1])) redis.call('hset', KEYS[2], 'opts', cjson.encode(o), 'ts', o.timestamp, 'data', ARGV[1]) return {o.jobId, o.attempts, tostring(o.timestamp), #o.tags, o.backoff.type}" 2 opts job "{'name':'x'}""#,
        r#"HMGET job opts ts data"#,
        r#"EVAL "local d = cjson.decode(redis.call('hget', KEYS[1], 'opts')) return cjson.encode({d.backoff, d.timestamp, d.tags})" 1 job"#,
        r#"EVAL "local p = cmsgpack.pack({1, {}, {x={}}, 4294967296, -4294967296}) local u = cmsgpack.unpack(p) return {p, #u, tostring(u[4]), tostring(u[5])}" 0"#,
    ]]);
}

#[test]
fn struct_and_bit_match_redis() {
    assert_scripts_match_redis(&[&[
        r#"EVAL "return struct.pack('>I2 <i8 d f b B h H l L', 1, -2, 1.5, 0.5, -1, 255, -3, 65535, -4, 5)" 0"#,
        r#"EVAL "return {struct.unpack('<i3 c0 s', struct.pack('<i3 c0 s', 3, 'abc', 'zz'))}" 0"#,
        r#"EVAL "return {struct.unpack('>!4 b i h', struct.pack('>!4 b i h', 1, 2, 3))}" 0"#,
        r#"EVAL "return struct.size('>!4i3hc10d')" 0"#,
        r#"EVAL "return struct.size('s')" 0"#,
        r#"EVAL "return struct.pack('z')" 0"#,
        r#"EVAL "return struct.pack('!3i')" 0"#,
        r#"EVAL "return struct.pack('i33')" 0"#,
        r#"EVAL "return struct.pack('i99999999999')" 0"#,
        r#"EVAL "return struct.pack('c2000000000', 'x')" 0"#,
        r#"EVAL "return struct.unpack('i4', 'ab')" 0"#,
        r#"EVAL "return struct.unpack('i4', 'abcd', 0)" 0"#,
        r#"EVAL "return struct.unpack('c0', 'abcd')" 0"#,
        r#"EVAL "return struct.unpack('s', 'abcd')" 0"#,
        r#"EVAL "return select('#', struct.unpack(string.rep('b', 7998), string.rep('x', 7998)))" 0"#,
        r#"EVAL "return {bit.tobit(1), bit.band(1), bit.bxor(1,2), bit.bor(1,2,4,8,16,32,64,128)}" 0"#,
        r#"EVAL "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.bnot(0), bit.tobit(2^32+5), bit.tobit(1.5), bit.tobit(2.5), bit.band('12', 10)}" 0"#,
        r#"EVAL "return {bit.tohex(65535, -2147483648), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -3), bit.tohex(1, 0)}" 0"#,
        r#"EVAL "return bit.tobit()" 0"#,
        r#"EVAL "return bit.band(1, 'x')" 0"#,
    ]]);
}

#[test]
fn sandbox_matches_redis() {
    assert_scripts_match_redis(&[&[
        r#"EVAL "return a" 0"#,
        r#"EVAL "a = 10" 0"#,
        r#"EVAL "rawset(_G, 'x', 1) return x" 0"#,
        r#"EVAL "setmetatable(_G, {})" 0"#,
        r#"EVAL "local g = getmetatable(_G) g.__index = {}" 0"#,
        r#"EVAL "getmetatable('').__index = function() return 1 end" 0"#,
        r#"EVAL "getmetatable(nil).__index = 1" 0"#,
        r#"EVAL "return {('x'):rep(3), getmetatable('').__index == string}" 0"#,
        r#"EVAL "string.x = 1" 0"#,
        r#"EVAL "rawset(string, 'x', 1)" 0"#,
        r#"EVAL "cjson.encode = nil" 0"#,
        r#"EVAL "redis.call = nil" 0"#,
        r#"EVAL "bit.x = 1" 0"#,
        r#"EVAL "return {type(loadstring), type(load), type(gcinfo), type(coroutine), type(cjson), type(cmsgpack), type(struct), type(bit)}" 0"#,
        r#"EVAL "return os" 0"#,
        r#"EVAL "return io" 0"#,
        r#"EVAL "return debug" 0"#,
        r#"EVAL "return setfenv" 0"#,
        r#"EVAL "return print" 0"#,
        r#"EVAL "return loadstring(string.dump(function() return 1 end))()" 0"#,
        r#"EVAL "local f, e = loadstring('x=', 'nm') return e" 0"#,
        r#"EVAL "return loadstring('return 1+1')()" 0"#,
        r#"EVAL "return {pcall(loadstring('y = 1'))}" 0"#,
        r#"EVAL "return {redis.REPL_NONE, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_AOF, redis.REPL_ALL}" 0"#,
        r#"EVAL "return {redis.set_repl(redis.REPL_ALL), redis.replicate_commands(), redis.breakpoint(), redis.debug('x')}" 0"#,
        r#"EVAL "return redis.set_repl(5)" 0"#,
        r#"EVAL "return redis.set_repl()" 0"#,
        r#"EVAL "return {redis.acl_check_cmd('get', 'x'), redis.acl_check_cmd('set', 'x', 1)}" 0"#,
        r#"EVAL "return redis.acl_check_cmd('nosuch')" 0"#,
        r#"EVAL "return redis.acl_check_cmd()" 0"#,
        r#"EVAL "return {redis.sha1hex(''), redis.sha1hex('Pizza & Mandolino')}" 0"#,
    ]]);
}

/// A table holding itself under many keys would make the encoders' output grow exponentially
/// up to their nesting limits (Redis runs until memory runs out): ringkv refuses past a bound,
/// quickly, and the server stays up.
#[test]
fn self_referencing_table_is_refused_not_grown() {
    let server = Server::start(1, common::backends()[0], &[]);
    let mut con = server.redis();
    // cmsgpack: a cycle, cut at depth 16; cjson: a 40-level chain of pairs sharing one child.
    for script in [
        "local t = {} for i = 1, 8 do t[i] = t end return cmsgpack.pack(t)",
        "local c = {} for i = 1, 40 do c = {c, c} end return cjson.encode(c)",
    ] {
        let started = std::time::Instant::now();
        let reply: redis::RedisResult<redis::Value> =
            redis::cmd("EVAL").arg(script).arg(0).query(&mut con);
        let err = reply.expect_err("an error, not an exponentially long string");
        assert!(
            err.to_string().contains("not enough memory"),
            "unexpected reply: {err}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{script} took {:?}",
            started.elapsed()
        );
    }
    let pong: String = redis::cmd("PING").query(&mut con).expect("server alive");
    assert_eq!(pong, "PONG");
}
