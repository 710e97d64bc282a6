//! BITFIELD and BITFIELD_RO against redis-server 7.0.15, byte for byte: the grammar and its
//! errors, every overflow edge (i64/u63 limits, WRAP/SAT/FAIL), and random operations.

use crate::common;

use common::{assert_scripts_match_redis, Raw, RedisServer, Server};

#[test]
fn replies_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "BITFIELD k",
            "BITFIELD k GET u8 0",
            "EXISTS k",
            "BITFIELD k SET i8 0 -100 GET u4 0 INCRBY u2 100 1 GET i8 #1",
            "GET k",
            "BITFIELD k OVERFLOW FAIL INCRBY u2 200 5",
            "GET k",
            "BITFIELD k2 OVERFLOW FAIL INCRBY u2 0 5",
            "GET k2",
            "BITFIELD k GET u64 0",
            "BITFIELD k GET i65 0",
            "BITFIELD k GET x8 0",
            "BITFIELD k GET U8 0",
            "BITFIELD k GET i0 0",
            "BITFIELD k GET i8 -1",
            "BITFIELD k GET i8 #-1",
            "BITFIELD k GET i8 abc",
            "BITFIELD k GET i8 4294967296",
            "BITFIELD k GET i8 536870912000",
            "BITFIELD k OVERFLOW bad GET i8 0",
            "BITFIELD k OVERFLOW",
            "BITFIELD k GET i8",
            "BITFIELD k bogus",
            "BITFIELD k SET i8 0 x",
            "BITFIELD k SET i8 0 99999999999999999999",
            "BITFIELD_RO k GET i8 0 GET u3 #2",
            "BITFIELD_RO k SET i8 0 1",
            "BITFIELD_RO nokey GET i8 0",
            "LPUSH l a",
            "BITFIELD l GET i8 0",
            "BITFIELD l SET i8 0 1",
            "BITFIELD_RO l GET i8 0",
            "SETEX ttl 100 abc",
            "BITFIELD ttl SET u8 100 1",
            "TTL ttl",
        ],
        &[
            "BITFIELD s SET u63 0 -1 GET u63 0 SET i64 100 -1 GET i64 100",
            "BITFIELD s INCRBY i64 100 -9223372036854775808",
            "BITFIELD s OVERFLOW SAT INCRBY i64 100 -9223372036854775808 INCRBY u63 0 9223372036854775807",
            "BITFIELD s OVERFLOW WRAP INCRBY i64 0 9223372036854775807 INCRBY i64 0 9223372036854775807",
            "BITFIELD s OVERFLOW SAT SET u8 8 -1 SET i8 8 200 SET u8 8 300 SET i8 8 -300",
            "BITFIELD s OVERFLOW FAIL SET u8 8 256 SET i8 8 128 SET i8 8 -129 INCRBY u1 0 2",
            "BITFIELD s OVERFLOW WRAP INCRBY u1 0 3 INCRBY i1 0 1 INCRBY i1 0 -2",
            "GET s",
        ],
    ]);
}

fn call(raw: &mut Raw, args: &[String]) -> Vec<u8> {
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    raw.cmd(&refs);
    raw.reply()
}

/// Random SET/INCRBY/GET of random widths, offsets and values near the limits under each
/// overflow mode, on one string: every reply and the string itself as redis-server's.
#[test]
fn random_operations_match_redis() {
    let redis = RedisServer::start();
    let server = Server::start(2, common::backends()[0], &[]);
    let (mut ours, mut theirs) = (server.raw(), Raw::connect(redis.port));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut mismatches = Vec::new();
    for i in 0..3000 {
        let signed = next() % 2 == 0;
        let bits = 1 + next() % if signed { 64 } else { 63 };
        let edge = 1i128 << (bits - 1);
        let value: i128 = match next() % 6 {
            0 => next() as i64 as i128,
            1 => (next() % 600) as i128 - 300,
            2 => edge,
            3 => -edge,
            4 => 2 * edge - 1,
            _ => 2 * edge,
        };
        let value = value.clamp(i64::MIN as i128, i64::MAX as i128);
        let offset = if next() % 2 == 0 {
            (next() % 100).to_string()
        } else {
            format!("#{}", next() % 8)
        };
        let overflow = ["WRAP", "SAT", "FAIL"][(next() % 3) as usize];
        let op = ["SET", "INCRBY", "GET"][(next() % 3) as usize];
        let ty = format!("{}{bits}", if signed { 'i' } else { 'u' });
        let mut q: Vec<String> = ["BITFIELD", "f", "OVERFLOW", overflow, op, &ty, &offset]
            .map(String::from)
            .to_vec();
        if op != "GET" {
            q.push(value.to_string());
        }
        let mut queries = vec![q];
        if i % 100 == 0 {
            queries.push(vec!["GET".into(), "f".into()]);
        }
        for q in &queries {
            let (want, have) = (call(&mut theirs, q), call(&mut ours, q));
            if want != have {
                mismatches.push(format!(
                    "{}\n  redis : {:?}\n  ringkv: {:?}",
                    q.join(" "),
                    want,
                    have
                ));
            }
        }
    }
    common::assert_no_mismatches("bitfield", &mismatches);
}
