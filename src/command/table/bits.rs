//! The command table's bitsets: a row's flags (Redis's and ringkv's own rules) and its ACL
//! categories, each tested with one AND.

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
    /// Served on an importing slot without ASKING (RESTORE-ASKING).
    pub const ASKING: Flags = Flags(1 << 18);
    /// Runs in RESP2 subscribed mode (the (P|S)(UN)SUBSCRIBE family, PING, QUIT, RESET).
    pub const SUBSCRIBED: Flags = Flags(1 << 24);
    /// Inside MULTI, runs at once instead of being queued (EXEC, DISCARD, MULTI, WATCH...).
    pub const NOT_QUEUED: Flags = Flags(1 << 25);
    /// Ends or leaves a transaction: still accepted inside MULTI when out of memory.
    pub const ENDS_MULTI: Flags = Flags(1 << 26);
    /// Runs a transaction's queue (EXEC): pipelined, it joins the batch's shard holds like an
    /// atomic command; refused, it discards the transaction with an EXECABORT.
    pub const RUNS_QUEUE: Flags = Flags(1 << 27);

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
        (Flags::ASKING, "asking"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        // MAY_REPLICATE is hidden, as Redis hides it.
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

/// How a command uses a key: Redis's key-spec flags (COMMAND INFO's key specs, COMMAND
/// GETKEYSANDFLAGS). One of RO, RW, OW, RM, then what it does with the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KeyAccess(u16);

impl KeyAccess {
    pub const RO: KeyAccess = KeyAccess(1 << 0);
    pub const RW: KeyAccess = KeyAccess(1 << 1);
    pub const OW: KeyAccess = KeyAccess(1 << 2);
    pub const RM: KeyAccess = KeyAccess(1 << 3);
    pub const ACCESS: KeyAccess = KeyAccess(1 << 4);
    pub const UPDATE: KeyAccess = KeyAccess(1 << 5);
    pub const INSERT: KeyAccess = KeyAccess(1 << 6);
    pub const DELETE: KeyAccess = KeyAccess(1 << 7);
    pub const NOT_KEY: KeyAccess = KeyAccess(1 << 8);
    pub const INCOMPLETE: KeyAccess = KeyAccess(1 << 9);
    /// The flags depend on the arguments (SET ... GET, BITFIELD's subcommands).
    pub const VARIABLE_FLAGS: KeyAccess = KeyAccess(1 << 10);

    /// Redis's names, in its reply order.
    const NAMES: &'static [(KeyAccess, &'static str)] = &[
        (KeyAccess::RO, "RO"),
        (KeyAccess::RW, "RW"),
        (KeyAccess::OW, "OW"),
        (KeyAccess::RM, "RM"),
        (KeyAccess::ACCESS, "access"),
        (KeyAccess::UPDATE, "update"),
        (KeyAccess::INSERT, "insert"),
        (KeyAccess::DELETE, "delete"),
        (KeyAccess::NOT_KEY, "not_key"),
        (KeyAccess::INCOMPLETE, "incomplete"),
        (KeyAccess::VARIABLE_FLAGS, "variable_flags"),
    ];

    pub const fn bits(self) -> u16 {
        self.0
    }

    pub const fn from_bits(bits: u16) -> KeyAccess {
        KeyAccess(bits)
    }

    pub const fn contains(self, other: KeyAccess) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags' names, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KeyAccess::NAMES
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, name)| *name)
    }
}

/// `access!(RW | ACCESS | DELETE)`: a row's key-spec flags.
macro_rules! access {
    ($($f:ident)|+) => {
        $crate::command::table::KeyAccess::from_bits(
            0 $(| $crate::command::table::KeyAccess::$f.bits())+
        )
    };
}
pub(crate) use access;
