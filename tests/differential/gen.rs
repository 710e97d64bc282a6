//! The command generator of the differential test: a seeded PRNG, a small key space, and
//! scenarios (single commands, transactions, the WATCH probe); the command families and their
//! value pools are in `families.rs`.
//! It knows nothing of sockets; it emits `Step`s and models only what normalisation needs
//! (which connection is inside MULTI, and how each queued reply must be normalised).

/// splitmix64: small, fast, and the same sequence on every platform for a given seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// How a reply is normalised before comparison; each rule is one thing Redis leaves unspecified.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tf {
    /// Byte for byte.
    Exact,
    /// An unordered collection (SMEMBERS, SUNION, HKEYS, KEYS...): compare the items sorted.
    Sorted,
    /// An unordered collection of field/value pairs (HGETALL, HRANDFIELD WITHVALUES): sort pairs.
    SortedPairs,
    /// A random pick (SRANDMEMBER with a negative count, HRANDFIELD without count): compare the
    /// shape only (reply type, array length), not which members were picked.
    Shape,
    /// A time to live: -2 and -1 exactly, positive values within this tolerance, because the
    /// two servers compute "now" a few microseconds apart and round it.
    Ttl(i64),
    /// Replies carrying doubles (scores): see `V72` in the test file; bulk strings that parse as
    /// the same f64 (bit for bit, so -0 and 0 differ) compare equal.
    Scores,
    /// Scores in an unordered collection of pairs (ZRANDMEMBER count WITHSCORES).
    SortedScorePairs,
}

/// One command on one connection.
#[derive(Clone, Debug)]
pub struct Step {
    /// 0 = connection A, 1 = connection B.
    pub conn: usize,
    pub args: Vec<String>,
    pub tf: Tf,
    /// What a difference at this step is filed under (the command name, or the WATCH probe).
    pub label: String,
}

// The key space: a few names per type (so commands collide and mostly hit the right type),
// hash-tagged names, and names on both shards of a 2-shard ringkv ("foo" and "bar" are on
// different shards; the test checks that the whole space spans both).
pub(crate) const STRINGS: &[&str] = &["s1", "s2", "{t}s", "foo"];
pub(crate) const LISTS: &[&str] = &["l1", "l2", "{t}l", "bar"];
pub(crate) const HASHES: &[&str] = &["h1", "{t}h"];
pub(crate) const SETS: &[&str] = &["S1", "S2", "{t}S"];
pub(crate) const ZSETS: &[&str] = &["z1", "z2", "{t}z"];
pub(crate) const STREAMS: &[&str] = &["x1", "{t}x"];
/// Sorted sets written only with score 0, for lex ranges; not in `ALL_KEYS`, so no command
/// gives them another score or another type.
pub(crate) const LEX_ZSETS: &[&str] = &["zl", "{t}zl"];
/// Keys SORT ... BY / GET patterns read: `w_<member>` strings and `wh_<member>` hashes.
pub(crate) const WEIGHT_MEMBERS: &[&str] = &["a", "b", "c", "1", "2"];

/// Every key name the generator may produce (the WATCH probe watches the ones a command uses).
pub fn key_space() -> Vec<String> {
    let mut all: Vec<String> = [STRINGS, LISTS, HASHES, SETS, ZSETS, STREAMS, LEX_ZSETS]
        .concat()
        .iter()
        .map(|k| k.to_string())
        .collect();
    for m in WEIGHT_MEMBERS {
        all.push(format!("w_{m}"));
        all.push(format!("wh_{m}"));
    }
    all
}

pub(crate) const ALL_KEYS: &[&str] = &[
    "s1", "s2", "{t}s", "foo", "l1", "l2", "{t}l", "bar", "h1", "{t}h", "S1", "S2", "{t}S", "z1",
    "z2", "{t}z", "x1", "{t}x",
];

/// A command queued inside MULTI: its arguments and normalisation.
pub type Queued = (Vec<String>, Tf);

/// What the reply to a step must be compared as, given the transaction state.
pub enum Expect {
    /// Not in a transaction: the step's own normalisation.
    Own(Tf),
    /// Queued inside MULTI: +QUEUED (or an error), exactly.
    Queued,
    /// EXEC: each queued command's arguments and normalisation, in order.
    Exec(Vec<Queued>),
}

/// Which connection is inside MULTI and what it queued, as Redis's rules say: MULTI, EXEC,
/// DISCARD and WATCH are never queued; only their exact arity opens or closes a transaction,
/// but an EXEC of the wrong arity discards it.
#[derive(Default)]
pub struct MultiModel {
    queues: [Option<Vec<Queued>>; 2],
}

impl MultiModel {
    pub fn inside(&self, conn: usize) -> bool {
        self.queues[conn].is_some()
    }

    pub fn observe(&mut self, step: &Step) -> Expect {
        let name = step.args[0].to_uppercase();
        let bare = step.args.len() == 1;
        let queue = &mut self.queues[step.conn];
        match (queue.is_some(), name.as_str()) {
            (true, "EXEC") if bare => Expect::Exec(queue.take().unwrap_or_default()),
            (true, "DISCARD") if bare => {
                *queue = None;
                Expect::Own(Tf::Exact)
            }
            // A refused EXEC (wrong arity) discards the transaction (EXECABORT).
            (true, "EXEC") => {
                *queue = None;
                Expect::Own(Tf::Exact)
            }
            (true, "MULTI" | "DISCARD" | "WATCH") => Expect::Own(Tf::Exact),
            (true, _) => {
                queue
                    .get_or_insert_with(Vec::new)
                    .push((step.args.clone(), step.tf));
                Expect::Queued
            }
            (false, "MULTI") if bare => {
                *queue = Some(Vec::new());
                Expect::Own(Tf::Exact)
            }
            (false, _) => Expect::Own(step.tf),
        }
    }
}

/// The generator: one per seed.
pub struct Gen {
    pub(crate) rng: Rng,
    multi: MultiModel,
}

pub(crate) type Cmd = (Vec<String>, Tf);

pub(crate) fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            multi: MultiModel::default(),
        }
    }

    /// Forgets the transaction state (after the runner reconnected).
    pub fn reset(&mut self) {
        self.multi = MultiModel::default();
    }

    /// Appends the next scenario: one to five steps.
    pub fn scenario(&mut self, out: &mut Vec<Step>) {
        let r = self.rng.below(1000);
        if r < 70 && !self.multi.inside(0) && !self.multi.inside(1) {
            self.watch_probe(out);
        } else if r < 120 && !self.multi.inside(0) {
            self.ttl_probe(out);
        } else if r < 180 {
            self.transaction_control(out);
        } else if r < 183 {
            // Rare, or the key space would stay nearly empty; FLUSHALL also signals every
            // watched key that existed.
            let conn = usize::from(self.rng.chance(50));
            let name = self.p(&["FLUSHALL", "FLUSHDB"]);
            self.push(out, conn, vec![name], Tf::Exact);
        } else {
            let conn = usize::from(self.rng.chance(30));
            let (args, tf) = self.command();
            self.push(out, conn, args, tf);
        }
    }

    /// `A> WATCH keys; B> command; A> MULTI; A> PING; A> EXEC`: EXEC answers nil exactly when
    /// B's command signalled one of the watched keys as modified.
    fn watch_probe(&mut self, out: &mut Vec<Step>) {
        let (args, tf) = if self.rng.chance(3) {
            (vec![self.p(&["FLUSHALL", "FLUSHDB"])], Tf::Exact)
        } else {
            self.command()
        };
        let space = key_space();
        let mut watched: Vec<String> = args[1..]
            .iter()
            .filter(|a| space.contains(a))
            .cloned()
            .collect();
        watched.dedup();
        if watched.is_empty() || self.rng.chance(20) {
            watched.push(self.rng.pick(ALL_KEYS).to_string());
        }
        let name = args[0].to_uppercase();
        let mut watch = vec!["WATCH".to_string()];
        watch.extend(watched);
        // Keys watched earlier would make EXEC's answer about more than B's command.
        self.push(out, 0, cmd(&["UNWATCH"]), Tf::Exact);
        self.push(out, 0, watch, Tf::Exact);
        self.push(out, 1, args, tf);
        self.push(out, 0, cmd(&["MULTI"]), Tf::Exact);
        self.push(out, 0, cmd(&["PING"]), Tf::Exact);
        let at = out.len();
        self.push(out, 0, cmd(&["EXEC"]), Tf::Exact);
        out[at].label = format!("WATCH probe: EXEC after B> {name}");
    }

    /// `A> EXPIRE k 1000; A> command on k; A> TTL k`: whether the command kept, dropped or
    /// moved the time to live as Redis does (overwrites drop it, modifications keep it).
    fn ttl_probe(&mut self, out: &mut Vec<Step>) {
        let (args, tf) = self.command();
        let space = key_space();
        let keys: Vec<String> = args[1..]
            .iter()
            .filter(|a| space.contains(a))
            .cloned()
            .collect();
        let Some(first) = keys.first().cloned() else {
            self.push(out, 0, args, tf);
            return;
        };
        let name = args[0].to_uppercase();
        self.push(
            out,
            0,
            vec!["EXPIRE".into(), first, "1000".into()],
            Tf::Exact,
        );
        self.push(out, 0, args, tf);
        for k in keys.iter().take(2) {
            self.push(out, 0, vec!["TTL".into(), k.clone()], Tf::Ttl(2));
            if let Some(step) = out.last_mut() {
                step.label = format!("TTL probe: TTL after A> {name}");
            }
        }
    }

    /// MULTI/EXEC/DISCARD/WATCH/UNWATCH, also nested, misplaced and with extra arguments.
    fn transaction_control(&mut self, out: &mut Vec<Step>) {
        let conn = usize::from(self.rng.chance(25));
        let inside = self.multi.inside(conn);
        let args = match self.rng.below(12) {
            0..=2 if !inside => cmd(&["MULTI"]),
            0..=3 => cmd(&["EXEC"]),
            4 => cmd(&["DISCARD"]),
            5 => cmd(&["MULTI"]),
            6 => {
                let k = self.rng.pick(ALL_KEYS);
                cmd(&["WATCH", k])
            }
            7 => cmd(&["UNWATCH"]),
            8 => cmd(&[
                self.rng.pick(&["MULTI", "EXEC", "DISCARD", "UNWATCH"]),
                "extra",
            ]),
            9 => cmd(&["WATCH"]),
            10 => cmd(&["NOSUCHCOMMAND", "x"]),
            _ => {
                let k = self.rng.pick(ALL_KEYS);
                cmd(&[self.rng.pick(&["GET", "LLEN", "SCARD"]), k, "extra"])
            }
        };
        self.push(out, conn, args, Tf::Exact);
    }

    /// Records a step (and follows it in the MULTI model, which `scenario` consults).
    fn push(&mut self, out: &mut Vec<Step>, conn: usize, args: Vec<String>, tf: Tf) {
        let step = Step {
            conn,
            label: args[0].to_uppercase(),
            args,
            tf,
        };
        self.multi.observe(&step);
        out.push(step);
    }

    pub(crate) fn key(&mut self, family: &[&str]) -> String {
        if self.rng.chance(80) {
            self.rng.pick(family).to_string()
        } else {
            self.rng.pick(ALL_KEYS).to_string()
        }
    }

    pub(crate) fn keys(&mut self, family: &[&str], max: usize) -> Vec<String> {
        let n = 1 + self.rng.below(max);
        (0..n).map(|_| self.key(family)).collect()
    }

    pub(crate) fn p(&mut self, xs: &[&str]) -> String {
        self.rng.pick(xs).to_string()
    }

    /// A numkeys argument: usually right, sometimes zero, negative, too big or not a number.
    pub(crate) fn numkeys(&mut self, n: usize) -> String {
        match self.rng.below(12) {
            0 => "0".into(),
            1 => "-1".into(),
            2 => (n + 1).to_string(),
            3 => "abc".into(),
            _ => n.to_string(),
        }
    }

    /// One random command of any family, with wrong arity now and then.
    pub fn command(&mut self) -> Cmd {
        let (mut args, mut tf) = match self.rng.below(100) {
            0..=17 => self.string_cmd(),
            18..=25 => self.bitmap_cmd(),
            26..=37 => self.key_cmd(),
            38..=52 => self.list_cmd(),
            53..=60 => self.hash_cmd(),
            61..=70 => self.set_cmd(),
            71..=87 => self.zset_cmd(),
            88..=91 => self.sort_cmd(),
            92..=95 => self.stream_cmd(),
            _ => self.weight_cmd(),
        };
        // Wrong arity: drop trailing arguments, or add one. A blocking command cut short never
        // gets a 0 timeout (none of the pools holds one where a timeout can shift to). SPOP
        // keeps its count: without it, it would remove a random member.
        if self.rng.chance(3) && args.len() > 1 && args[0] != "SPOP" {
            let keep = 1 + self.rng.below(args.len() - 1);
            args.truncate(keep);
            if keep == 2 && ["SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"].contains(&args[0].as_str())
            {
                // Without a count: one random member.
                tf = Tf::Shape;
            } else if tf == Tf::SortedScorePairs && keep == 3 {
                // ZRANDMEMBER k 100 without WITHSCORES: every member, in any order.
                tf = Tf::Sorted;
            } else if args[0].starts_with("SORT") {
                tf = super::families::sort_tf(&args);
            }
        } else if self.rng.chance(2) && !["ZRANK", "ZREVRANK"].contains(&args[0].as_str()) {
            // Not after ZRANK/ZREVRANK: see "ZRANK WITHSCORE" in the test's V72 list.
            args.push("extra".into());
        }
        (args, tf)
    }
}
