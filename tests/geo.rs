//! GEO commands against redis-server 7.0.15, byte for byte: fixed scripts for every command,
//! option and error, and random point clouds searched every way.

use crate::common;

use common::{assert_scripts_match_redis, Raw, RedisServer, Server};

#[test]
fn replies_match_redis() {
    assert_scripts_match_redis(&[
        &[
            "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "ZRANGE Sicily 0 -1 WITHSCORES",
            "GEODIST Sicily Palermo Catania",
            "GEODIST Sicily Palermo Catania km",
            "GEODIST Sicily Palermo Catania MI",
            "GEODIST Sicily Palermo Catania ft",
            "GEODIST Sicily Palermo nope",
            "GEODIST nokey a b",
            "GEODIST Sicily Palermo Catania yd",
            "GEODIST Sicily Palermo Catania km extra",
            "GEOHASH Sicily Palermo Catania nope",
            "GEOPOS Sicily Palermo Catania nope",
            "GEOPOS nokey a",
            "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
            "GEORADIUS Sicily 15 37 200 km WITHDIST COUNT 1",
            "GEORADIUS Sicily 15 37 200 km COUNT 1 ANY",
            "GEORADIUS Sicily 15 37 200 km DESC",
            "GEORADIUS_RO Sicily 15 37 200 km ASC WITHDIST",
            "GEORADIUS_RO Sicily 15 37 200 km STORE x",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST",
            "GEORADIUSBYMEMBER_RO Sicily Palermo 200 km WITHCOORD",
            "GEORADIUSBYMEMBER Sicily nope 200 km",
            "GEORADIUSBYMEMBER nokey nope 200 km",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km",
            "GEOSEARCH Sicily BYBOX 400 400 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo COUNT 1",
            "GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 1 2 BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMLONLAT 1 2 BYRADIUS 1 km ANY",
            "GEOSEARCH Sicily FROMLONLAT 1 2 BYRADIUS 1 km BYBOX 1 1 km",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYBOX -1 1 km",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYBOX a 1 km",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 20000 km ASC WITHDIST",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 0 km",
            "GEOSEARCHSTORE Sicily Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST",
        ],
        // Destinations on the other shard (foo / bar) and on the same one ({Sicily}...).
        &[
            "GEOADD foo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEOSEARCHSTORE bar foo FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
            "ZRANGEBYSCORE bar 56.44 56.45",
            "GEOSEARCHSTORE bar foo FROMLONLAT 15 37 BYRADIUS 200 km",
            "ZRANGE bar 0 -1 WITHSCORES",
            "GEORADIUS foo 15 37 200 km STORE bar",
            "ZRANGE bar 0 -1 WITHSCORES",
            "GEORADIUS foo 15 37 200 km STOREDIST {foo}d COUNT 1",
            "ZRANGEBYSCORE {foo}d 56.44 56.45",
            "GEORADIUSBYMEMBER foo Palermo 500 km STORE bar",
            "ZCARD bar",
            "GEORADIUS foo 15 37 200 km STORE bar WITHDIST",
            "GEORADIUS nokey 15 37 200 km STORE bar",
            "EXISTS bar",
            "GEOSEARCHSTORE bar nokey FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEORADIUS foo 0 0 1 km STORE {foo}d",
            "EXISTS {foo}d",
        ],
        &[
            "GEOADD g NX XX 1 1 a",
            "GEOADD g 1 1",
            "GEOADD g CH 13.361389 38.115556 Palermo 1 1 a",
            "GEOADD g CH 13.361389 38.115557 Palermo 1 1 b",
            "GEOADD g XX CH 13 38 Palermo 1 1 c",
            "GEOADD g NX 14 38 Palermo 1 1 c",
            "ZRANGE g 0 -1 WITHSCORES",
            "GEOADD g 200 100 a",
            "GEOADD g 180 85.05112879 a",
            "GEOADD g abc 1 a",
            "GEOADD g GT 1 2 a",
            "GEORADIUS g 15 37 -1 km",
            "GEORADIUS g 15 37 x km",
            "GEORADIUS g 15 37 1 kmx",
            "GEORADIUS g 15 37 1 km COUNT 0",
            "GEORADIUS g 15 37 1 km COUNT x",
            "GEORADIUS g 15 37 1 km bogus",
            "GEORADIUS g 200 37 1 km",
            "SET str x",
            "GEOADD str 1 1 a",
            "GEOPOS str a",
            "GEOHASH str a",
            "GEODIST str a b",
            "GEORADIUS str 1 1 1 km",
            "GEOADD poles 180 85.05112878 ne -180 -85.05112878 sw 0 0 zero",
            "GEOPOS poles ne sw zero",
            "GEOHASH poles ne sw zero",
            "GEODIST poles ne sw",
        ],
    ]);
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() % 1_000_000) as f64 / 1_000_000.0 * (hi - lo)
    }
}

fn call(raw: &mut Raw, args: &[String]) -> Vec<u8> {
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    raw.cmd(&refs);
    raw.reply()
}

/// Point clouds of every spread around random centres (poles and the antimeridian included),
/// searched by radius, box and member with each option: replies identical to redis-server's.
#[test]
fn random_points_match_redis() {
    let redis = RedisServer::start();
    let server = Server::start(2, common::backends()[0], &[]);
    let (mut ours, mut theirs) = (server.raw(), Raw::connect(redis.port));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut mismatches = Vec::new();
    for round in 0..40 {
        let spread = [0.01, 0.5, 5.0, 60.0][round % 4];
        let (clon, clat) = (rng.uniform(-179.9, 179.9), rng.uniform(-85.0, 85.0));
        let mut add = vec!["GEOADD".to_string(), "pts".to_string()];
        for i in 0..(20 + rng.next() % 200) {
            let lon = (clon + rng.uniform(-spread, spread)).clamp(-180.0, 180.0);
            let lat = (clat + rng.uniform(-spread, spread)).clamp(-85.05, 85.05);
            add.extend([format!("{lon:.6}"), format!("{lat:.6}"), format!("m{i}")]);
        }
        let r = ["1", "50", "500", "5000"][(rng.next() % 4) as usize].to_string();
        let (lon, lat) = (format!("{clon:.5}"), format!("{clat:.5}"));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let queries = vec![
            s(&["DEL", "pts", "{pts}dst"]),
            add,
            s(&[
                "GEORADIUS",
                "pts",
                &lon,
                &lat,
                &r,
                "km",
                "WITHDIST",
                "WITHCOORD",
                "WITHHASH",
            ]),
            s(&["GEORADIUS", "pts", &lon, &lat, &r, "km", "ASC", "WITHDIST"]),
            s(&[
                "GEORADIUSBYMEMBER",
                "pts",
                "m0",
                &r,
                "mi",
                "DESC",
                "WITHDIST",
                "COUNT",
                "7",
            ]),
            s(&[
                "GEOSEARCH",
                "pts",
                "FROMLONLAT",
                &lon,
                &lat,
                "BYBOX",
                &r,
                &r,
                "km",
                "WITHDIST",
                "WITHCOORD",
            ]),
            s(&[
                "GEOSEARCH",
                "pts",
                "FROMMEMBER",
                "m1",
                "BYRADIUS",
                &r,
                "ft",
                "ASC",
                "COUNT",
                "3",
                "ANY",
            ]),
            s(&[
                "GEOSEARCHSTORE",
                "{pts}dst",
                "pts",
                "FROMMEMBER",
                "m1",
                "BYRADIUS",
                &r,
                "km",
                "STOREDIST",
            ]),
            s(&["ZRANGE", "{pts}dst", "0", "-1"]),
            s(&["GEOPOS", "pts", "m0", "m1", "m2"]),
            s(&["GEOHASH", "pts", "m0", "m3"]),
            s(&["GEODIST", "pts", "m0", "m4", "km"]),
        ];
        for q in &queries {
            let (want, have) = (call(&mut theirs, q), call(&mut ours, q));
            if want != have {
                mismatches.push(format!(
                    "{}\n  redis : {:?}\n  ringkv: {:?}",
                    q.join(" "),
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&have)
                ));
            }
        }
    }
    common::assert_no_mismatches("geo", &mismatches);
}

/// Under RESP3 coordinates are doubles carrying Redis's own digits, in GEOPOS and WITHCOORD
/// and as a script sees them.
#[test]
fn resp3_coordinates_match_redis() {
    let redis = RedisServer::start();
    let server = Server::start(2, common::backends()[0], &[]);
    let (mut ours, mut theirs) = (server.raw(), Raw::connect(redis.port));
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for raw in [&mut ours, &mut theirs] {
        call(raw, &s(&["HELLO", "3"]));
    }
    let mut mismatches = Vec::new();
    for q in [
        s(&["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]),
        s(&["GEOPOS", "Sicily", "Palermo", "Catania", "nope"]),
        s(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH"]),
        s(&["GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "500", "km", "WITHCOORD", "ASC"]),
        s(&["EVAL", "redis.setresp(3); return tostring(redis.call('GEOPOS', 'Sicily', 'Palermo')[1][1]['double'])", "0"]),
        s(&["EVAL", "return redis.call('GEOPOS', 'Sicily', 'Palermo')[1][2]", "0"]),
    ] {
        let (want, have) = (call(&mut theirs, &q), call(&mut ours, &q));
        if want != have {
            mismatches.push(format!("{}\n  redis : {:?}\n  ringkv: {:?}", q.join(" "), String::from_utf8_lossy(&want), String::from_utf8_lossy(&have)));
        }
    }
    common::assert_no_mismatches("geo resp3", &mismatches);
}
