//! The ACL view of the command table: every command and known subcommand gets an id (table
//! rows first, then subcommands of container commands), and each id its categories — the
//! explicit ones Redis 7.0 declares in its command JSON plus the implicit ones derived from the
//! flags (write, readonly, admin, pubsub, fast, blocking), as Redis's setImplicitACLCategories.
//! Depends on the command table only.

use std::sync::LazyLock;

use crate::command::{CommandSpec, COMMANDS};

/// Redis's ACL categories, in ACL CAT order; a category's bit is its index.
pub const CATEGORIES: &[&str] = &[
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

/// The bit of a category name (case-insensitive), if it exists.
pub fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn bit(name: &str) -> u32 {
    category_bit(name.as_bytes()).unwrap_or(0)
}

/// Categories implied by command flags, then `slow` unless `fast`.
fn implicit(flags: &str, explicit: u32) -> u32 {
    let mut cats = explicit;
    for flag in flags.split(' ') {
        cats |= match flag {
            "write" => bit("write"),
            "readonly" if explicit & bit("scripting") == 0 => bit("read"),
            "admin" => bit("admin") | bit("dangerous"),
            "pubsub" => bit("pubsub"),
            "fast" => bit("fast"),
            "blocking" => bit("blocking"),
            _ => 0,
        };
    }
    if cats & bit("fast") == 0 {
        cats |= bit("slow");
    }
    cats
}

/// One ACL-visible command: a table row or a subcommand of a container row.
pub struct Entry {
    /// `get`, or `config|get` for a subcommand.
    pub fullname: String,
    pub categories: u32,
    /// For a subcommand: the container's row.
    pub parent: Option<usize>,
}

/// Every ACL id: table rows (same index), then subcommands.
pub static ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    let mut entries: Vec<Entry> = COMMANDS
        .iter()
        .map(|spec| {
            let explicit = EXPLICIT
                .iter()
                .find(|(name, _)| *name == spec.name)
                .map_or(0, |(_, cats)| cats.iter().fold(0, |acc, c| acc | bit(c)));
            // A container's own flags say nothing of its subcommands: Redis gives it none.
            let flags = if is_container(spec) { "" } else { spec.flags };
            Entry {
                fullname: spec.name.to_string(),
                categories: implicit(flags, explicit),
                parent: None,
            }
        })
        .collect();
    for (row, spec) in COMMANDS.iter().enumerate() {
        for (_, sub, flags, cats) in SUBCOMMANDS.iter().filter(|s| s.0 == spec.name) {
            let explicit = cats.iter().fold(0, |acc, c| acc | bit(c));
            entries.push(Entry {
                fullname: format!("{}|{}", spec.name, sub),
                categories: implicit(flags, explicit),
                parent: Some(row),
            });
        }
    }
    entries
});

/// Number of ACL ids.
pub fn count() -> usize {
    ENTRIES.len()
}

/// The id of a command name (`get`) or `container|sub` (case-insensitive).
pub fn id_of(name: &[u8]) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    ENTRIES
        .iter()
        .position(|e| e.fullname.as_bytes() == lower.as_slice())
}

/// True when the row is a container command (CONFIG, CLIENT, ACL...).
pub fn is_container(spec: &CommandSpec) -> bool {
    SUBCOMMANDS.iter().any(|s| s.0 == spec.name)
}

/// The id a call is checked against: the subcommand's when `row` is a container and the
/// first argument names a known subcommand, else the row's.
pub fn id_for_call(row: usize, spec: &CommandSpec, first_arg: Option<&[u8]>) -> usize {
    let Some(arg) = first_arg.filter(|_| is_container(spec)) else {
        return row;
    };
    ENTRIES
        .iter()
        .enumerate()
        .skip(COMMANDS.len())
        .find(|(_, e)| {
            e.parent == Some(row)
                && e.fullname.as_bytes()[spec.name.len() + 1..].eq_ignore_ascii_case(arg)
        })
        .map_or(row, |(id, _)| id)
}

/// Command ids that are subcommands of `row`.
pub fn subcommands_of(row: usize) -> impl Iterator<Item = usize> {
    ENTRIES
        .iter()
        .enumerate()
        .filter(move |(_, e)| e.parent == Some(row))
        .map(|(id, _)| id)
}

/// Explicit categories from Redis 7.0.15's command JSON (src/commands/*.json).
const EXPLICIT: &[(&str, &[&str])] = &[
    ("append", &["string"]),
    ("auth", &["connection"]),
    ("bitcount", &["bitmap"]),
    ("bitop", &["bitmap"]),
    ("bitpos", &["bitmap"]),
    ("blmove", &["list"]),
    ("blmpop", &["list"]),
    ("blpop", &["list"]),
    ("brpop", &["list"]),
    ("brpoplpush", &["list"]),
    ("bzmpop", &["sortedset"]),
    ("bzpopmax", &["sortedset"]),
    ("bzpopmin", &["sortedset"]),
    ("command", &["connection"]),
    ("copy", &["keyspace"]),
    ("dbsize", &["keyspace"]),
    ("decr", &["string"]),
    ("decrby", &["string"]),
    ("del", &["keyspace"]),
    ("discard", &["transaction"]),
    ("echo", &["connection"]),
    ("exec", &["transaction"]),
    ("eval", &["scripting"]),
    ("eval_ro", &["scripting"]),
    ("evalsha", &["scripting"]),
    ("evalsha_ro", &["scripting"]),
    ("exists", &["keyspace"]),
    ("expire", &["keyspace"]),
    ("expireat", &["keyspace"]),
    ("expiretime", &["keyspace"]),
    ("flushall", &["keyspace", "dangerous"]),
    ("flushdb", &["keyspace", "dangerous"]),
    ("get", &["string"]),
    ("getbit", &["bitmap"]),
    ("getdel", &["string"]),
    ("getex", &["string"]),
    ("getrange", &["string"]),
    ("getset", &["string"]),
    ("hdel", &["hash"]),
    ("hello", &["connection"]),
    ("hexists", &["hash"]),
    ("hget", &["hash"]),
    ("hgetall", &["hash"]),
    ("hincrby", &["hash"]),
    ("hincrbyfloat", &["hash"]),
    ("hkeys", &["hash"]),
    ("hlen", &["hash"]),
    ("hmget", &["hash"]),
    ("hmset", &["hash"]),
    ("hrandfield", &["hash"]),
    ("hscan", &["hash"]),
    ("hset", &["hash"]),
    ("hsetnx", &["hash"]),
    ("hstrlen", &["hash"]),
    ("hvals", &["hash"]),
    ("incr", &["string"]),
    ("incrby", &["string"]),
    ("incrbyfloat", &["string"]),
    ("info", &["dangerous"]),
    ("keys", &["keyspace", "dangerous"]),
    ("lastsave", &["admin", "dangerous"]),
    ("lcs", &["string"]),
    ("lindex", &["list"]),
    ("linsert", &["list"]),
    ("llen", &["list"]),
    ("lmove", &["list"]),
    ("lmpop", &["list"]),
    ("lpop", &["list"]),
    ("lpos", &["list"]),
    ("lpush", &["list"]),
    ("lpushx", &["list"]),
    ("lrange", &["list"]),
    ("lrem", &["list"]),
    ("lset", &["list"]),
    ("ltrim", &["list"]),
    ("mget", &["string"]),
    ("move", &["keyspace"]),
    ("mset", &["string"]),
    ("msetnx", &["string"]),
    ("multi", &["transaction"]),
    ("persist", &["keyspace"]),
    ("pexpire", &["keyspace"]),
    ("pexpireat", &["keyspace"]),
    ("pexpiretime", &["keyspace"]),
    ("ping", &["connection"]),
    ("psetex", &["string"]),
    ("pttl", &["keyspace"]),
    ("quit", &["connection"]),
    ("randomkey", &["keyspace"]),
    ("rename", &["keyspace"]),
    ("renamenx", &["keyspace"]),
    ("reset", &["connection"]),
    ("rpop", &["list"]),
    ("rpoplpush", &["list"]),
    ("rpush", &["list"]),
    ("rpushx", &["list"]),
    ("sadd", &["set"]),
    ("scan", &["keyspace"]),
    ("scard", &["set"]),
    ("sdiff", &["set"]),
    ("sdiffstore", &["set"]),
    ("select", &["connection"]),
    ("script", &["scripting"]),
    ("set", &["string"]),
    ("setbit", &["bitmap"]),
    ("setex", &["string"]),
    ("setnx", &["string"]),
    ("setrange", &["string"]),
    ("sinter", &["set"]),
    ("sintercard", &["set"]),
    ("sinterstore", &["set"]),
    ("sismember", &["set"]),
    ("smembers", &["set"]),
    ("smismember", &["set"]),
    ("smove", &["set"]),
    ("sort", &["set", "sortedset", "list", "dangerous"]),
    ("sort_ro", &["set", "sortedset", "list", "dangerous"]),
    ("spop", &["set"]),
    ("srandmember", &["set"]),
    ("srem", &["set"]),
    ("sscan", &["set"]),
    ("strlen", &["string"]),
    ("substr", &["string"]),
    ("sunion", &["set"]),
    ("sunionstore", &["set"]),
    ("swapdb", &["keyspace", "dangerous"]),
    ("touch", &["keyspace"]),
    ("ttl", &["keyspace"]),
    ("type", &["keyspace"]),
    ("unlink", &["keyspace"]),
    ("unwatch", &["transaction"]),
    ("watch", &["transaction"]),
    ("zadd", &["sortedset"]),
    ("zcard", &["sortedset"]),
    ("zcount", &["sortedset"]),
    ("zdiff", &["sortedset"]),
    ("zdiffstore", &["sortedset"]),
    ("zincrby", &["sortedset"]),
    ("zinter", &["sortedset"]),
    ("zintercard", &["sortedset"]),
    ("zinterstore", &["sortedset"]),
    ("zlexcount", &["sortedset"]),
    ("zmpop", &["sortedset"]),
    ("zmscore", &["sortedset"]),
    ("zpopmax", &["sortedset"]),
    ("zpopmin", &["sortedset"]),
    ("zrandmember", &["sortedset"]),
    ("zrange", &["sortedset"]),
    ("zrangebylex", &["sortedset"]),
    ("zrangebyscore", &["sortedset"]),
    ("zrangestore", &["sortedset"]),
    ("zrank", &["sortedset"]),
    ("zrem", &["sortedset"]),
    ("zremrangebylex", &["sortedset"]),
    ("zremrangebyrank", &["sortedset"]),
    ("zremrangebyscore", &["sortedset"]),
    ("zrevrange", &["sortedset"]),
    ("zrevrangebylex", &["sortedset"]),
    ("zrevrangebyscore", &["sortedset"]),
    ("zrevrank", &["sortedset"]),
    ("zscan", &["sortedset"]),
    ("zscore", &["sortedset"]),
    ("zunion", &["sortedset"]),
    ("zunionstore", &["sortedset"]),
    ("xack", &["stream"]),
    ("xadd", &["stream"]),
    ("xautoclaim", &["stream"]),
    ("xclaim", &["stream"]),
    ("xdel", &["stream"]),
    ("xlen", &["stream"]),
    ("xpending", &["stream"]),
    ("xrange", &["stream"]),
    ("xread", &["stream"]),
    ("xreadgroup", &["stream"]),
    ("xrevrange", &["stream"]),
    ("xsetid", &["stream"]),
    ("xtrim", &["stream"]),
];

/// Subcommands of container commands: (container, name, flags, explicit categories).
const SUBCOMMANDS: &[(&str, &str, &str, &[&str])] = &[
    ("acl", "cat", "noscript loading stale sentinel", &[]),
    (
        "acl",
        "deluser",
        "admin noscript loading stale sentinel",
        &[],
    ),
    (
        "acl",
        "dryrun",
        "admin noscript loading stale sentinel",
        &[],
    ),
    ("acl", "genpass", "noscript loading stale sentinel", &[]),
    (
        "acl",
        "getuser",
        "admin noscript loading stale sentinel",
        &[],
    ),
    ("acl", "help", "loading stale sentinel", &[]),
    ("acl", "list", "admin noscript loading stale sentinel", &[]),
    ("acl", "load", "admin noscript loading stale sentinel", &[]),
    ("acl", "log", "admin noscript loading stale sentinel", &[]),
    ("acl", "save", "admin noscript loading stale sentinel", &[]),
    (
        "acl",
        "setuser",
        "admin noscript loading stale sentinel",
        &[],
    ),
    ("acl", "users", "admin noscript loading stale sentinel", &[]),
    ("acl", "whoami", "noscript loading stale sentinel", &[]),
    (
        "client",
        "caching",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "getname",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "getredir",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    ("client", "help", "loading stale sentinel", &["connection"]),
    (
        "client",
        "id",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "info",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "kill",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "list",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "no-evict",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "pause",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "reply",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "setname",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "tracking",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "trackinginfo",
        "noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "unblock",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "client",
        "unpause",
        "admin noscript loading stale sentinel",
        &["connection"],
    ),
    (
        "command",
        "count",
        "loading stale sentinel",
        &["connection"],
    ),
    ("command", "docs", "loading stale sentinel", &["connection"]),
    (
        "command",
        "getkeys",
        "loading stale sentinel",
        &["connection"],
    ),
    (
        "command",
        "getkeysandflags",
        "loading stale sentinel",
        &["connection"],
    ),
    ("command", "help", "loading stale sentinel", &["connection"]),
    ("command", "info", "loading stale sentinel", &["connection"]),
    ("command", "list", "loading stale sentinel", &["connection"]),
    ("config", "get", "admin noscript loading stale", &[]),
    ("config", "help", "loading stale", &[]),
    ("config", "resetstat", "admin noscript loading stale", &[]),
    ("config", "rewrite", "admin noscript loading stale", &[]),
    ("config", "set", "admin noscript loading stale", &[]),
    ("function", "delete", "noscript write", &["scripting"]),
    ("function", "dump", "noscript", &["scripting"]),
    ("function", "flush", "noscript write", &["scripting"]),
    ("function", "help", "loading stale", &["scripting"]),
    ("function", "kill", "noscript allow_busy", &["scripting"]),
    ("function", "list", "noscript", &["scripting"]),
    ("function", "load", "noscript write denyoom", &["scripting"]),
    (
        "function",
        "restore",
        "noscript write denyoom",
        &["scripting"],
    ),
    ("function", "stats", "noscript allow_busy", &["scripting"]),
    ("memory", "doctor", "", &[]),
    ("memory", "help", "loading stale", &[]),
    ("memory", "malloc-stats", "", &[]),
    ("memory", "purge", "", &[]),
    ("memory", "stats", "", &[]),
    ("memory", "usage", "readonly", &[]),
    ("object", "encoding", "readonly", &["keyspace"]),
    ("object", "freq", "readonly", &["keyspace"]),
    ("object", "help", "loading stale", &["keyspace"]),
    ("object", "idletime", "readonly", &["keyspace"]),
    ("object", "refcount", "readonly", &["keyspace"]),
    ("xgroup", "create", "write denyoom", &["stream"]),
    ("xgroup", "createconsumer", "write denyoom", &["stream"]),
    ("xgroup", "delconsumer", "write", &["stream"]),
    ("xgroup", "destroy", "write", &["stream"]),
    ("xgroup", "help", "loading stale", &["stream"]),
    ("xgroup", "setid", "write", &["stream"]),
    ("xinfo", "consumers", "readonly", &["stream"]),
    ("xinfo", "groups", "readonly", &["stream"]),
    ("xinfo", "help", "loading stale", &["stream"]),
    ("xinfo", "stream", "readonly", &["stream"]),
    ("pubsub", "channels", "pubsub loading stale", &[]),
    ("pubsub", "help", "loading stale", &[]),
    ("pubsub", "numpat", "pubsub loading stale", &[]),
    ("pubsub", "numsub", "pubsub loading stale", &[]),
    ("pubsub", "shardchannels", "pubsub loading stale", &[]),
    ("pubsub", "shardnumsub", "pubsub loading stale", &[]),
];
