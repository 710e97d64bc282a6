//! The command table: one row per command — name, arity, flags, key positions, where it runs,
//! and its documentation. COMMAND is served from it, dispatch reads it, nothing else lists commands.

use std::sync::OnceLock;

use hashbrown::HashMap;

use super::{connection, expire, introspection, keys, server, string};
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

const fn keyed(op: super::ShardOp) -> Kind {
    Kind::Keyed(op, Cross::Single)
}

const fn split(op: super::ShardOp, merge: Merge, atomic: bool) -> Kind {
    Kind::Keyed(op, Cross::Split { merge, atomic })
}

const fn routine(op: super::ShardOp, cross: super::RoutedOp) -> Kind {
    Kind::Keyed(op, Cross::Routine(cross))
}

#[allow(clippy::too_many_arguments)]
const fn row(
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
    }
}

const NOKEY: (i32, i32, i32) = (0, 0, 0);
const KEY1: (i32, i32, i32) = (1, 1, 1);
const KEYS_ALL: (i32, i32, i32) = (1, -1, 1);
const KEY12: (i32, i32, i32) = (1, 2, 1);

/// Every command ringkv serves.
pub static COMMANDS: &[CommandSpec] = &[
    // connection
    row("ping", -1, "fast", NOKEY, Kind::Local(connection::ping), "connection", "1.0.0", "Returns the server's liveliness response.", "[message]"),
    row("echo", 2, "fast", NOKEY, Kind::Local(connection::echo), "connection", "1.0.0", "Returns the given string.", "message"),
    row("quit", -1, "noscript loading stale fast no-auth allow-busy", NOKEY, Kind::Local(connection::quit), "connection", "1.0.0", "Closes the connection.", ""),
    row("select", 2, "loading stale fast", NOKEY, Kind::Local(connection::select), "connection", "1.0.0", "Changes the selected database.", "index"),
    row("hello", -1, "noscript loading stale fast no-auth allow-busy", NOKEY, Kind::Local(connection::hello), "connection", "6.0.0", "Handshakes with the Redis server.", "[protover [AUTH username password] [SETNAME clientname]]"),
    row("reset", 1, "noscript loading stale fast no-auth allow-busy", NOKEY, Kind::Local(connection::reset), "connection", "6.2.0", "Resets the connection.", ""),
    row("client", -2, "", NOKEY, Kind::Local(connection::client), "connection", "2.4.0", "A container for client connection commands.", "subcommand [argument ...]"),
    // server
    row("info", -1, "loading stale", NOKEY, Kind::Routed(server::info), "server", "1.0.0", "Returns information and statistics about the server.", "[section [section ...]]"),
    row("config", -2, "", NOKEY, Kind::Routed(server::config), "server", "2.0.0", "A container for server configuration commands.", "subcommand [argument ...]"),
    row("dbsize", 1, "readonly fast", NOKEY, Kind::Routed(server::dbsize), "server", "1.0.0", "Returns the number of keys in the database.", ""),
    row("flushdb", -1, "write", NOKEY, Kind::Routed(server::flushdb), "server", "1.0.0", "Removes all keys from the current database.", "[ASYNC|SYNC]"),
    row("flushall", -1, "write", NOKEY, Kind::Routed(server::flushall), "server", "1.0.0", "Removes all keys from all databases.", "[ASYNC|SYNC]"),
    row("swapdb", 3, "write fast", NOKEY, Kind::Routed(server::swapdb), "server", "4.0.0", "Swaps two Redis databases.", "index1 index2"),
    row("time", 1, "loading stale fast", NOKEY, Kind::Local(server::time), "server", "2.6.0", "Returns the server time.", ""),
    row("lastsave", 1, "loading stale fast", NOKEY, Kind::Local(server::lastsave), "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", ""),
    row("shutdown", -1, "admin noscript loading stale no-multi allow-busy", NOKEY, Kind::Local(server::shutdown), "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"),
    row("command", -1, "loading stale", NOKEY, Kind::Local(introspection::command), "server", "2.8.13", "Returns detailed information about all commands.", "[subcommand [argument ...]]"),
    // strings
    row("get", 2, "readonly fast", KEY1, keyed(string::get), "string", "1.0.0", "Returns the string value of a key.", "key"),
    row("set", -3, "write denyoom", KEY1, keyed(string::set), "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
    row("setnx", 3, "write denyoom fast", KEY1, keyed(string::setnx), "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", "key value"),
    row("setex", 4, "write denyoom", KEY1, keyed(string::setex), "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "key seconds value"),
    row("psetex", 4, "write denyoom", KEY1, keyed(string::psetex), "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "key milliseconds value"),
    row("getset", 3, "write denyoom fast", KEY1, keyed(string::getset), "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", "key value"),
    row("getdel", 2, "write fast", KEY1, keyed(string::getdel), "string", "6.2.0", "Returns the string value of a key after deleting the key.", "key"),
    row("getex", -2, "write fast", KEY1, keyed(string::getex), "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]"),
    row("mget", -2, "readonly fast", KEYS_ALL, split(string::mget, Merge::Positional, false), "string", "1.0.0", "Atomically returns the string values of one or more keys.", "key [key ...]"),
    row("mset", -3, "write denyoom", (1, -1, 2), split(string::mset, Merge::Ok, true), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "key value [key value ...]"),
    row("msetnx", -3, "write denyoom", (1, -1, 2), routine(string::msetnx, string::msetnx_cross), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "key value [key value ...]"),
    row("append", 3, "write denyoom fast", KEY1, keyed(string::append), "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", "key value"),
    row("strlen", 2, "readonly fast", KEY1, keyed(string::strlen), "string", "2.2.0", "Returns the length of a string value.", "key"),
    row("incr", 2, "write denyoom fast", KEY1, keyed(string::incr), "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key"),
    row("decr", 2, "write denyoom fast", KEY1, keyed(string::decr), "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key"),
    row("incrby", 3, "write denyoom fast", KEY1, keyed(string::incrby), "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment"),
    row("decrby", 3, "write denyoom fast", KEY1, keyed(string::decrby), "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "key decrement"),
    row("incrbyfloat", 3, "write denyoom fast", KEY1, keyed(string::incrbyfloat), "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment"),
    row("getrange", 4, "readonly", KEY1, keyed(string::getrange), "string", "2.4.0", "Returns a substring of the string stored at a key.", "key start end"),
    row("substr", 4, "readonly", KEY1, keyed(string::getrange), "string", "1.0.0", "Returns a substring from a string value.", "key start end"),
    row("setrange", 4, "write denyoom", KEY1, keyed(string::setrange), "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset value"),
    row("lcs", -3, "readonly", KEY12, routine(string::lcs, string::lcs_cross), "string", "7.0.0", "Finds the longest common substring.", "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]"),
    // keys
    row("del", -2, "write", KEYS_ALL, split(keys::del, Merge::Sum, false), "generic", "1.0.0", "Deletes one or more keys.", "key [key ...]"),
    row("unlink", -2, "write fast", KEYS_ALL, split(keys::del, Merge::Sum, false), "generic", "4.0.0", "Asynchronously deletes one or more keys.", "key [key ...]"),
    row("exists", -2, "readonly fast", KEYS_ALL, split(keys::exists, Merge::Sum, false), "generic", "1.0.0", "Determines whether one or more keys exist.", "key [key ...]"),
    row("touch", -2, "readonly fast", KEYS_ALL, split(keys::touch, Merge::Sum, false), "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key [key ...]"),
    row("type", 2, "readonly fast", KEY1, keyed(keys::type_), "generic", "1.0.0", "Determines the type of value stored at a key.", "key"),
    row("keys", 2, "readonly", NOKEY, Kind::Routed(keys::keys), "generic", "1.0.0", "Returns all key names that match a pattern.", "pattern"),
    row("scan", -2, "readonly", NOKEY, Kind::Routed(keys::scan), "generic", "2.8.0", "Iterates over the key names in the database.", "cursor [MATCH pattern] [COUNT count] [TYPE type]"),
    row("randomkey", 1, "readonly", NOKEY, Kind::Routed(keys::randomkey), "generic", "1.0.0", "Returns a random key name from the database.", ""),
    row("rename", 3, "write", KEY12, routine(keys::rename, keys::rename_cross), "generic", "1.0.0", "Renames a key and overwrites the destination.", "key newkey"),
    row("renamenx", 3, "write fast", KEY12, routine(keys::renamenx, keys::renamenx_cross), "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", "key newkey"),
    row("copy", -3, "write denyoom", KEY12, routine(keys::copy, keys::copy_cross), "generic", "6.2.0", "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]"),
    row("move", 3, "write fast", KEY1, keyed(keys::move_), "generic", "1.0.0", "Moves a key to another database.", "key db"),
    row("object", -2, "", (2, 2, 1), keyed(keys::object), "generic", "2.2.3", "A container for object introspection commands.", "subcommand [argument ...]"),
    // expiry
    row("expire", -3, "write fast", KEY1, keyed(expire::expire), "generic", "1.0.0", "Sets the expiration time of a key in seconds.", "key seconds [NX|XX|GT|LT]"),
    row("pexpire", -3, "write fast", KEY1, keyed(expire::pexpire), "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", "key milliseconds [NX|XX|GT|LT]"),
    row("expireat", -3, "write fast", KEY1, keyed(expire::expireat), "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", "key unix-time-seconds [NX|XX|GT|LT]"),
    row("pexpireat", -3, "write fast", KEY1, keyed(expire::pexpireat), "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "key unix-time-milliseconds [NX|XX|GT|LT]"),
    row("ttl", 2, "readonly fast", KEY1, keyed(expire::ttl), "generic", "1.0.0", "Returns the expiration time in seconds of a key.", "key"),
    row("pttl", 2, "readonly fast", KEY1, keyed(expire::pttl), "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", "key"),
    row("expiretime", 2, "readonly fast", KEY1, keyed(expire::expiretime), "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "key"),
    row("pexpiretime", 2, "readonly fast", KEY1, keyed(expire::pexpiretime), "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key"),
    row("persist", 2, "write fast", KEY1, keyed(expire::persist), "generic", "2.2.0", "Removes the expiration time of a key.", "key"),
];

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
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    for (dst, src) in lower.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let i = *index.get(&lower[..name.len()])?;
    Some((i, &COMMANDS[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for (i, c) in COMMANDS.iter().enumerate() {
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
