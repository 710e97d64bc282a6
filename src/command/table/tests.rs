use super::*;

#[test]
fn lookup_is_case_insensitive_and_the_last_name_memo_never_answers_another_name() {
    // On a fresh thread (nothing found yet), the empty name is unknown.
    assert!(std::thread::spawn(|| lookup(b"").is_none()).join().unwrap());
    let get = lookup(b"get").unwrap().0;
    let set = lookup(b"set").unwrap().0;
    assert_ne!(get, set);
    for _ in 0..2 {
        assert_eq!(lookup(b"GET").map(|f| f.0), Some(get));
        assert_eq!(lookup(b"GeT").map(|f| f.0), Some(get));
        assert_eq!(lookup(b"set").map(|f| f.0), Some(set));
    }
    assert!(lookup(b"ge").is_none());
    assert!(lookup(b"gett").is_none());
    assert!(lookup(b"").is_none());
    assert!(lookup(&[b'a'; 40]).is_none());
    assert_eq!(lookup(b"get").map(|f| f.0), Some(get));
}

/// Checks one row (or subcommand row) against the table's invariants.
fn check_row(c: &'static CommandSpec) {
    assert_eq!(c.name, c.name.to_ascii_lowercase());
    assert_ne!(c.arity, 0, "{}", c.name);
    let (first, last, step) = c.keys;
    if first > 0 {
        assert!(step > 0, "{}", c.name);
        // SUNSUBSCRIBE (arity -1) names its optional channels as keys.
        assert!(
            first < c.arity.abs() || (c.arity < 0 && first == -c.arity),
            "{}: first key outside arity",
            c.name
        );
        assert!(last < 0 || last >= first, "{}", c.name);
        if c.arity > 0 && last > 0 {
            assert!(last < c.arity, "{}", c.name);
        }
    }
    if let KeyFinder::NumKeys(at) = c.finder {
        assert!(
            at < c.arity.unsigned_abs() as usize,
            "{}: numkeys outside arity",
            c.name
        );
    }
    if let Kind::Keyed(..) = c.kind {
        assert!(first > 0, "{} is keyed but has no key", c.name);
    }
    assert!(
        !(c.has(Flags::WRITE) && c.has(Flags::READONLY)),
        "{}",
        c.name
    );
    assert_eq!(c.writes(), c.has(Flags::WRITE));
}

#[test]
fn table_is_consistent() {
    let mut names = std::collections::HashSet::new();
    for (i, c) in COMMANDS.iter().copied().enumerate() {
        assert!(names.insert(c.name), "duplicate {}", c.name);
        assert!(!c.name.contains('|'), "{}", c.name);
        check_row(c);
        assert_eq!(
            lookup(c.name.to_ascii_uppercase().as_bytes()).map(|x| x.0),
            Some(i)
        );
        for sub in c.subcommands {
            assert!(names.insert(sub.name), "duplicate {}", sub.name);
            assert_eq!(sub.name, format!("{}|{}", c.name, sub.sub_name()));
            assert!(sub.subcommands.is_empty(), "{}", sub.name);
            check_row(sub);
            // Reachable: a call naming it (any case) runs as it.
            let call = [
                Bytes::from(c.name.to_ascii_uppercase()),
                Bytes::from(sub.sub_name().to_ascii_uppercase()),
            ];
            assert!(std::ptr::eq(c.resolve(&call), sub), "{}", sub.name);
            // Its ACL id is derived: the catalog knows it and the call maps to it.
            let id = crate::command::access::catalog::id_of(sub.name.as_bytes()).expect(sub.name);
            assert_eq!(
                crate::command::access::catalog::id_for_call(i, c, Some(&call[1])),
                id,
                "{}",
                sub.name
            );
        }
        if c.is_container() {
            // An unknown subcommand runs as the container, which answers it.
            let call = [Bytes::from(c.name), Bytes::from_static(b"no-such-sub")];
            assert!(std::ptr::eq(c.resolve(&call), c));
        }
    }
    assert!(lookup(b"nosuchcommand").is_none());
    assert!(lookup(&[b'a'; 100]).is_none());
}

#[test]
fn the_acl_catalog_is_the_table_and_nothing_else() {
    use crate::command::access::catalog;
    let subs: usize = COMMANDS.iter().map(|c| c.subcommands.len()).sum();
    assert_eq!(catalog::count(), COMMANDS.len() + subs);
    for (id, entry) in catalog::ENTRIES.iter().enumerate() {
        assert_eq!(catalog::id_of(entry.fullname.as_bytes()), Some(id));
        assert!(std::ptr::eq(
            named_in_table(entry.fullname).expect(entry.fullname),
            entry.spec
        ));
    }
    // Implemented subcommands have ids; unimplemented ones do not.
    assert!(catalog::id_of(b"client|setinfo").is_some());
    assert!(catalog::id_of(b"client|no-touch").is_some());
    assert!(catalog::id_of(b"client|pause").is_some());
    assert!(catalog::id_of(b"client|tracking").is_some());
    // Categories: family, flags, explicit extras, none for a container itself.
    let cats = |name: &str| {
        Categories::from_bits(catalog::ENTRIES[catalog::id_of(name.as_bytes()).unwrap()].categories)
            .names()
            .collect::<Vec<_>>()
    };
    assert_eq!(cats("lpush"), ["write", "list", "fast"]);
    assert_eq!(cats("hgetall"), ["read", "hash", "slow"]);
    assert_eq!(cats("keys"), ["keyspace", "read", "slow", "dangerous"]);
    assert_eq!(cats("config"), ["slow"]);
    assert_eq!(cats("config|get"), ["admin", "slow", "dangerous"]);
    assert_eq!(cats("object|encoding"), ["keyspace", "read", "slow"]);
    assert_eq!(cats("memory|usage"), ["read", "slow"]);
    assert_eq!(cats("eval_ro"), ["slow", "scripting"]);
    assert_eq!(cats("blpop"), ["write", "list", "slow", "blocking"]);
}

/// A row or subcommand row by full name, straight from the table.
fn named_in_table(name: &str) -> Option<&'static CommandSpec> {
    let (row, sub) = match name.split_once('|') {
        Some((row, sub)) => (row, Some(sub)),
        None => (name, None),
    };
    let spec = COMMANDS.iter().copied().find(|c| c.name == row)?;
    match sub {
        Some(sub) => spec.subcommand(sub.as_bytes()),
        None => Some(spec),
    }
}

#[test]
fn flags_are_bits_and_only_redis_flags_are_shown() {
    let (_, lpush) = lookup(b"lpush").unwrap();
    assert!(lpush.has(Flags::WRITE) && lpush.has(Flags::DENYOOM | Flags::FAST));
    assert!(!lpush.has(Flags::READONLY));
    assert_eq!(
        lpush.flags.names().collect::<Vec<_>>(),
        ["write", "denyoom", "fast"]
    );
    let (_, ping) = lookup(b"ping").unwrap();
    assert!(ping.has(Flags::SUBSCRIBED));
    assert!(!ping.flags.names().any(|n| n.contains("subscribed")));
    let (_, exec) = lookup(b"exec").unwrap();
    assert!(exec.has(Flags::NOT_QUEUED) && exec.has(Flags::ENDS_MULTI));
    let (_, watch) = lookup(b"watch").unwrap();
    assert!(watch.has(Flags::NOT_QUEUED) && !watch.has(Flags::ENDS_MULTI));
}

#[test]
fn movable_keys_come_from_the_finders() {
    let call = |words: &str| -> Vec<Bytes> {
        words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    };
    let keys = |words: &str| {
        let items = call(words);
        let spec = lookup(&items[0]).unwrap().1.resolve(&items);
        spec.keys_of(&items)
    };
    assert_eq!(keys("zunionstore d 2 a b WEIGHTS 1 2"), Some(vec![1, 3, 4]));
    assert_eq!(keys("zunion 2 a b"), Some(vec![2, 3]));
    assert_eq!(keys("zunion 0 a"), None);
    assert_eq!(keys("zunion 3 a b"), None);
    assert_eq!(keys("blmpop 0 2 a b LEFT"), Some(vec![3, 4]));
    assert_eq!(keys("eval s 0"), Some(vec![]));
    assert_eq!(keys("eval s 1 k v"), Some(vec![3]));
    assert_eq!(keys("sort s LIMIT 0 1 GET x STORE d"), Some(vec![1, 8]));
    assert_eq!(keys("xread COUNT 2 STREAMS a b 0 0"), Some(vec![4, 5]));
    assert_eq!(keys("xreadgroup GROUP g c STREAMS a >"), Some(vec![5]));
    assert_eq!(keys("xread STREAMS a b 0"), None);
    assert_eq!(keys("object encoding k"), Some(vec![2]));
    assert_eq!(keys("mset a 1 b 2"), Some(vec![1, 3]));
    for spec in COMMANDS.iter() {
        let names: Vec<_> = spec.flags.names().collect();
        assert!(!names.contains(&"movablekeys"), "{}", spec.name);
    }
}

#[test]
fn key_positions() {
    let (_, mset) = lookup(b"mset").unwrap();
    assert_eq!(mset.key_positions(5).collect::<Vec<_>>(), vec![1, 3]);
    let (_, get) = lookup(b"get").unwrap();
    assert_eq!(get.key_positions(2).collect::<Vec<_>>(), vec![1]);
    let (_, ping) = lookup(b"ping").unwrap();
    assert_eq!(ping.key_positions(1).count(), 0);
}
