//! The command table: one row per command — name, arity, flags, key spec, ACL categories,
//! subcommands, where it runs, and its documentation. COMMAND, the ACL catalog, dispatch's
//! flag tests, movable keys, the subscribed-mode and MULTI rules are all read from it: no
//! other list of commands exists.

use std::sync::{LazyLock, OnceLock};

use bytes::Bytes;
use hashbrown::HashMap;

use super::{
    acl, aof, bitfield, bitmap, cluster, connection, debug, dump, expire, geo, hash, hyperloglog,
    keys, latency, list, lolwut, monitor, persist, pubsub, replication, scripting, server, set,
    slowlog, sort, stream, string, transaction, zset,
};
use super::{Args, CmdResult, Cross, Kind, Merge, Session};

mod bits;

pub(crate) use bits::{access, cats, flags};
pub use bits::{Categories, Flags, KeyAccess};

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
    /// A command-specific scan whose keys replace the range's (MIGRATE: the key argument, or
    /// only the keys after KEYS).
    Instead(fn(&[Bytes]) -> Option<Vec<usize>>),
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
    /// True for a subcommand row (`container|sub`): its handler's arguments start after the
    /// subcommand name.
    pub is_subcommand: bool,
    /// Which arguments are pub/sub channels, for ACL's channel rules.
    pub channels: Channels,
    /// Redis's key-spec flags of the first key, and of the other keys (a destination, the
    /// sources after it...): Redis's commands with two key specs all split this way.
    pub key_access: (KeyAccess, KeyAccess),
}

/// Where a command names pub/sub channels and what it does with them (Redis's
/// CMD_CHANNEL_* specs): ACL checks the channels of the publishing and subscribing ones.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Channels {
    None,
    /// The first argument is a channel published to.
    Publish,
    /// Every argument is a channel subscribed to.
    Subscribe,
    /// Every argument is a channel pattern subscribed to.
    PatternSubscribe,
    /// Every argument is a channel (or pattern) unsubscribed from: never refused.
    Unsubscribe,
}

impl Channels {
    /// The channels ACL checks in the call `items` (name first), and whether they are
    /// patterns.
    pub fn checked(self, items: &[Bytes]) -> (&[Bytes], bool) {
        let args = items.get(1..).unwrap_or_default();
        match self {
            Channels::Publish => (&args[..args.len().min(1)], false),
            Channels::Subscribe => (args, false),
            Channels::PatternSubscribe => (args, true),
            Channels::None | Channels::Unsubscribe => (&[], false),
        }
    }
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
            KeyFinder::Instead(find) => keys = find(items)?,
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
        Categories::from_bits(cats)
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

    /// Declares which arguments are channels.
    pub const fn with_channels(mut self, channels: Channels) -> CommandSpec {
        self.channels = channels;
        self
    }

    /// Declares the key-spec flags of every key, where they are not the row's default (see
    /// `default_access`).
    pub const fn access(mut self, every: KeyAccess) -> CommandSpec {
        self.key_access = (every, every);
        self
    }

    /// Declares the key-spec flags of the first key and of the others (a source and a
    /// destination, a destination and its sources).
    pub const fn access_split(mut self, first: KeyAccess, rest: KeyAccess) -> CommandSpec {
        self.key_access = (first, rest);
        self
    }

    /// The key-spec flags of the key at `ordinal` (0: the first key) in a call `items`:
    /// SET and BITFIELD's depend on their arguments, as Redis's setGetKeys and
    /// bitfieldGetKeys decide.
    pub fn access_of(&self, ordinal: usize, items: &[Bytes]) -> KeyAccess {
        let (first, rest) = self.key_access;
        if first.contains(KeyAccess::VARIABLE_FLAGS) {
            return match self.name {
                "set" if items.iter().skip(3).any(|w| w.eq_ignore_ascii_case(b"get")) => {
                    access!(RW | ACCESS | UPDATE)
                }
                "set" => access!(OW | UPDATE),
                _ if bitfield_reads_only(items) => access!(RO | ACCESS),
                _ => access!(RW | ACCESS | UPDATE),
            };
        }
        let flags = if ordinal == 0 { first } else { rest };
        // An incomplete spec's keys come from the command's own key finder, which gives
        // the rest of the flags.
        KeyAccess::from_bits(flags.bits() & !KeyAccess::INCOMPLETE.bits())
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
        is_subcommand: contains_bar(name),
        channels: Channels::None,
        key_access: (default_access(flags), default_access(flags)),
    }
}

/// Whether a BITFIELD call only reads: GET and OVERFLOW only, well formed (a syntax error
/// counts as a write, the safe guess).
fn bitfield_reads_only(items: &[Bytes]) -> bool {
    let mut i = 2;
    while i < items.len() {
        let more = items.len() - i - 1;
        let word = &items[i];
        if word.eq_ignore_ascii_case(b"get") && more >= 2 {
            i += 3;
        } else if word.eq_ignore_ascii_case(b"overflow") && more >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// A row's key-spec flags unless it declares others: a read is RO access (Redis's most
/// common read spec), a write RW update, anything else RO.
const fn default_access(flags: Flags) -> KeyAccess {
    if flags.contains(Flags::READONLY) {
        access!(RO | ACCESS)
    } else if flags.contains(Flags::WRITE) {
        access!(RW | UPDATE)
    } else {
        KeyAccess::RO
    }
}

/// Whether `name` holds a `|` (a subcommand row's name), at compile time.
const fn contains_bar(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'|' {
            return true;
        }
        i += 1;
    }
    false
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
    Err(super::err::unknown_subcommand(args.all()))
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
    (Categories::NONE, lolwut::COMMANDS),
    (Categories::NONE, monitor::COMMANDS),
    (Categories::NONE, persist::COMMANDS),
    (Categories::NONE, debug::COMMANDS),
    (Categories::NONE, slowlog::COMMANDS),
    (Categories::NONE, latency::COMMANDS),
    (Categories::NONE, aof::COMMANDS),
    (Categories::NONE, replication::master::COMMANDS),
    (Categories::NONE, replication::replica::COMMANDS),
    (Categories::NONE, replication::failover::COMMANDS),
    (Categories::NONE, cluster::COMMANDS),
    (Categories::STRING, string::COMMANDS),
    (Categories::BITMAP, bitmap::COMMANDS),
    (Categories::BITMAP, bitfield::COMMANDS),
    (Categories::HYPERLOGLOG, hyperloglog::COMMANDS),
    (Categories::KEYSPACE, keys::COMMANDS),
    (Categories::KEYSPACE, expire::COMMANDS),
    (Categories::KEYSPACE, dump::COMMANDS),
    (Categories::NONE, pubsub::COMMANDS),
    (Categories::LIST, list::COMMANDS),
    (Categories::HASH, hash::COMMANDS),
    (Categories::SET, set::COMMANDS),
    (Categories::SORTEDSET, zset::COMMANDS),
    (Categories::GEO, geo::COMMANDS),
    (Categories::STREAM, stream::COMMANDS),
    (Categories::NONE, sort::COMMANDS),
    (Categories::TRANSACTION, transaction::COMMANDS),
    (Categories::SCRIPTING, scripting::COMMANDS),
    (Categories::SCRIPTING, scripting::FUNCTION_COMMANDS),
];

/// Every command ringkv serves: the families' rows, flattened once.
pub static COMMANDS: LazyLock<Vec<&'static CommandSpec>> =
    LazyLock::new(|| FAMILIES.iter().flat_map(|f| f.1.iter()).collect());

/// What commandstats, latencystats and CLIENT LIST's `cmd=` count under: every row of
/// [`COMMANDS`] (same indexes), then every container's subcommand rows (`client|list`), as
/// Redis counts subcommands apart.
pub static STAT_ROWS: LazyLock<Vec<&'static CommandSpec>> = LazyLock::new(|| {
    let mut rows: Vec<&'static CommandSpec> = COMMANDS.clone();
    rows.extend(COMMANDS.iter().flat_map(|c| c.subcommands.iter()));
    rows
});

/// Where each container row's subcommands start in [`STAT_ROWS`].
static SUBCOMMANDS_AT: LazyLock<Vec<usize>> = LazyLock::new(|| {
    let mut next = COMMANDS.len();
    COMMANDS
        .iter()
        .map(|c| {
            let at = next;
            next += c.subcommands.len();
            at
        })
        .collect()
});

/// The stat row of `spec`, resolved from the command at `row` of [`COMMANDS`]. Every call
/// asks: the test for a plain command is inlined, the subcommand's lookup is not.
#[inline(always)]
pub fn stat_row(row: usize, spec: &'static CommandSpec) -> usize {
    if spec.is_subcommand {
        subcommand_row(row, spec)
    } else {
        row
    }
}

#[inline(never)]
fn subcommand_row(row: usize, spec: &'static CommandSpec) -> usize {
    let subs = COMMANDS[row].subcommands;
    let offset = (spec as *const CommandSpec as usize).wrapping_sub(subs.as_ptr() as usize)
        / std::mem::size_of::<CommandSpec>();
    if offset < subs.len() {
        SUBCOMMANDS_AT[row] + offset
    } else {
        row
    }
}

/// The stat rows a name means as Redis reads it (`get`, `config|resetstat`): a container
/// (`client`) means its subcommands.
pub fn stat_rows_named(name: &[u8]) -> Vec<usize> {
    let lower = name.to_ascii_lowercase();
    let Some(at) = STAT_ROWS
        .iter()
        .position(|s| s.name.as_bytes() == &lower[..])
    else {
        return Vec::new();
    };
    match COMMANDS.get(at) {
        Some(container) if !container.subcommands.is_empty() => {
            let first = SUBCOMMANDS_AT[at];
            (first..first + container.subcommands.len()).collect()
        }
        _ => vec![at],
    }
}

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

/// `rename-command` pairs (lower case; an empty new name disables the command), fixed at start.
static RENAMES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Every command by its own (lower-case) name.
fn original_index() -> &'static HashMap<Vec<u8>, usize> {
    static INDEX: OnceLock<HashMap<Vec<u8>, usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes().to_vec(), i))
            .collect()
    })
}

/// Applies the configuration's `rename-command` lines before the first command is looked
/// up; Err: redis-server's reason for refusing one.
pub fn install_renames(renames: &[(String, String)]) -> Result<(), String> {
    let index = original_index();
    let mut names: Vec<String> = index
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let mut checked = Vec::new();
    for (old, new) in renames {
        let (old, new) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        let Some(at) = names.iter().position(|n| *n == old) else {
            return Err(format!("No such command '{old}' in rename-command"));
        };
        if !new.is_empty() && names.contains(&new) {
            return Err(format!(
                "Target command name '{new}' already exists in rename-command"
            ));
        }
        if new.len() > NAME_MAX {
            return Err(format!("Target command name '{new}' is too long"));
        }
        names.remove(at);
        if !new.is_empty() {
            names.push(new.clone());
        }
        checked.push((old, new));
    }
    RENAMES
        .set(checked)
        .map_err(|_| "rename-command applied twice".to_string())
}

/// Finds a command by its own name, whatever `rename-command` did (the AOF names commands so).
pub fn lookup_original(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    let i = *original_index().get(&name.to_ascii_lowercase())?;
    Some((i, COMMANDS[i]))
}

/// Finds a command by name, case-insensitively; returns its row index too.
pub fn lookup(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    // Keyed by `&'static` names, as a `Vec` key measured 3 % more instructions per pipelined
    // SET (callgrind, -P 16): a renamed command's new name is leaked once, at start.
    static INDEX: OnceLock<HashMap<&'static [u8], usize>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index: HashMap<&'static [u8], usize> = COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect();
        for (old, new) in RENAMES.get().into_iter().flatten() {
            if let Some(i) = index.remove(old.as_bytes()) {
                if !new.is_empty() {
                    let name: &'static str = Box::leak(new.clone().into_boxed_str());
                    index.insert(name.as_bytes(), i);
                }
            }
        }
        index
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
mod tests;
