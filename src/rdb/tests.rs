//! Round trips through the encoder and decoder, the decoders of Redis's compact encodings, and
//! hostile input.

use super::*;
use crate::shard::types::{Hash, HashLimits, List, Set, SetLimits, ZSet};
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
fn round_trip_keeps_every_type_and_skips_expired_keys() {
    let file = file_of(&sample_db());
    let mut records = decode(&file).unwrap();
    records.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&[u8]> = records.iter().map(|r| &r.key[..]).collect();
    assert_eq!(keys, [&b"h"[..], b"l", b"s", b"set", b"t", b"z"]);
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
    assert_eq!(decode(&file).unwrap_err(), "Wrong RDB checksum");
    assert!(decode(b"RUBIS0010\xff").is_err());
    assert!(decode(b"REDIS0099\xff").unwrap_err().contains("version 99"));
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
