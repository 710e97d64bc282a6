//! Round trips through the encoder and decoder, the decoders of Redis's compact encodings, and
//! hostile input.

use super::*;
use crate::shard::types::{
    Hash, HashLimits, List, NodeLimits, Set, SetLimits, Stream, StreamId, ZSet,
};
use crate::shard::{Db, Entry, Value};
use bytes::Bytes;
use proptest::prelude::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn sample_db() -> Db {
    let mut db = Db::default();
    let put = |db: &mut Db, key: &str, value: Value, expire_at: u64| {
        db.insert(
            key.as_bytes(),
            Entry {
                value,
                expire_at,
                touched: 0,
            },
        );
    };
    put(&mut db, "s", Value::Str(b("hello")), 0);
    put(&mut db, "t", Value::Str(b("x")), u64::MAX / 2);
    put(&mut db, "gone", Value::Str(b("x")), 1);
    let items: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let list = List::from_items(items.iter().map(|s| s.as_bytes()));
    put(&mut db, "l", Value::List(Box::new(list)), 0);
    let set = Set::from_members([&b"a"[..], b"b"], 2, &SetLimits::default());
    put(&mut db, "set", Value::Set(Box::new(set)), 0);
    let mut hash = Hash::default();
    hash.set(b"f", b"v", &HashLimits::default());
    put(&mut db, "h", Value::Hash(Box::new(hash)), 0);
    let mut zset = ZSet::new();
    zset.insert(b"m", 1.5);
    zset.insert(b"n", f64::NEG_INFINITY);
    put(&mut db, "z", Value::ZSet(Box::new(zset)), 0);
    db
}

fn file_of(db: &Db) -> Vec<u8> {
    let part = encode_db(db, 1000);
    let mut w = FileWriter::new("7.2.4", 0);
    w.database(2, &[&part]);
    w.finish()
}

#[test]
fn round_trip_keeps_every_type_and_expired_keys() {
    let file = file_of(&sample_db());
    let mut records = decode(&file).unwrap();
    records.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&[u8]> = records.iter().map(|r| &r.key[..]).collect();
    assert_eq!(keys, [&b"gone"[..], b"h", b"l", b"s", b"set", b"t", b"z"]);
    let gone = records.iter().find(|r| &r.key[..] == b"gone").unwrap();
    assert_eq!(gone.expire_at, 1);
    assert!(records.iter().all(|r| r.db == 2));
    let t = records.iter().find(|r| &r.key[..] == b"t").unwrap();
    assert_eq!(t.expire_at, u64::MAX / 2);
    let l = records.iter().find(|r| &r.key[..] == b"l").unwrap();
    match &l.value {
        Loaded::List(items) => {
            assert_eq!(items.len(), 300);
            assert_eq!(&items[299][..], b"v299");
        }
        other => panic!("{other:?}"),
    }
    let z = records.iter().find(|r| &r.key[..] == b"z").unwrap();
    assert_eq!(
        z.value,
        Loaded::ZSet(vec![(b("n"), f64::NEG_INFINITY), (b("m"), 1.5)])
    );
}

#[test]
fn checksum_and_signature_are_checked() {
    let mut file = file_of(&sample_db());
    let at = file.len() - 20;
    file[at] ^= 1;
    let e = decode(&file).unwrap_err();
    assert!(e.starts_with("Wrong RDB checksum expected: ("), "{e}");
    assert!(e.contains("RDB CRC error (at byte offset "), "{e}");
    assert!(decode(b"RUBIS0010\xff").is_err());
    assert!(decode(b"REDIS0099\xff").unwrap_err().contains("version 99"));
}

#[test]
fn an_lzf_string_claiming_more_than_lzf_can_expand_is_refused() {
    // String record, key "k", LZF (0xC3) of 3 bytes claiming 265 plain bytes (LZF gives at
    // most 88 per input byte).
    let mut f = b"REDIS0010".to_vec();
    f.extend([TYPE_STRING, 1, b'k', 0xC3, 3, 0x41, 0x09, 0xE0, 0xFF, 0]);
    f.push(OP_EOF);
    f.extend([0; 8]);
    let e = decode(&f).unwrap_err();
    assert!(e.starts_with("Invalid LZF compressed string"), "{e}");
}

#[test]
fn lzf_back_references_may_overlap() {
    // literal "ab", then a back reference of length 4 at distance 2: "ababab".
    let input = [1, b'a', b'b', (2 << 5), 1];
    assert_eq!(lzf::decompress(&input, 6).unwrap(), b"ababab");
    assert!(lzf::decompress(&input, 7).is_none());
    assert!(lzf::decompress(&[(2 << 5), 9], 4).is_none());
}

/// A listpack holding 7 (7-bit int), "hi" (6-bit string), -2 (13-bit int), 1000000 (int32).
fn sample_listpack() -> Vec<u8> {
    let mut lp = vec![0, 0, 0, 0, 4, 0];
    lp.extend([7, 1]);
    lp.extend([0x80 | 2, b'h', b'i', 3]);
    lp.extend([0xC0 | 0x1f, 0xfe, 2]);
    lp.extend([0xF3, 0x40, 0x42, 0x0f, 0x00, 5]);
    lp.push(0xFF);
    let len = lp.len() as u32;
    lp[..4].copy_from_slice(&len.to_le_bytes());
    lp
}

#[test]
fn listpack_and_intset_decode() {
    let items = decode::listpack(&sample_listpack()).unwrap();
    let text: Vec<&[u8]> = items.iter().map(|i| &i[..]).collect();
    assert_eq!(text, [&b"7"[..], b"hi", b"-2", b"1000000"]);
    let mut intset = vec![];
    intset.extend(4u32.to_le_bytes());
    intset.extend(2u32.to_le_bytes());
    intset.extend((-5i32).to_le_bytes());
    intset.extend(70000i32.to_le_bytes());
    let members = decode::intset(&intset).unwrap();
    assert_eq!(members, [b("-5"), b("70000")]);
    assert!(decode::intset(&intset[..10]).is_err());
}

fn fields(pairs: &[&str]) -> crate::shard::types::Fields {
    pairs.iter().map(|s| b(s)).collect()
}

/// A stream with two nodes, a deletion, different field sets, a group with pending entries
/// owned by two consumers, and a second group with unknown entries-read.
fn sample_stream() -> Stream {
    let limits = NodeLimits {
        entries: 3,
        bytes: 4096,
    };
    let mut s = Stream::default();
    for i in 1..=7u64 {
        let f = if i % 3 == 0 {
            fields(&["other", "x", "n", "-5"])
        } else {
            fields(&["a", &i.to_string(), "b", "some text"])
        };
        s.append(StreamId::new(1000 + i, i), f, limits);
    }
    s.delete(&[StreamId::new(1002, 2), StreamId::new(1007, 7)]);
    s.create_group(b"g1", StreamId::new(1005, 5), Some(4));
    s.create_group(b"g2", StreamId::MIN, None);
    let g = s.groups.get_mut(&b"g1"[..]).unwrap();
    g.create_consumer(b"alice", 111);
    g.create_consumer(b"bob", 222);
    g.create_consumer(b"idle", 333);
    g.assign(StreamId::new(1001, 1), &b("alice"), 500)
        .delivery_count = 3;
    g.assign(StreamId::new(1004, 4), &b("bob"), 600);
    g.assign(StreamId::new(1005, 5), &b("alice"), 700);
    for c in g.consumers.values_mut() {
        c.active_time = Some(c.seen_time);
    }
    s
}

/// Same entries in the same nodes, counters and groups (a node's count of deleted entries is
/// not kept: a file holds live entries only).
fn assert_same_stream(a: &Stream, b: &Stream) {
    let nodes = |s: &Stream| -> Vec<Vec<StreamId>> {
        s.nodes().map(|n| n.map(|(id, _)| id).collect()).collect()
    };
    assert_eq!(nodes(a), nodes(b));
    assert_eq!(
        a.range(StreamId::MIN, StreamId::MAX, 0, false),
        b.range(StreamId::MIN, StreamId::MAX, 0, false)
    );
    assert_eq!(
        (a.last_id, a.first_id, a.max_deleted_id, a.entries_added),
        (b.last_id, b.first_id, b.max_deleted_id, b.entries_added)
    );
    assert_eq!(a.groups, b.groups);
}

#[test]
fn streams_round_trip_with_groups_and_pending_entries() {
    let stream = sample_stream();
    let mut db = Db::default();
    db.insert(
        b"st",
        Entry {
            value: Value::Stream(Box::new(stream.clone())),
            expire_at: 0,
            touched: 0,
        },
    );
    let records = decode(&file_of(&db)).unwrap();
    let Loaded::Stream(loaded) = &records[0].value else {
        panic!("{:?}", records[0].value)
    };
    assert_same_stream(loaded, &stream);
    assert_eq!(loaded.len(), 5);
    assert_eq!(loaded.entries_added, 7);
    assert_eq!(loaded.max_deleted_id, StreamId::new(1007, 7));
    assert_eq!(loaded.groups[&b"g2"[..]].entries_read, None);
}

#[test]
fn dump_payloads_round_trip_and_are_checked() {
    let stream = sample_stream();
    let payload = dump_payload(crate::shard::ValueRef::Stream(&stream));
    assert_eq!(verify_payload(&payload), Some(10));
    let Loaded::Stream(loaded) = decode_payload(&payload).unwrap() else {
        panic!("not a stream")
    };
    assert_same_stream(&loaded, &stream);
    for at in 0..payload.len() {
        let mut bad = payload.clone();
        bad[at] ^= 0x20;
        assert_eq!(verify_payload(&bad), None, "flip at {at}");
    }
    assert_eq!(verify_payload(&payload[..9]), None);
    // A good checksum over a body that is not a value.
    let mut junk = vec![TYPE_STREAM_LISTPACKS_2, 1, 2, 3, 10, 0];
    let crc = CRC64.checksum(&junk);
    junk.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(verify_payload(&junk), Some(10));
    assert!(decode_payload(&junk).is_err());
}

/// A version-1 stream record (Redis 5–6.2) built by hand: one node, master entry with field
/// `f`, entry 5-1 with the same fields, entry 5-2 with its own fields, entry 5-3 deleted.
fn stream_v1_body() -> Vec<u8> {
    use super::listpack::ListpackWriter;
    let mut lp = ListpackWriter::default();
    for v in [2, 1, 1] {
        lp.int(v);
    }
    lp.string(b"f");
    lp.int(0);
    // 5-1: SAMEFIELDS, deltas 0 0, value, lp-count 1 + 3.
    for v in [2, 0, 0] {
        lp.int(v);
    }
    lp.string(b"v1");
    lp.int(4);
    // 5-2: own fields g=v2, lp-count 2 * 1 + 4.
    for v in [0, 0, 1, 1] {
        lp.int(v);
    }
    lp.string(b"g");
    lp.string(b"v2");
    lp.int(6);
    // 5-3 deleted, SAMEFIELDS.
    for v in [3, 0, 2] {
        lp.int(v);
    }
    lp.string(b"gone");
    lp.int(4);
    let lp = lp.finish();
    let mut body = vec![1u8];
    let mut key = vec![0u8; 16];
    key[7] = 5;
    key[15] = 1;
    encode::write_string(&mut body, &key);
    encode::write_string(&mut body, &lp);
    body.extend([2, 5, 3]); // length 2, last id 5-3
    body.push(1); // one group
    encode::write_string(&mut body, b"grp");
    body.extend([5, 1]); // last id 5-1
    body.push(1); // PEL: 5-1
    body.extend_from_slice(&key);
    body.extend_from_slice(&77u64.to_le_bytes());
    body.push(2);
    body.push(1); // one consumer
    encode::write_string(&mut body, b"c");
    body.extend_from_slice(&88u64.to_le_bytes());
    body.push(1);
    body.extend_from_slice(&key);
    body
}

#[test]
fn stream_listpacks_1_and_3_load() {
    let mut r = decode::Reader {
        data: &stream_v1_body(),
        pos: 0,
    };
    let s = r.stream(stream::Version::V1).unwrap();
    let ids: Vec<String> = s.nodes().flatten().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, ["5-1", "5-2"]);
    assert_eq!(
        &s.get(StreamId::new(5, 1)).unwrap()[..],
        &fields(&["f", "v1"])[..]
    );
    assert_eq!(
        &s.get(StreamId::new(5, 2)).unwrap()[..],
        &fields(&["g", "v2"])[..]
    );
    assert_eq!(
        (s.last_id, s.first_id, s.entries_added),
        (StreamId::new(5, 3), StreamId::new(5, 1), 2)
    );
    let g = &s.groups[&b"grp"[..]];
    assert_eq!(g.entries_read, Some(1));
    let nack = &g.pel[&StreamId::new(5, 1)];
    assert_eq!(
        (&nack.consumer[..], nack.delivery_time, nack.delivery_count),
        (&b"c"[..], 77, 2)
    );
    assert_eq!(g.consumers[&b"c"[..]].active_time, Some(88));

    // Version 3 is version 2 plus each consumer's active time after its seen time.
    let mut one = Stream::default();
    one.append(
        StreamId::new(9, 0),
        fields(&["k", "v"]),
        NodeLimits::default(),
    );
    one.create_group(b"g", StreamId::new(9, 0), Some(1));
    let g = one.groups.get_mut(&b"g"[..]).unwrap();
    g.create_consumer(b"c", 123_456_789);
    g.assign(StreamId::new(9, 0), &b("c"), 5);
    let mut v2 = Vec::new();
    stream::write_stream(&mut v2, &one);
    let seen = 123_456_789u64.to_le_bytes();
    let at = v2.windows(8).position(|w| w == seen).unwrap() + 8;
    let mut v3 = v2[..at].to_vec();
    v3.extend_from_slice(&999u64.to_le_bytes());
    v3.extend_from_slice(&v2[at..]);
    let s = decode::Reader { data: &v3, pos: 0 }
        .stream(stream::Version::V3)
        .unwrap();
    let c = &s.groups[&b"g"[..]].consumers[&b"c"[..]];
    assert_eq!((c.seen_time, c.active_time), (123_456_789, Some(999)));
    assert_eq!(
        s.groups[&b"g"[..]].pel[&StreamId::new(9, 0)].consumer,
        b("c")
    );
}

#[test]
fn corrupt_stream_records_are_errors() {
    let body = stream_v1_body();
    for cut in 0..body.len() {
        let r = decode::Reader {
            data: &body[..cut],
            pos: 0,
        }
        .stream(stream::Version::V1);
        assert!(r.is_err(), "cut at {cut}");
    }
    // The consumer's PEL names an ID the group's PEL lacks.
    let mut bad = body.clone();
    let last = bad.len() - 1;
    bad[last] = 9;
    let e = decode::Reader { data: &bad, pos: 0 }
        .stream(stream::Version::V1)
        .unwrap_err();
    assert!(e.contains("not found in group global PEL"), "{e}");
}

proptest! {
    #[test]
    fn hostile_files_give_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut file = b"REDIS0010".to_vec();
        file.extend(bytes);
        let _ = decode(&file);
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error(cut in 0usize..2000) {
        let file = file_of(&sample_db());
        let cut = cut % file.len();
        prop_assert!(decode(&file[..cut]).is_err());
    }

    #[test]
    fn corrupted_listpacks_do_not_panic(at in 0usize..20, byte in any::<u8>()) {
        let mut lp = sample_listpack();
        let at = at % lp.len();
        lp[at] = byte;
        let _ = decode::listpack(&lp);
    }
}

/// A ziplist of `items` (strings, or integers when they parse), as ziplist.c lays it out.
fn ziplist_of(items: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    for item in items {
        let mut entry = vec![prev as u8];
        match item.parse::<i64>() {
            Ok(v) if (0..=12).contains(&v) => entry.push(0xF1 + v as u8),
            Ok(v) => {
                entry.push(0xC0);
                entry.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Err(_) => {
                entry.push(item.len() as u8);
                entry.extend_from_slice(item.as_bytes());
            }
        }
        prev = entry.len();
        body.extend_from_slice(&entry);
    }
    let mut out = ((body.len() + 11) as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&10u32.to_le_bytes());
    out.extend_from_slice(&(items.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(0xFF);
    out
}

/// An RDB 9 file as Redis 5–6.2 wrote it: a zipmap hash (from 2.4), ziplist list, hash and
/// sorted set, a quicklist of two ziplists, and a version-1 stream, plus a module AUX field
/// and a function library to skip.
fn legacy_file() -> Vec<u8> {
    let mut f = b"REDIS0009".to_vec();
    f.push(OP_AUX);
    encode::write_string(&mut f, b"redis-ver");
    encode::write_string(&mut f, b"6.2.14");
    f.push(OP_MODULE_AUX);
    f.extend([0x81, 0, 0, 0, 0, 0, 0, 0, 7]); // module id
    f.extend([2, 2]); // when_opcode UINT, when
    f.extend([5, 3, b'a', b'b', b'c', 1, 9, 0]); // a string, an int, EOF
    f.push(OP_FUNCTION2);
    encode::write_string(
        &mut f,
        b"#!lua name=lib\nredis.register_function('f', function() end)",
    );
    f.extend([OP_SELECTDB, 0]);
    let zipmap = vec![1u8, 1, b'f', 2, 0, b'v', b'1', 0xFF];
    let records: [(u8, &str, Vec<u8>); 5] = [
        (TYPE_HASH_ZIPMAP, "zm", zipmap),
        (TYPE_LIST_ZIPLIST, "zl", ziplist_of(&["a", "7", "-300"])),
        (TYPE_HASH_ZIPLIST, "zh", ziplist_of(&["f", "v", "n", "12"])),
        (TYPE_ZSET_ZIPLIST, "zz", ziplist_of(&["m", "1", "n", "-2"])),
        (TYPE_SET_INTSET, "is", {
            let mut i = 2u32.to_le_bytes().to_vec();
            i.extend(1u32.to_le_bytes());
            i.extend(5i16.to_le_bytes());
            i
        }),
    ];
    for (kind, key, blob) in records {
        f.push(kind);
        encode::write_string(&mut f, key.as_bytes());
        encode::write_string(&mut f, &blob);
    }
    f.push(TYPE_LIST_QUICKLIST);
    encode::write_string(&mut f, b"ql");
    f.push(2);
    encode::write_string(&mut f, &ziplist_of(&["x", "y"]));
    encode::write_string(&mut f, &ziplist_of(&["1000"]));
    f.push(TYPE_STREAM_LISTPACKS);
    encode::write_string(&mut f, b"st");
    f.extend(stream_v1_body());
    f.push(OP_EOF);
    let crc = CRC64.checksum(&f);
    f.extend(crc.to_le_bytes());
    f
}

#[test]
fn files_from_redis_6_and_older_load() {
    let records = decode(&legacy_file()).unwrap();
    let by_key = |k: &str| {
        &records
            .iter()
            .find(|r| &r.key[..] == k.as_bytes())
            .unwrap()
            .value
    };
    assert_eq!(*by_key("zm"), Loaded::Hash(vec![(b("f"), b("v1"))]));
    assert_eq!(*by_key("zl"), Loaded::List(vec![b("a"), b("7"), b("-300")]));
    assert_eq!(
        *by_key("zh"),
        Loaded::Hash(vec![(b("f"), b("v")), (b("n"), b("12"))])
    );
    assert_eq!(
        *by_key("zz"),
        Loaded::ZSet(vec![(b("m"), 1.0), (b("n"), -2.0)])
    );
    assert_eq!(*by_key("is"), Loaded::Set(vec![b("5")]));
    assert_eq!(*by_key("ql"), Loaded::List(vec![b("x"), b("y"), b("1000")]));
    let Loaded::Stream(s) = by_key("st") else {
        panic!("not a stream")
    };
    assert_eq!(s.len(), 2);
    assert_eq!(records.len(), 7);
}

#[test]
fn a_corrupt_record_names_its_offset() {
    let mut file = legacy_file();
    let at = file.windows(2).position(|w| w == b"zl").unwrap() + 2;
    // The ziplist's length prefix now runs past the file's end.
    file[at] = 0x3f;
    let e = decode(&file).unwrap_err();
    let end = at + 1 + 0x3f;
    assert_eq!(
        e,
        format!("Ziplist integrity check failed. (at byte offset {end})")
    );
}

#[test]
fn function_payloads_round_trip_and_read_the_old_format() {
    let libraries = vec![b("#!lua name=a\nreturn 1"), b("#!lua name=b\nreturn 2")];
    let payload = functions_payload(&libraries);
    assert_eq!(verify_payload(&payload), Some(VERSION as u16));
    assert_eq!(decode_functions(&payload), Ok(libraries));
    // 7.0's release candidates: name, engine, no description, body.
    let mut old = vec![OP_FUNCTION];
    for s in ["x", "LUA"] {
        encode::write_string(&mut old, s.as_bytes());
    }
    old.push(0);
    encode::write_string(&mut old, b"return 3");
    old.extend_from_slice(&10u16.to_le_bytes());
    let crc = CRC64.checksum(&old);
    old.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode_functions(&old),
        Ok(vec![b("#!LUA name=x\nreturn 3")])
    );
    // Something else than a library, or a library cut short, is refused.
    let mut other = functions_payload(&[]);
    other.insert(0, TYPE_STRING);
    assert!(decode_functions(&other).is_err());
    let mut short = vec![OP_FUNCTION2, 0x80, 0x7F, 0xFF, 0xFF, 0xFF];
    short.extend_from_slice(&10u16.to_le_bytes());
    let crc = CRC64.checksum(&short);
    short.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode_functions(&short),
        Err("Failed loading library payload")
    );
}
