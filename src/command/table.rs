//! The command table: one row per command — name, arity, flags, key spec, ACL categories,
//! subcommands, where it runs, and its documentation. COMMAND, the ACL catalog, dispatch's
//! flag tests, movable keys, the subscribed-mode and MULTI rules are all read from it: no
//! other list of commands exists.

use std::sync::{LazyLock, OnceLock};

use bytes::Bytes;
use hashbrown::HashMap;

use super::{
    acl, aof, bitmap, connection, expire, hash, keys, list, persist, pubsub, scripting, server,
    set, sort, stream, string, transaction, zset,
};
use super::{Args, CmdResult, Cross, Kind, Merge, Session};

/// Command flags: a bitset tested with one AND on the data path. The first bits are Redis's
/// flags (shown by COMMAND INFO); the last ones are ringkv's own rules, never shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1 << 0);
    pub const READONLY: Flags = Flags(1 << 1);
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    pub const FAST: Flags = Flags(1 << 11);
    pub const NO_AUTH: Flags = Flags(1 << 12);
    pub const MAY_REPLICATE: Flags = Flags(1 << 13);
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 14);
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 15);
    pub const NO_MULTI: Flags = Flags(1 << 16);
    pub const ALLOW_BUSY: Flags = Flags(1 << 17);
    /// Runs in RESP2 subscribed mode (the (P|S)(UN)SUBSCRIBE family, PING, QUIT, RESET).
    pub const SUBSCRIBED: Flags = Flags(1 << 24);
    /// Inside MULTI, runs at once instead of being queued (EXEC, DISCARD, MULTI, WATCH...).
    pub const NOT_QUEUED: Flags = Flags(1 << 25);
    /// Ends or leaves a transaction: still accepted inside MULTI when out of memory.
    pub const ENDS_MULTI: Flags = Flags(1 << 26);

    /// Redis's names of the shown flags, in COMMAND INFO order.
    const NAMES: &'static [(Flags, &'static str)] = &[
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::BLOCKING, "blocking"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::SKIP_MONITOR, "skip_monitor"),
        (Flags::SKIP_SLOWLOG, "skip_slowlog"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::MAY_REPLICATE, "may_replicate"),
        (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (Flags::NO_ASYNC_LOADING, "no_async_loading"),
        (Flags::NO_MULTI, "no_multi"),
        (Flags::ALLOW_BUSY, "allow_busy"),
    ];

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn from_bits(bits: u32) -> Flags {
        Flags(bits)
    }

    /// True when every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The shown flags' Redis names, in COMMAND INFO order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, name)| *name)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// `flags!(WRITE | DENYOOM | FAST)`: a row's flags, evaluated when the table is built.
macro_rules! flags {
    () => { $crate::command::table::Flags::NONE };
    ($($f:ident)|+) => {
        $crate::command::table::Flags::from_bits(0 $(| $crate::command::table::Flags::$f.bits())+)
    };
}
pub(crate) use flags;

/// ACL categories: a bitset whose bit `i` is `Categories::NAMES[i]` (ACL CAT order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Categories(u32);

impl Categories {
    pub const NONE: Categories = Categories(0);
    pub const KEYSPACE: Categories = Categories(1 << 0);
    pub const READ: Categories = Categories(1 << 1);
    pub const WRITE: Categories = Categories(1 << 2);
    pub const SET: Categories = Categories(1 << 3);
    pub const SORTEDSET: Categories = Categories(1 << 4);
    pub const LIST: Categories = Categories(1 << 5);
    pub const HASH: Categories = Categories(1 << 6);
    pub const STRING: Categories = Categories(1 << 7);
    pub const BITMAP: Categories = Categories(1 << 8);
    pub const HYPERLOGLOG: Categories = Categories(1 << 9);
    pub const GEO: Categories = Categories(1 << 10);
    pub const STREAM: Categories = Categories(1 << 11);
    pub const PUBSUB: Categories = Categories(1 << 12);
    pub const ADMIN: Categories = Categories(1 << 13);
    pub const FAST: Categories = Categories(1 << 14);
    pub const SLOW: Categories = Categories(1 << 15);
    pub const BLOCKING: Categories = Categories(1 << 16);
    pub const DANGEROUS: Categories = Categories(1 << 17);
    pub const CONNECTION: Categories = Categories(1 << 18);
    pub const TRANSACTION: Categories = Categories(1 << 19);
    pub const SCRIPTING: Categories = Categories(1 << 20);

    /// Redis's category names, in ACL CAT order; a name's index is its bit.
    pub const NAMES: &'static [&'static str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn from_bits(bits: u32) -> Categories {
        Categories(bits)
    }

    pub const fn union(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    pub const fn contains(self, other: Categories) -> bool {
        self.0 & other.0 == other.0
    }

    /// The category named `name` (case-insensitive).
    pub fn named(name: &[u8]) -> Option<Categories> {
        Categories::NAMES
            .iter()
            .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
            .map(|i| Categories(1 << i))
    }

    /// The names of the categories set, in ACL CAT order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Categories::NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

/// `cats!(KEYSPACE | DANGEROUS)`: a row's explicit ACL categories.
macro_rules! cats {
    ($($c:ident)|+) => {
        $crate::command::table::Categories::from_bits(
            0 $(| $crate::command::table::Categories::$c.bits())+
        )
    };
}
pub(crate) use cats;

/// Where the keys of a command are beyond its (first, last, step) range: Redis's "movable
/// keys". A row with a finder other than `Range` shows the `movablekeys` flag.
#[derive(Clone, Copy)]
pub enum KeyFinder {
    /// Exactly the (first, last, step) range.
    Range,
    /// The range keys, then a count at this index and that many keys after it (EVAL, ZUNION,
    /// ZUNIONSTORE's sources, LMPOP...).
    NumKeys(usize),
    /// A command-specific scan for keyword-introduced keys (SORT ... STORE, XREAD STREAMS);
    /// None when the arguments hold no valid key list.
    Custom(fn(&[Bytes]) -> Option<Vec<usize>>),
}

/// One command as the server knows it (a subcommand row is one too, named `container|sub`).
pub struct CommandSpec {
    /// Lower-case name; `container|sub` for a subcommand.
    pub name: &'static str,
    /// Redis arity: counts the name; negative means "at least -arity".
    pub arity: i32,
    pub flags: Flags,
    /// First key position (0: no key), last (-1: the last argument), and step.
    pub keys: (i32, i32, i32),
    /// Keys beyond the range (movable keys).
    pub finder: KeyFinder,
    pub kind: Kind,
    /// Redis's command group for COMMAND DOCS (string, generic, connection, server, ...).
    pub group: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument synopsis in Redis's notation, for COMMAND DOCS (redis-cli hints).
    pub synopsis: &'static str,
    /// ACL categories Redis declares beyond the family's and the ones implied by the flags.
    pub acl: Categories,
    /// False when the row is outside its family's ACL category (MEMORY among the keyspace rows).
    pub in_family: bool,
    /// The subcommand rows of a container (CONFIG, CLIENT, OBJECT...); empty otherwise.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// True when `argc` (name included) satisfies the arity.
    #[inline]
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Whether every flag of `flags` is set: one AND.
    #[inline]
    pub fn has(&self, flags: Flags) -> bool {
        self.flags.contains(flags)
    }

    /// Whether the row writes (read once per command on the data path).
    #[inline]
    pub fn writes(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }

    /// Positions of the range keys in a command of `argc` arguments.
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

    /// True when the keys of a call are not all in the (first, last, step) range.
    pub fn movable_keys(&self) -> bool {
        !matches!(self.finder, KeyFinder::Range)
    }

    /// True when the row names keys at all (a range or a finder): COMMAND GETKEYS's question.
    pub fn has_keys(&self) -> bool {
        self.keys.0 > 0 || self.movable_keys()
    }

    /// Every key position of a call (`items` with the name first), movable ones included;
    /// None when the arguments hold no valid key list (a bad count, no STREAMS, no key where
    /// one is mandatory).
    pub fn keys_of(&self, items: &[Bytes]) -> Option<Vec<usize>> {
        let mut keys: Vec<usize> = self.key_positions(items.len()).collect();
        match self.finder {
            KeyFinder::Range => {}
            KeyFinder::NumKeys(at) => {
                let n = items.get(at).and_then(|n| super::args::parse_int(n))?;
                let room = items.len().saturating_sub(at + 1);
                if n < 0 || n as usize > room {
                    return None;
                }
                if n == 0 {
                    // As Redis's numkeys finders: no key list at all, whatever the range held.
                    return self.has(Flags::NO_MANDATORY_KEYS).then(Vec::new);
                }
                keys.extend(at + 1..at + 1 + n as usize);
            }
            KeyFinder::Custom(find) => keys.extend(find(items)?),
        }
        (!keys.is_empty() || self.has(Flags::NO_MANDATORY_KEYS)).then_some(keys)
    }

    /// True for a container (CONFIG, CLIENT, OBJECT...): its calls run as their subcommand.
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    /// The row a call runs as: the subcommand row a container's first argument names, else
    /// this row (a container with an unknown subcommand answers "unknown subcommand").
    #[inline]
    pub fn resolve(&'static self, items: &[Bytes]) -> &'static CommandSpec {
        if self.subcommands.is_empty() {
            return self;
        }
        items
            .get(1)
            .and_then(|sub| self.subcommand(sub))
            .unwrap_or(self)
    }

    /// The subcommand row named `sub` (case-insensitive).
    pub fn subcommand(&'static self, sub: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands
            .iter()
            .find(|s| s.sub_name().as_bytes().eq_ignore_ascii_case(sub))
    }

    /// The part of the name after `container|`, or the whole name.
    pub fn sub_name(&self) -> &'static str {
        self.name.split_once('|').map_or(self.name, |(_, sub)| sub)
    }

    /// The ACL categories of the row in a family whose category is `family`: the explicit ones,
    /// the family's (not for a container, whose subcommands carry it), and the ones Redis
    /// derives from the flags (its setImplicitACLCategories).
    pub fn categories(&self, family: Categories) -> Categories {
        let mut cats = self.acl.bits();
        if self.in_family && !self.is_container() {
            cats |= family.bits();
        }
        let implied: &[(Flags, Categories)] = &[
            (Flags::WRITE, Categories::WRITE),
            (Flags::ADMIN, cats!(ADMIN | DANGEROUS)),
            (Flags::PUBSUB, Categories::PUBSUB),
            (Flags::FAST, Categories::FAST),
            (Flags::BLOCKING, Categories::BLOCKING),
        ];
        for (flag, cat) in implied {
            if self.has(*flag) {
                cats |= cat.bits();
            }
        }
        // Scripting commands are not @read, even read-only ones.
        if self.has(Flags::READONLY) && cats & Categories::SCRIPTING.bits() == 0 {
            cats |= Categories::READ.bits();
        }
        if cats & Categories::FAST.bits() == 0 {
            cats |= Categories::SLOW.bits();
        }
        Categories(cats)
    }

    /// Adds the ACL categories Redis declares for the row beyond its family's.
    pub const fn with_acl(mut self, extra: Categories) -> CommandSpec {
        self.acl = extra;
        self
    }

    /// Takes the row out of its family's ACL category (its categories are `with_acl`'s only).
    pub const fn outside_family(mut self) -> CommandSpec {
        self.in_family = false;
        self
    }

    /// Gives the row subcommand rows (COMMAND, which also answers on its own).
    pub const fn with_subcommands(mut self, subcommands: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subcommands;
        self
    }

    /// Declares where the keys beyond the range are.
    pub const fn keys_by(mut self, finder: KeyFinder) -> CommandSpec {
        self.finder = finder;
        self
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

/// A row: its name, arity, flags, key range, handler and docs. Explicit ACL categories,
/// movable keys and the like are added with the `with_*`/`keys_by` builders.
#[allow(clippy::too_many_arguments)]
pub const fn row(
    name: &'static str,
    arity: i32,
    flags: Flags,
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
        finder: KeyFinder::Range,
        kind,
        group,
        since,
        summary,
        synopsis,
        acl: Categories::NONE,
        in_family: true,
        subcommands: &[],
    }
}

/// A container row (CONFIG, OBJECT...): arity -2, no flags and no keys of its own, as in
/// Redis; each call runs as the subcommand row its first argument names.
pub const fn container(
    name: &'static str,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    let mut spec = row(
        name,
        -2,
        Flags::NONE,
        NOKEY,
        Kind::Local(unknown_subcommand),
        group,
        since,
        summary,
        "",
    );
    spec.subcommands = subcommands;
    spec
}

/// A container's handler, reached only when no subcommand row matched its first argument.
fn unknown_subcommand(_session: &mut Session, args: &mut Args) -> CmdResult {
    let items = args.all();
    let name = String::from_utf8_lossy(&items[0]).to_ascii_lowercase();
    let sub = items.get(1).map_or(&b""[..], |s| &s[..]);
    Err(super::connection::unknown_subcommand(&name, sub))
}

pub const NOKEY: (i32, i32, i32) = (0, 0, 0);
pub const KEY1: (i32, i32, i32) = (1, 1, 1);
pub const KEYS_ALL: (i32, i32, i32) = (1, -1, 1);
pub const KEY12: (i32, i32, i32) = (1, 2, 1);
/// A subcommand's key: the argument after the subcommand name (OBJECT ENCODING key).
pub const SUBKEY: (i32, i32, i32) = (2, 2, 1);

/// SORT's STORE destination (the last one), skipping the arguments of LIMIT, GET and BY, as
/// Redis's sortGetKeys does.
pub fn sort_store_key(items: &[Bytes]) -> Option<Vec<usize>> {
    let mut store = None;
    let mut i = 2;
    while i < items.len() {
        let word = items[i].to_ascii_lowercase();
        match word.as_slice() {
            b"limit" => i += 2,
            b"get" | b"by" => i += 1,
            b"store" if i + 1 < items.len() => {
                store = Some(i + 1);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Some(store.into_iter().collect())
}

/// XREAD / XREADGROUP: the first half of the arguments after STREAMS (the options before it
/// skipped with their arguments), as Redis's xreadGetKeys.
pub fn streams_keys(items: &[Bytes]) -> Option<Vec<usize>> {
    let mut i = 1;
    while i < items.len() {
        let word = items[i].to_ascii_lowercase();
        match word.as_slice() {
            b"count" | b"block" => i += 2,
            b"group" => i += 3,
            b"noack" => i += 1,
            b"streams" => {
                let rest = items.len() - i - 1;
                if rest == 0 || !rest.is_multiple_of(2) {
                    return None;
                }
                return Some((i + 1..i + 1 + rest / 2).collect());
            }
            _ => return None,
        }
    }
    None
}

/// The families' rows, in COMMAND order, each with the ACL category its registration gives
/// every row it owns (plus the rows' own). Each family file owns its rows.
const FAMILIES: &[(Categories, &[CommandSpec])] = &[
    (Categories::CONNECTION, connection::COMMANDS),
    (Categories::NONE, acl::COMMANDS),
    (Categories::NONE, server::COMMANDS),
    (Categories::NONE, persist::COMMANDS),
    (Categories::NONE, aof::COMMANDS),
    (Categories::STRING, string::COMMANDS),
    (Categories::BITMAP, bitmap::COMMANDS),
    (Categories::KEYSPACE, keys::COMMANDS),
    (Categories::KEYSPACE, expire::COMMANDS),
    (Categories::NONE, pubsub::COMMANDS),
    (Categories::LIST, list::COMMANDS),
    (Categories::HASH, hash::COMMANDS),
    (Categories::SET, set::COMMANDS),
    (Categories::SORTEDSET, zset::COMMANDS),
    (Categories::STREAM, stream::COMMANDS),
    (Categories::NONE, sort::COMMANDS),
    (Categories::TRANSACTION, transaction::COMMANDS),
    (Categories::SCRIPTING, scripting::COMMANDS),
];

/// Every command ringkv serves: the families' rows, flattened once.
pub static COMMANDS: LazyLock<Vec<&'static CommandSpec>> =
    LazyLock::new(|| FAMILIES.iter().flat_map(|f| f.1.iter()).collect());

/// The ACL category of each row's family, by row index.
static FAMILY_OF: LazyLock<Vec<Categories>> = LazyLock::new(|| {
    FAMILIES
        .iter()
        .flat_map(|(cat, rows)| rows.iter().map(move |_| *cat))
        .collect()
});

/// The family category of the row at `row` (COMMANDS index).
pub fn family_of(row: usize) -> Categories {
    FAMILY_OF.get(row).copied().unwrap_or_default()
}

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
                let id =
                    crate::command::access::catalog::id_of(sub.name.as_bytes()).expect(sub.name);
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
        assert!(catalog::id_of(b"client|pause").is_none());
        assert!(catalog::id_of(b"client|tracking").is_none());
        // Categories: family, flags, explicit extras, none for a container itself.
        let cats = |name: &str| {
            Categories::from_bits(
                catalog::ENTRIES[catalog::id_of(name.as_bytes()).unwrap()].categories,
            )
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
}
