//! The command table: one row per command — name, arity, flags, key positions, where it runs,
//! and its documentation. COMMAND is served from it, dispatch reads it, nothing else lists commands.

use std::sync::{LazyLock, OnceLock};

use hashbrown::HashMap;

use super::{
    acl, bitmap, connection, expire, hash, keys, list, persist, pubsub, scripting, server, set,
    sort, stream, string, transaction, zset,
};
use super::{Cross, Kind, Merge};

/// One command as the server knows it.
pub struct CommandSpec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: counts the name; negative means "at least -arity".
    pub arity: i32,
    /// Redis command flags, space separated (write, readonly, fast, denyoom, admin, ...).
    pub flags: &'static str,
    /// First key position (0: no key), last (-1: the last argument), and step.
    pub keys: (i32, i32, i32),
    pub kind: Kind,
    /// Redis's command group for COMMAND DOCS (string, generic, connection, server, ...).
    pub group: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument synopsis in Redis's notation, for COMMAND DOCS (redis-cli hints).
    pub synopsis: &'static str,
    /// The `write` flag, read once per command on the data path.
    pub writes: bool,
}

impl CommandSpec {
    /// True when `argc` (name included) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether the flag list contains `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.split(' ').any(|f| f == flag)
    }

    /// Positions of the keys in a command of `argc` arguments.
    pub fn key_positions(&self, argc: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
        let (first, last, step) = self.keys;
        let last = if last < 0 { argc as i32 + last } else { last };
        let (start, end) = if first > 0 && step > 0 && first <= last {
            (first as usize, (last as usize + 1).min(argc))
        } else {
            (0, 0)
        };
        (start..end).step_by(step.max(1) as usize)
    }
}

pub const fn keyed(op: super::ShardOp) -> Kind {
    Kind::Keyed(op, Cross::Single)
}

pub const fn split(op: super::ShardOp, merge: Merge, atomic: bool) -> Kind {
    Kind::Keyed(op, Cross::Split { merge, atomic })
}

pub const fn routine(op: super::ShardOp, cross: super::RoutedOp) -> Kind {
    Kind::Keyed(op, Cross::Routine(cross))
}

#[allow(clippy::too_many_arguments)]
pub const fn row(
    name: &'static str,
    arity: i32,
    flags: &'static str,
    keys: (i32, i32, i32),
    kind: Kind,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    synopsis: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys,
        kind,
        group,
        since,
        summary,
        synopsis,
        writes: has_word(flags, "write"),
    }
}

/// Whether the space-separated `list` contains `word` (evaluated when the table is built).
const fn has_word(list: &str, word: &str) -> bool {
    let (list, word) = (list.as_bytes(), word.as_bytes());
    let mut start = 0;
    while start < list.len() {
        let mut end = start;
        while end < list.len() && list[end] != b' ' {
            end += 1;
        }
        if end - start == word.len() {
            let mut i = 0;
            while i < word.len() && list[start + i] == word[i] {
                i += 1;
            }
            if i == word.len() {
                return true;
            }
        }
        start = end + 1;
    }
    false
}

pub const NOKEY: (i32, i32, i32) = (0, 0, 0);
pub const KEY1: (i32, i32, i32) = (1, 1, 1);
pub const KEYS_ALL: (i32, i32, i32) = (1, -1, 1);
pub const KEY12: (i32, i32, i32) = (1, 2, 1);

/// Every command ringkv serves.
/// The families' rows, in COMMAND order; each family file owns its rows.
const FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    acl::COMMANDS,
    server::COMMANDS,
    persist::COMMANDS,
    string::COMMANDS,
    bitmap::COMMANDS,
    keys::COMMANDS,
    expire::COMMANDS,
    pubsub::COMMANDS,
    list::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    stream::COMMANDS,
    sort::COMMANDS,
    transaction::COMMANDS,
    scripting::COMMANDS,
];

/// Every command ringkv serves: the families' rows, flattened once.
pub static COMMANDS: LazyLock<Vec<&'static CommandSpec>> =
    LazyLock::new(|| FAMILIES.iter().flat_map(|f| f.iter()).collect());

/// Finds a command by name, case-insensitively; returns its row index too.
pub fn lookup(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    static INDEX: OnceLock<HashMap<&'static [u8], usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect()
    });
    if name.len() > NAME_MAX {
        return None;
    }
    // A connection mostly sends what it sent last, and a thread serves a few kinds of command:
    // the name as sent last time on this thread is matched byte for byte before hashing.
    if let Some(i) = LAST.with(|last| {
        let last = last.get();
        (usize::from(last.len) == name.len() && last.name[..name.len()] == *name)
            .then_some(last.row)
    }) {
        return Some((i, COMMANDS[i]));
    }
    let mut lower = [0u8; NAME_MAX];
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let i = *index.get(&lower[..name.len()])?;
    let mut sent = [0u8; NAME_MAX];
    sent[..name.len()].copy_from_slice(name);
    LAST.with(|last| {
        last.set(LastName {
            name: sent,
            len: name.len() as u8,
            row: i,
        })
    });
    Some((i, COMMANDS[i]))
}

/// Longest command name (with room to spare).
const NAME_MAX: usize = 32;

/// The name last found on this thread, as sent (any case), and its row.
#[derive(Clone, Copy)]
struct LastName {
    name: [u8; NAME_MAX],
    len: u8,
    row: usize,
}

thread_local! {
    static LAST: std::cell::Cell<LastName> = const {
        // No name is u8::MAX long: nothing matches before the first lookup.
        std::cell::Cell::new(LastName { name: [0; NAME_MAX], len: u8::MAX, row: 0 })
    };
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for (i, c) in COMMANDS.iter().copied().enumerate() {
            assert!(names.insert(c.name), "duplicate {}", c.name);
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert_ne!(c.arity, 0, "{}", c.name);
            let (first, last, step) = c.keys;
            if first > 0 {
                assert!(step > 0, "{}", c.name);
                // A container (OBJECT) may put its key just past the minimum arity.
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
            if let Kind::Keyed(..) = c.kind {
                assert!(first > 0, "{} is keyed but has no key", c.name);
            }
            assert_eq!(
                lookup(c.name.to_ascii_uppercase().as_bytes()).map(|x| x.0),
                Some(i)
            );
        }
        for c in COMMANDS.iter() {
            assert_eq!(c.writes, c.has_flag("write"), "{}", c.name);
        }
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
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
}
