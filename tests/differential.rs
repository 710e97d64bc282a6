//! Differential test: seeded random command sequences go to ringkv (2 threads, so keys land on
//! both shards) and to redis-server, over two connections each (A and B), strictly in the order
//! the sequence says, each reply read before the next command is sent. Replies must agree byte
//! for byte after the normalisations of `gen::Tf` (only what Redis leaves unspecified) and the
//! `V72` list (where ringkv follows Redis 7.2.4 and the oracle is 7.0.15).
//!
//! Covered: every data type (edge values: i64 extremes, -0, inf, hex, '', ' 1', 1e400),
//! wrong arity and wrong type, MULTI/EXEC/DISCARD (nested, misplaced, with extra arguments,
//! unknown commands), blocking pops served at once or timing out after 0.01 s, the TTL probe
//! `A> EXPIRE k 1000; A> command on k; A> TTL k` (is the TTL kept or dropped as Redis does),
//! and the WATCH probe `A> UNWATCH; A> WATCH keys; B> command; A> MULTI; A> PING; A> EXEC`,
//! whose nil-or-[PONG] says whether B's command signalled the keys as modified.
//!
//! On a difference the connections are reopened and both servers flushed, and the run goes
//! on, so one run files many differences into classes (label + kinds of both replies). The
//! test fails listing each class once: seed, index, the last commands of both connections
//! with both replies, and a shrunk reproduction (the fewest commands, from an empty server,
//! whose last reply differs and no earlier one does).
//!
//! Environment (all optional), for longer runs by hand:
//! - `DIFF_SEEDS`: how many seeds (default 8), or a comma-separated list of seeds (`3,17,99`;
//!   one seed alone as `17,`).
//! - `DIFF_SEED_BASE`: the first seed when `DIFF_SEEDS` is a count (default 1).
//! - `DIFF_COMMANDS`: commands per seed (default 2000).
//! - `DIFF_SHRINK_SECS`: time for shrinking, over all classes (default 20; 0 = no shrinking).
//! - `DIFF_LOG`: a file to write the whole transcript to (every command, both replies).
//!
//! e.g. `DIFF_SEEDS=100 DIFF_COMMANDS=5000 cargo test --release --test integration differential::`.

use crate::common;

#[path = "differential/families.rs"]
mod families;
#[path = "differential/gen.rs"]
mod gen;
#[path = "differential/reply.rs"]
mod reply;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{backends, RedisServer, Server};
use gen::{Expect, Gen, MultiModel, Step, Tf};
use reply::{normalise, parse, same, Conn, V};

/// Where ringkv follows Redis 7.2.4 and the oracle, redis-server 7.0.15, answers otherwise. A
/// difference one of these accepts is counted under its name, not reported. Each rule accepts
/// only the exact pair of replies the two versions give, so anything else still shows. A rule
/// without `accepts` names a form the generator does not produce at all, because 7.0 has no
/// answer to compare with (the generator points here where it leaves the form out).
struct V72Rule {
    name: &'static str,
    why: &'static str,
    accepts: Option<Accepts>,
}

/// Whether a rule accepts the replies (redis, ours) to a command (args, normalisation).
type Accepts = fn(args: &[String], tf: Tf, redis: &V, ours: &V) -> bool;

const V72: &[V72Rule] = &[
    V72Rule {
        name: "double formatting",
        why: "7.2 prints doubles in the shortest form that reads back (\"0.1\"), 7.0 with %.17g \
              (\"0.10000000000000001\"): scores are compared as f64 bit patterns",
        accepts: Some(|_, tf, redis, ours| {
            // Canonical first, then sorted: an unordered reply sorts by the canonical text.
            let canonical = |v: &V| normalise(&reply::canonical_scores(v), tf);
            matches!(tf, Tf::Scores | Tf::SortedScorePairs) && canonical(redis) == canonical(ours)
        }),
    },
    V72Rule {
        name: "blocking timeout out of range",
        why: "7.2 refuses a timeout beyond i64 milliseconds with 'timeout is out of range'; 7.0 \
              casts it (undefined behaviour, LLONG_MIN on x86) and says 'timeout is negative'",
        accepts: Some(|args, _, redis, ours| {
            let timeout = match args[0].to_uppercase().as_str() {
                "BLMPOP" | "BZMPOP" => args.get(1),
                "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" | "BLMOVE" | "BRPOPLPUSH" => {
                    args.last()
                }
                _ => None,
            };
            let huge = timeout
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| t * 1000.0 > i64::MAX as f64);
            huge && is_error(redis, "ERR timeout is negative")
                && is_error(ours, "ERR timeout is out of range")
        }),
    },
    V72Rule {
        name: "LPOS RANK LONG_MIN",
        why: "7.2 reads RANK with a range check (-LONG_MAX..LONG_MAX) while parsing the options, \
              before the key; 7.0 takes LONG_MIN and answers from the key (a position, nil, \
              WRONGTYPE) or stops at a later bad option",
        accepts: Some(|args, _, _, ours| {
            // 7.2 stops at the first RANK LONG_MIN: every option before it must be one 7.0
            // accepts too, whatever 7.0 then says about the options after it or the key.
            let valid = |name: &str, value: &str| match (name, value.parse::<i64>()) {
                ("RANK", Ok(n)) => n != 0 && n != i64::MIN && value == n.to_string(),
                ("COUNT" | "MAXLEN", Ok(n)) => n >= 0 && value == n.to_string(),
                _ => false,
            };
            let mut options = args.get(3..).unwrap_or_default().chunks(2);
            let first_bad = options.find(|o| o.len() < 2 || !valid(&o[0].to_uppercase(), &o[1]));
            let rank_min = first_bad.is_some_and(|o| {
                o.len() == 2 && o[0].eq_ignore_ascii_case("RANK") && o[1] == "-9223372036854775808"
            });
            rank_min
                && is_error(
                    ours,
                    "ERR value is out of range, value must between -9223372036854775807 and \
                     9223372036854775807",
                )
        }),
    },
    V72Rule {
        name: "ZRANK WITHSCORE",
        why: "7.2 added ZRANK/ZREVRANK key member WITHSCORE (arity -3, a wrong 4th argument is a \
              syntax error at run time); 7.0 has arity 3 and refuses any 4th argument, even \
              when queueing inside MULTI: ZRANK/ZREVRANK are generated with exactly 3 arguments",
        accepts: None,
    },
];

/// Differences README names as kept on purpose (not version differences): each accepts only
/// the exact pair of replies the two servers give.
const DOCUMENTED: &[V72Rule] = &[
    V72Rule {
        name: "ZRANDMEMBER and a -0 score",
        why: "a member whose score was computed as -0 (ZINCRBY/ZADD INCR by -0) is stored as 0 by \
              both servers (ZSCORE and ZRANGE say 0), but redis-server 7.0's ZRANDMEMBER \
              WITHSCORES prints it -0; ringkv prints 0",
        accepts: Some(|args, tf, redis, ours| {
            let zero = |v: &V| normalise(&reply::unsigned_zeros(v), tf);
            args[0].eq_ignore_ascii_case("ZRANDMEMBER") && zero(redis) == zero(ours)
        }),
    },
    V72Rule {
        name: "SORT after a float overflow",
        why: "redis-server 7.0's SORT reads weights with strtod without clearing errno, so after \
              any earlier ERANGE in the process (a 1e400 argument) it refuses valid weights with \
              'One or more scores can't be converted into double'; ringkv does not copy that",
        accepts: Some(|args, _, redis, ours| {
            let sort = ["SORT", "SORT_RO"].contains(&args[0].to_uppercase().as_str());
            sort && is_error(
                redis,
                "ERR One or more scores can't be converted into double",
            ) && !matches!(ours, V::Error(_))
        }),
    },
    V72Rule {
        name: "INCRBYFLOAT in f64",
        why: "INCRBYFLOAT/HINCRBYFLOAT compute in f64, Redis in long double (README): the results \
          agree to f64's precision, and a result past f64's range is refused where Redis \
          prints it",
        accepts: Some(|args, _, redis, ours| {
            let name = args[0].to_uppercase();
            if name != "INCRBYFLOAT" && name != "HINCRBYFLOAT" {
                return false;
            }
            let number = |v: &V| match v {
                V::Bulk(b) => std::str::from_utf8(b).ok()?.parse::<f64>().ok(),
                _ => None,
            };
            match (number(redis), ours) {
                (Some(r), V::Bulk(_)) => number(ours).is_some_and(|o| {
                    r.is_finite() && (o - r).abs() <= r.abs().max(o.abs()) * 1e-15
                }),
                (Some(r), V::Error(_)) => {
                    r.is_infinite()
                        && (is_error(ours, "ERR increment would produce NaN or Infinity")
                            || is_error(ours, "ERR value is NaN or Infinity"))
                }
                _ => false,
            }
        }),
    },
];

fn is_error(v: &V, text: &str) -> bool {
    matches!(v, V::Error(e) if e == text.as_bytes())
}

/// Commands per history shown with a difference.
const HISTORY: usize = 30;

struct Config {
    seeds: Vec<u64>,
    commands: usize,
    shrink: Duration,
    log: Option<String>,
}

impl Config {
    fn from_env() -> Config {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base: u64 =
            var("DIFF_SEED_BASE").map_or(1, |v| v.trim().parse().expect("DIFF_SEED_BASE"));
        let seeds = match var("DIFF_SEEDS") {
            Some(v) if v.contains(',') => v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().expect("DIFF_SEEDS: a list of integers"))
                .collect(),
            Some(v) => {
                let n: u64 = v.trim().parse().expect("DIFF_SEEDS: a count or a list");
                (base..base + n).collect()
            }
            None => (base..base + 8).collect(),
        };
        let commands =
            var("DIFF_COMMANDS").map_or(2000, |v| v.trim().parse().expect("DIFF_COMMANDS"));
        let secs: u64 =
            var("DIFF_SHRINK_SECS").map_or(20, |v| v.trim().parse().expect("DIFF_SHRINK_SECS"));
        Config {
            seeds,
            commands,
            shrink: Duration::from_secs(secs),
            log: var("DIFF_LOG"),
        }
    }
}

/// Connections A and B to one server.
struct Side {
    port: u16,
    conns: [Conn; 2],
}

impl Side {
    fn open(port: u16) -> Side {
        let mut side = Side {
            port,
            conns: [Conn::connect(port), Conn::connect(port)],
        };
        let flushed = side.conns[0].call(&["FLUSHALL".to_string()]);
        assert_eq!(
            flushed.as_deref(),
            Ok(&b"+OK\r\n"[..]),
            "FLUSHALL on port {port}"
        );
        side
    }
}

/// Both servers, driven in step.
struct Pair {
    redis: Side,
    ours: Side,
    multi: MultiModel,
}

/// One step's outcome.
struct Outcome {
    redis: V,
    ours: V,
    /// The class of the difference, if any.
    diff: Option<String>,
    /// The V72 rule that accepted a difference, if any.
    accepted: Option<&'static str>,
}

impl Pair {
    fn open(redis_port: u16, our_port: u16) -> Pair {
        Pair {
            redis: Side::open(redis_port),
            ours: Side::open(our_port),
            multi: MultiModel::default(),
        }
    }

    /// Fresh connections (no MULTI, no WATCH) and empty servers.
    fn reset(&mut self) {
        *self = Pair::open(self.redis.port, self.ours.port);
    }

    fn run(&mut self, step: &Step) -> Outcome {
        let read = |r: Result<Vec<u8>, String>| r.map_or_else(V::Missing, |b| parse(&b));
        let raw_redis = self.redis.conns[step.conn].call(&step.args);
        let raw_ours = self.ours.conns[step.conn].call(&step.args);
        let expect = self.multi.observe(step);
        let identical = matches!((&raw_redis, &raw_ours), (Ok(a), Ok(b)) if a == b);
        let (redis, ours) = (read(raw_redis), read(raw_ours));
        let mut outcome = Outcome {
            redis,
            ours,
            diff: None,
            accepted: None,
        };
        if identical {
            return outcome;
        }
        let (label, args, tf, r, o) = match (&expect, &outcome.redis, &outcome.ours) {
            (Expect::Exec(queue), V::Array(rs), V::Array(os))
                if rs.len() == queue.len() && os.len() == queue.len() =>
            {
                let mut first = None;
                for (((args, tf), r), o) in queue.iter().zip(rs).zip(os) {
                    match compare(args, *tf, r, o) {
                        Ok(Some(rule)) => {
                            outcome.accepted = Some(rule);
                            // The keyspaces are apart after it: the rest of the EXEC is not
                            // compared (the run then starts over, see `apart`).
                            if DOCUMENTED.iter().any(|d| d.name == rule) {
                                break;
                            }
                        }
                        Ok(None) => {}
                        Err(()) => {
                            let name = args[0].to_uppercase();
                            first = Some((format!("{}/{name}", step.label), &args[..], *tf, r, o));
                            break;
                        }
                    }
                }
                match first {
                    Some(found) => found,
                    None => return outcome,
                }
            }
            (Expect::Own(tf), r, o) => (step.label.clone(), &step.args[..], *tf, r, o),
            (_, r, o) => (step.label.clone(), &step.args[..], Tf::Exact, r, o),
        };
        match compare(args, tf, r, o) {
            Ok(rule) => outcome.accepted = rule.or(outcome.accepted),
            Err(()) => {
                outcome.diff = Some(format!("{label}: redis {} / ringkv {}", r.kind(), o.kind()))
            }
        }
        outcome
    }
}

/// Ok when the replies agree (with the V72 rule that made them agree, if one did).
fn compare(args: &[String], tf: Tf, redis: &V, ours: &V) -> Result<Option<&'static str>, ()> {
    if same(tf, &normalise(redis, tf), &normalise(ours, tf)) {
        return Ok(None);
    }
    let accepts = |rule: &&V72Rule| rule.accepts.is_some_and(|f| f(args, tf, redis, ours));
    match V72.iter().chain(DOCUMENTED).find(accepts) {
        Some(rule) => Ok(Some(rule.name)),
        None => Err(()),
    }
}

fn show_step(step: &Step) -> String {
    let conn = if step.conn == 0 { "A" } else { "B" };
    let args: Vec<String> = step
        .args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(' ') || a.contains('"') {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("{conn}> {}", args.join(" "))
}

fn show_line(index: usize, step: &Step, outcome: &Outcome) -> String {
    let (r, o) = (outcome.redis.show(), outcome.ours.show());
    if outcome.diff.is_some() {
        format!(
            "#{index} {}\n      redis : {r}\n      ringkv: {o}   <-- differs",
            show_step(step)
        )
    } else if r == o {
        format!("#{index} {}  -> {r}", show_step(step))
    } else {
        format!(
            "#{index} {}  -> redis {r} | ringkv {o} (normalised equal)",
            show_step(step)
        )
    }
}

/// The first occurrence of a class of differences.
struct Found {
    count: usize,
    seed: u64,
    index: usize,
    history: Vec<String>,
    /// The steps since the servers were last reset, up to and including the differing one.
    segment: Vec<Step>,
    shrunk: Option<Vec<String>>,
}

struct Totals {
    steps: usize,
    diffs: usize,
    accepted: BTreeMap<&'static str, usize>,
}

/// Runs one seed; returns its transcript.
fn run_seed(
    pair: &mut Pair,
    seed: u64,
    commands: usize,
    found: &mut BTreeMap<String, Found>,
    totals: &mut Totals,
) -> Vec<String> {
    let mut gen = Gen::new(seed);
    pair.reset();
    let mut steps: Vec<Step> = Vec::new();
    let mut log: Vec<String> = Vec::new();
    let mut segment_start = 0;
    while steps.len() < commands {
        let from = steps.len();
        gen.scenario(&mut steps);
        let mut i = from;
        while i < steps.len() {
            let outcome = pair.run(&steps[i]);
            totals.steps += 1;
            if let Some(rule) = outcome.accepted {
                *totals.accepted.entry(rule).or_default() += 1;
            }
            log.push(show_line(i, &steps[i], &outcome));
            // A documented difference in a write leaves the two keyspaces apart: both start
            // over, as after a difference, but nothing is reported.
            let apart = outcome.diff.is_none()
                && outcome
                    .accepted
                    .is_some_and(|rule| DOCUMENTED.iter().any(|d| d.name == rule));
            if apart {
                steps.truncate(i + 1);
                pair.reset();
                gen.reset();
                log.push("-- documented difference: reconnected, servers flushed --".to_string());
                segment_start = i + 1;
                break;
            }
            if let Some(class) = outcome.diff {
                totals.diffs += 1;
                let entry = found.entry(class).or_insert_with(|| Found {
                    count: 0,
                    seed,
                    index: i,
                    history: log[log.len().saturating_sub(HISTORY)..].to_vec(),
                    segment: steps[segment_start..=i].to_vec(),
                    shrunk: None,
                });
                entry.count += 1;
                // Start over from empty servers; the rest of this scenario is dropped.
                steps.truncate(i + 1);
                pair.reset();
                gen.reset();
                log.push("-- reconnected, servers flushed --".to_string());
                segment_start = i + 1;
                break;
            }
            i += 1;
        }
    }
    log
}

/// Replays `steps` on fresh connections and empty servers: the index and class of the first
/// difference, if any.
fn replay(pair: &mut Pair, steps: &[Step]) -> Option<(usize, String)> {
    pair.reset();
    steps
        .iter()
        .enumerate()
        .find_map(|(i, step)| pair.run(step).diff.map(|class| (i, class)))
}

/// `steps` replayed from empty servers, one line per step with both replies.
fn transcript(pair: &mut Pair, steps: &[Step]) -> Vec<String> {
    pair.reset();
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| show_line(i, step, &pair.run(step)))
        .collect()
}

/// The fewest steps (kept in order, the differing one last) that still differ first at the
/// last step in the same class; None if even the whole segment does not reproduce in time.
fn shrink(pair: &mut Pair, segment: &[Step], class: &str, deadline: Instant) -> Option<Vec<Step>> {
    let reproduces = |pair: &mut Pair, cand: &[Step]| {
        Instant::now() < deadline
            && replay(pair, cand).is_some_and(|(i, c)| i + 1 == cand.len() && c == class)
    };
    // The shortest suffix that reproduces, doubling: most differences need little history.
    let mut len = 1;
    let mut cur = loop {
        let cand = &segment[segment.len() - len.min(segment.len())..];
        if reproduces(pair, cand) {
            break cand.to_vec();
        }
        if len >= segment.len() || Instant::now() >= deadline {
            return None;
        }
        len *= 2;
    };
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut removed = false;
        let mut at = 0;
        while at + 1 < cur.len() {
            let end = (at + chunk).min(cur.len() - 1);
            let cand: Vec<Step> = cur[..at].iter().chain(&cur[end..]).cloned().collect();
            if reproduces(pair, &cand) {
                cur = cand;
                removed = true;
            } else {
                at = end;
            }
        }
        if Instant::now() >= deadline || (chunk == 1 && !removed) {
            return Some(cur);
        }
        chunk = (chunk / 2).max(1);
    }
}

/// The oracle and ringkv, started for one test.
fn servers() -> (RedisServer, Server) {
    let all = backends();
    let backend = if all.contains(&"epoll") {
        "epoll"
    } else {
        all[0]
    };
    (RedisServer::start(), Server::start(2, backend, &[]))
}

#[test]
fn key_space_spans_both_shards() {
    let table = ringkv::shard::SlotTable::new(2);
    let shards: std::collections::BTreeSet<usize> = gen::key_space()
        .iter()
        .map(|k| table.shard_of(k.as_bytes()))
        .collect();
    assert_eq!(
        shards.len(),
        2,
        "the generated keys must land on both shards"
    );
}

#[test]
fn random_sequences_match_redis() {
    let config = Config::from_env();
    let (redis, ours) = servers();
    let mut pair = Pair::open(redis.port, ours.port);
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut totals = Totals {
        steps: 0,
        diffs: 0,
        accepted: BTreeMap::new(),
    };
    let started = Instant::now();
    let mut full_log = Vec::new();
    for &seed in &config.seeds {
        full_log.push(format!("== seed {seed}"));
        full_log.extend(run_seed(
            &mut pair,
            seed,
            config.commands,
            &mut found,
            &mut totals,
        ));
    }
    if let Some(path) = &config.log {
        std::fs::write(path, full_log.join("\n") + "\n").expect("DIFF_LOG: writable file");
    }
    let ran = started.elapsed();
    let deadline = Instant::now() + config.shrink;
    for (class, f) in found.iter_mut() {
        if Instant::now() >= deadline {
            break;
        }
        f.shrunk = shrink(&mut pair, &f.segment, class, deadline)
            .map(|steps| transcript(&mut pair, &steps));
    }
    let accepted: Vec<String> = totals
        .accepted
        .iter()
        .map(|(name, n)| {
            let why = V72
                .iter()
                .chain(DOCUMENTED)
                .find(|r| r.name == *name)
                .map_or("", |r| r.why);
            format!("{name} x{n} ({why})")
        })
        .collect();
    eprintln!(
        "differential: {} seeds, {} commands in {:.1?}, {} differences in {} classes; accepted (V72, DOCUMENTED): {}",
        config.seeds.len(),
        totals.steps,
        ran,
        totals.diffs,
        found.len(),
        if accepted.is_empty() { "none".to_string() } else { accepted.join("; ") }
    );
    let mut report = String::new();
    for (n, (class, f)) in found.iter().enumerate() {
        report.push_str(&format!(
            "\n=== class {}: {class}\n  seen {} times; first at seed {} index {} (rerun: DIFF_SEEDS='{},' DIFF_COMMANDS={})\n",
            n + 1,
            f.count,
            f.seed,
            f.index,
            f.seed,
            f.index + 1
        ));
        match &f.shrunk {
            Some(lines) => {
                report.push_str("  shrunk reproduction (empty server, then):\n");
                for l in lines {
                    report.push_str(&format!("    {l}\n"));
                }
            }
            None => report.push_str("  (not shrunk)\n"),
        }
        report.push_str("  history:\n");
        for l in &f.history {
            report.push_str(&format!("    {l}\n"));
        }
    }
    assert!(
        found.is_empty(),
        "{} differences in {} classes over {} commands:{report}",
        totals.diffs,
        found.len(),
        totals.steps
    );
}
