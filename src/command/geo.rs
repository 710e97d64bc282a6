//! GEO commands over sorted sets whose scores are 52-bit geohashes: GEOADD, GEODIST, GEOHASH,
//! GEOPOS, GEORADIUS(BYMEMBER)(_RO), GEOSEARCH, GEOSEARCHSTORE. The arithmetic is `hash`; a
//! search with a destination on another shard holds both shards, searches on the source's and
//! stores on the destination's.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::args::{parse_float, parse_int, FloatRule};
use super::table::{access, flags, keyed, routine, row, CommandSpec, KeyFinder, KEY1};
use super::zset::store_result;
use super::{err, error, read_as, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::shard::types::ZSet;
use crate::shard::{Shard, ShardId};

pub mod hash;

use hash::{Search, Shape};

/// The rows of the GEO commands.
pub static COMMANDS: &[CommandSpec] = &[
    row("geoadd", -5, flags!(WRITE | DENYOOM), KEY1, keyed(geoadd), "geo", "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", "key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]"),
    row("geodist", -4, flags!(READONLY), KEY1, keyed(geodist), "geo", "3.2.0", "Returns the distance between two members of a geospatial index.", "key member1 member2 [M|KM|FT|MI]"),
    row("geohash", -2, flags!(READONLY), KEY1, keyed(geohash), "geo", "3.2.0", "Returns members from a geospatial index as geohash strings.", "key [member [member ...]]"),
    row("geopos", -2, flags!(READONLY), KEY1, keyed(geopos), "geo", "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", "key [member [member ...]]"),
    row("georadius", -6, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(georadius), "geo", "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]").keys_by(KeyFinder::Custom(georadius_keys)).access_split(access!(RO | ACCESS), access!(OW | UPDATE)),
    row("georadius_ro", -6, flags!(READONLY), KEY1, keyed(georadius_ro), "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate.", "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]"),
    row("georadiusbymember", -5, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(georadiusbymember), "geo", "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]").keys_by(KeyFinder::Custom(georadiusbymember_keys)).access_split(access!(RO | ACCESS), access!(OW | UPDATE)),
    row("georadiusbymember_ro", -5, flags!(READONLY), KEY1, keyed(georadiusbymember_ro), "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a member.", "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]"),
    row("geosearch", -7, flags!(READONLY), KEY1, keyed(geosearch), "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", "key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]"),
    row("geosearchstore", -8, flags!(WRITE | DENYOOM), (1, 2, 1), routine(geosearchstore, geosearchstore_cross), "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "destination source FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [STOREDIST]").access_split(access!(OW | UPDATE), access!(RO | ACCESS)),
];

/// The keys after a STORE and a STOREDIST keyword from `from` on, as Redis 7.0's key specs
/// find them (the first of each): COMMAND GETKEYS and ACL key checks.
fn spec_store_keys(items: &[Bytes], from: usize) -> Option<Vec<usize>> {
    let first_after = |word: &[u8]| {
        (from..items.len())
            .find(|&i| items[i].eq_ignore_ascii_case(word))
            .map(|i| i + 1)
            .filter(|&k| k < items.len())
    };
    Some(
        first_after(b"store")
            .into_iter()
            .chain(first_after(b"storedist"))
            .collect(),
    )
}

fn georadius_keys(items: &[Bytes]) -> Option<Vec<usize>> {
    spec_store_keys(items, 6)
}

fn georadiusbymember_keys(items: &[Bytes]) -> Option<Vec<usize>> {
    spec_store_keys(items, 5)
}

/// Every argument that may end up the destination of GEORADIUS(BYMEMBER): each one after a
/// STORE or STOREDIST word (which one wins is the option parser's business; holding them all
/// keeps it free to choose).
fn possible_destinations(items: &[Bytes]) -> Vec<usize> {
    (5..items.len().saturating_sub(1))
        .filter(|&i| {
            items[i].eq_ignore_ascii_case(b"store") || items[i].eq_ignore_ascii_case(b"storedist")
        })
        .map(|i| i + 1)
        .collect()
}

fn float_or(raw: &[u8], text: &'static str) -> Result<f64, Reply> {
    parse_float(raw, FloatRule::Double).ok_or_else(|| error(text))
}

/// A longitude, latitude pair inside the ranges a geohash covers.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let lon = float_or(lon, err::NOT_FLOAT)?;
    let lat = float_or(lat, err::NOT_FLOAT)?;
    if !(hash::LONG_MIN..=hash::LONG_MAX).contains(&lon)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&lat)
    {
        return Err(err::geo_bad_pair(lon, lat));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(raw: &[u8]) -> Result<f64, Reply> {
    Ok(match raw.to_ascii_lowercase().as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => return Err(error(err::GEO_UNIT)),
    })
}

/// Redis's addReplyDoubleDistance: rounded to 4 decimals (ties to even) in fixed point.
fn distance_text(d: f64) -> Bytes {
    if d == 0.0 {
        return Bytes::from_static(b"0.0000");
    }
    let v = (d * 10000.0).round_ties_even() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let v = v.unsigned_abs();
    Bytes::from(format!("{sign}{}.{:04}", v / 10000, v % 10000))
}

/// Redis's human long double text (`%.17Lf` without trailing zeros), for coordinates.
fn coord_text(x: f64) -> Bytes {
    let mut s = format!("{x:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    Bytes::from(s)
}

pub fn geoadd(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let items = args.all();
    let (mut nx, mut xx) = (false, false);
    let mut at = 2;
    while at < items.len() {
        match items[at].to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => {}
            _ => break,
        }
        at += 1;
    }
    if !(items.len() - at).is_multiple_of(3) || (nx && xx) {
        return Err(error(err::SYNTAX));
    }
    let mut zadd: Vec<Bytes> = Vec::with_capacity(at + (items.len() - at) / 3 * 2);
    zadd.push(Bytes::from_static(b"zadd"));
    zadd.extend(items[1..at].iter().cloned());
    for triple in items[at..].chunks_exact(3) {
        let (lon, lat) = lon_lat(&triple[0], &triple[1])?;
        let score = hash::score_of(lon, lat).unwrap_or(0);
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(triple[2].clone());
    }
    super::zset::zadd(shard, &mut Args::plain(zadd))
}

pub fn geodist(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let items = args.all();
    let to_meters = match items.len() {
        4 => 1.0,
        5 => unit(&items[4])?,
        _ => return Err(error(err::SYNTAX)),
    };
    let Some(z) = read_as::<ZSet>(shard, &items[1])? else {
        return Ok(Reply::Nil);
    };
    let (Some(a), Some(b)) = (z.score(&items[2]), z.score(&items[3])) else {
        return Ok(Reply::Nil);
    };
    let (a, b) = (hash::point_of(a), hash::point_of(b));
    Ok(Reply::Bulk(distance_text(
        hash::distance(a.0, a.1, b.0, b.1) / to_meters,
    )))
}

pub fn geohash(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let z = read_as::<ZSet>(shard, &key)?;
    let out = args
        .rest()
        .iter()
        .map(|m| match z.and_then(|z| z.score(m)) {
            Some(score) => Reply::Bulk(Bytes::copy_from_slice(&hash::text_hash(score))),
            None => Reply::Nil,
        })
        .collect();
    Ok(Reply::Array(out))
}

pub fn geopos(shard: &mut Shard, args: &mut Args) -> CmdResult {
    let key = args.next()?;
    let z = read_as::<ZSet>(shard, &key)?;
    let out = args
        .rest()
        .iter()
        .map(|m| match z.and_then(|z| z.score(m)) {
            Some(score) => {
                let (lon, lat) = hash::point_of(score);
                Reply::Array(vec![
                    Reply::DoubleText(coord_text(lon)),
                    Reply::DoubleText(coord_text(lat)),
                ])
            }
            None => Reply::NilArray,
        })
        .collect();
    Ok(Reply::Array(out))
}

/// Which search command runs (Redis's georadiusGeneric flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Radius { store: bool },
    ByMember { store: bool },
    Search,
    SearchStore,
}

/// What a search ends in: a reply, or members to store at a destination.
enum Outcome {
    Reply(Reply),
    Store {
        dest: Bytes,
        items: Vec<(Bytes, f64)>,
        event: &'static str,
    },
}

/// One match: member, distance in metres, score, coordinates.
struct Point {
    member: Bytes,
    dist: f64,
    score: f64,
    lon: f64,
    lat: f64,
}

fn radius(raw: &[Bytes]) -> Result<(f64, f64), Reply> {
    let r = float_or(&raw[0], err::GEO_NEED_RADIUS)?;
    if r < 0.0 {
        return Err(error(err::GEO_NEGATIVE_RADIUS));
    }
    Ok((r, unit(&raw[1])?))
}

/// Parses and runs a search on the shard holding its source, in Redis's order of checks.
fn search(shard: &mut Shard, items: &[Bytes], variant: Variant) -> Result<Outcome, Reply> {
    let src = if variant == Variant::SearchStore {
        &items[2]
    } else {
        &items[1]
    };
    let z = read_as::<ZSet>(shard, src)?;
    let mut centre = None;
    let mut shape = None;
    let mut conversion = 1.0;
    let mut store: Option<Bytes> = None;
    let base = match variant {
        Variant::Radius { .. } => {
            centre = Some(lon_lat(&items[2], &items[3])?);
            let (r, c) = radius(&items[4..6])?;
            (shape, conversion) = (Some(Shape::Radius(r)), c);
            6
        }
        Variant::ByMember { .. } => {
            if let Some(z) = z {
                let score = z
                    .score(&items[2])
                    .ok_or_else(|| error(err::GEO_NO_MEMBER))?;
                centre = Some(hash::point_of(score));
                let (r, c) = radius(&items[3..5])?;
                (shape, conversion) = (Some(Shape::Radius(r)), c);
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            store = Some(items[1].clone());
            3
        }
    };
    let is_search = matches!(variant, Variant::Search | Variant::SearchStore);
    let can_store = matches!(
        variant,
        Variant::Radius { store: true } | Variant::ByMember { store: true }
    );
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort: Option<bool> = None;
    let mut count: i64 = 0;
    let mut storedist = false;
    let rest = &items[base.min(items.len())..];
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].to_ascii_lowercase();
        let left = rest.len() - i - 1;
        match arg.as_slice() {
            b"withdist" => withdist = true,
            b"withhash" => withhash = true,
            b"withcoord" => withcoord = true,
            b"any" => any = true,
            b"asc" => sort = Some(true),
            b"desc" => sort = Some(false),
            b"count" if left >= 1 => {
                count = parse_int(&rest[i + 1]).ok_or_else(|| error(err::NOT_INT))?;
                if count <= 0 {
                    return Err(error(err::COUNT_NOT_ABOVE_ZERO));
                }
                i += 1;
            }
            b"store" | b"storedist" if left >= 1 && can_store => {
                store = Some(rest[i + 1].clone());
                storedist = arg == b"storedist";
                i += 1;
            }
            b"storedist" if variant == Variant::SearchStore => storedist = true,
            b"frommember" if left >= 1 && is_search && !fromloc => {
                if let Some(z) = z {
                    let score = z
                        .score(&rest[i + 1])
                        .ok_or_else(|| error(err::GEO_NO_MEMBER))?;
                    centre = Some(hash::point_of(score));
                }
                frommember = true;
                i += 1;
            }
            b"fromlonlat" if left >= 2 && is_search && !frommember => {
                centre = Some(lon_lat(&rest[i + 1], &rest[i + 2])?);
                fromloc = true;
                i += 2;
            }
            b"byradius" if left >= 2 && is_search && !bybox => {
                let (r, c) = radius(&rest[i + 1..i + 3])?;
                (shape, conversion) = (Some(Shape::Radius(r)), c);
                byradius = true;
                i += 2;
            }
            b"bybox" if left >= 3 && is_search && !byradius => {
                let w = float_or(&rest[i + 1], err::GEO_NEED_WIDTH)?;
                let h = float_or(&rest[i + 2], err::GEO_NEED_HEIGHT)?;
                if w < 0.0 || h < 0.0 {
                    return Err(error(err::GEO_NEGATIVE_BOX));
                }
                conversion = unit(&rest[i + 3])?;
                shape = Some(Shape::Box(w, h));
                bybox = true;
                i += 3;
            }
            _ => return Err(error(err::SYNTAX)),
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        return Err(err::geo_store_with(variant == Variant::SearchStore));
    }
    if is_search && !(frommember || fromloc) {
        return Err(err::geo_need_from(&items[0]));
    }
    if is_search && !(byradius || bybox) {
        return Err(err::geo_need_by(&items[0]));
    }
    if any && count == 0 {
        return Err(error(err::GEO_ANY_COUNT));
    }
    let event = if is_search {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let (Some(z), Some((lon, lat)), Some(shape)) = (z, centre, shape) else {
        return Ok(match store {
            Some(dest) => Outcome::Store {
                dest,
                items: Vec::new(),
                event,
            },
            None => Outcome::Reply(Reply::Array(Vec::new())),
        });
    };
    if count != 0 && sort.is_none() && !any {
        sort = Some(true);
    }
    let query = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut points = collect(z, &query, limit);
    if let Some(asc) = sort {
        // Stable, as glibc's qsort (a merge sort) is for these sizes.
        points.sort_by(|a, b| {
            let o = a
                .dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal);
            if asc {
                o
            } else {
                o.reverse()
            }
        });
    }
    if count > 0 {
        points.truncate(count as usize);
    }
    for p in &mut points {
        p.dist /= conversion;
    }
    if let Some(dest) = store {
        let items = points
            .into_iter()
            .map(|p| (p.member, if storedist { p.dist } else { p.score }))
            .collect();
        return Ok(Outcome::Store { dest, items, event });
    }
    let extra = withdist as usize + withhash as usize + withcoord as usize;
    let out = points
        .into_iter()
        .map(|p| {
            if extra == 0 {
                return Reply::Bulk(p.member);
            }
            let mut e = vec![Reply::Bulk(p.member)];
            if withdist {
                e.push(Reply::Bulk(distance_text(p.dist)));
            }
            if withhash {
                e.push(Reply::Int(p.score as i64));
            }
            if withcoord {
                e.push(Reply::Array(vec![
                    Reply::DoubleText(coord_text(p.lon)),
                    Reply::DoubleText(coord_text(p.lat)),
                ]));
            }
            Reply::Array(e)
        })
        .collect();
    Ok(Outcome::Reply(Reply::Array(out)))
}

/// The members inside the search's shape, cell by cell in Redis's order; with `limit` (ANY),
/// stops once that many are found.
fn collect(z: &ZSet, query: &Search, limit: usize) -> Vec<Point> {
    let cells = query.cells();
    let mut out = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if last.is_some_and(|l| l > 0 && cells[l] == *cell) {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        let min = cell.align52() as f64;
        let max = hash::Cell {
            bits: cell.bits + 1,
            step: cell.step,
        }
        .align52() as f64;
        let start = z.count_while(|s, _| s < min);
        let end = z.count_while(|s, _| s < max);
        for (member, score) in z.range(start, end, false) {
            let (lon, lat) = hash::point_of(score);
            if let Some(dist) = query.contains(lon, lat) {
                out.push(Point {
                    member,
                    dist,
                    score,
                    lon,
                    lat,
                });
            }
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        last = Some(i);
    }
    out
}

/// Runs a search on one shard, storing there too when it stores.
fn search_here(shard: &mut Shard, args: &Args, variant: Variant) -> CmdResult {
    match search(shard, args.all(), variant)? {
        Outcome::Reply(r) => Ok(r),
        Outcome::Store { dest, items, event } => Ok(store_result(shard, &dest, items, event)),
    }
}

/// A search that may store, holding its source's shard and its destination's.
async fn search_across(
    session: &mut Session,
    args: Args,
    variant: Variant,
    src_at: usize,
) -> CmdResult {
    let items = args.into_items();
    let db = session.db;
    let src_shard = session.router.shard_of(&items[src_at]);
    let mut shards: Vec<ShardId> = vec![src_shard];
    let destinations = if variant == Variant::SearchStore {
        vec![1]
    } else {
        possible_destinations(&items)
    };
    shards.extend(
        destinations
            .iter()
            .map(|&d| session.router.shard_of(&items[d])),
    );
    let holding = session.router.hold(&shards).await;
    let gone = || error(err::SHARD_GONE);
    let outcome = holding
        .run(src_shard, move |s| {
            s.select(db);
            search(s, &items, variant)
        })
        .await
        .ok_or_else(gone)??;
    match outcome {
        Outcome::Reply(r) => Ok(r),
        Outcome::Store { dest, items, event } => {
            let dest_shard = session.router.shard_of(&dest);
            holding
                .run(dest_shard, move |s| {
                    s.select(db);
                    store_result(s, &dest, items, event)
                })
                .await
                .ok_or_else(gone)
        }
    }
}

type Routine<'a> = Pin<Box<dyn Future<Output = CmdResult> + 'a>>;

/// GEORADIUS(BYMEMBER) route themselves: their STORE key is outside the key range the
/// dispatcher routes by, so the source's shard and the destination's are held here.
pub fn georadius(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(search_across(
        session,
        args,
        Variant::Radius { store: true },
        1,
    ))
}

pub fn georadius_ro(shard: &mut Shard, args: &mut Args) -> CmdResult {
    search_here(shard, args, Variant::Radius { store: false })
}

pub fn georadiusbymember(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(search_across(
        session,
        args,
        Variant::ByMember { store: true },
        1,
    ))
}

pub fn georadiusbymember_ro(shard: &mut Shard, args: &mut Args) -> CmdResult {
    search_here(shard, args, Variant::ByMember { store: false })
}

pub fn geosearch(shard: &mut Shard, args: &mut Args) -> CmdResult {
    search_here(shard, args, Variant::Search)
}

pub fn geosearchstore(shard: &mut Shard, args: &mut Args) -> CmdResult {
    search_here(shard, args, Variant::SearchStore)
}

pub fn geosearchstore_cross(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(search_across(session, args, Variant::SearchStore, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_as_redis_prints_them() {
        assert_eq!(&distance_text(166274.15156960033)[..], b"166274.1516");
        assert_eq!(&distance_text(0.0)[..], b"0.0000");
        assert_eq!(&distance_text(0.00004)[..], b"0.0000");
        assert_eq!(&coord_text(13.361389338970184)[..], b"13.36138933897018433");
        assert_eq!(&coord_text(-90.0)[..], b"-90");
    }
}
