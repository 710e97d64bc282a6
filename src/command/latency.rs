//! LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR/HISTOGRAM/HELP and INFO latencystats, as Redis
//! 7.0: the latency monitor keeps, per event (`command`, `fast-command`), the last 160 seconds
//! that had a spike over `latency-monitor-threshold` ms (one sample per second, the worst) and
//! the all-time worst; the per-command histograms come from `timing`.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use bytes::Bytes;

use super::keys::help_reply;
use super::table::{
    container, flags, row, stat_rows_named, CommandSpec, NOKEY, STAT_ROWS as TABLE,
};
use super::{err, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::state::Histogram;

pub static COMMANDS: &[CommandSpec] = &[container(
    "latency",
    "server",
    "2.8.13",
    "A container for latency diagnostics commands",
    SUBCOMMANDS,
)];

#[rustfmt::skip]
static SUBCOMMANDS: &[CommandSpec] = &[
    row("latency|latest", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(latest), "server", "2.8.13", "Return the latest latency samples for all events.", ""),
    row("latency|history", 3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(history), "server", "2.8.13", "Return timestamp-latency samples for the event.", "event"),
    row("latency|reset", -2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(reset), "server", "2.8.13", "Reset latency data for one or more events.", "[event [event ...]]"),
    row("latency|graph", 3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(graph), "server", "2.8.13", "Return a latency graph for the event.", "event"),
    row("latency|doctor", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(doctor), "server", "2.8.13", "Return a human readable latency analysis report.", ""),
    row("latency|histogram", -2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(histogram), "server", "7.0.0", "Return the cumulative distribution of latencies of a subset of commands or all.", "[command [command ...]]"),
    row("latency|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(help), "server", "2.8.13", "Show helpful text about the different subcommands.", ""),
];

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// Samples kept per event.
const SAMPLES: usize = 160;

#[derive(Default)]
struct Series {
    /// (unix seconds, ms), oldest first.
    samples: std::collections::VecDeque<(i64, u64)>,
    max: u64,
}

static EVENTS: Mutex<BTreeMap<&'static str, Series>> = Mutex::new(BTreeMap::new());
/// `latency-tracking-info-percentiles`.
static PERCENTILES: RwLock<Vec<f64>> = RwLock::new(Vec::new());

fn events() -> std::sync::MutexGuard<'static, BTreeMap<&'static str, Series>> {
    EVENTS.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn set_percentiles(text: &str) {
    let values = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    *PERCENTILES.write().unwrap_or_else(|e| e.into_inner()) = values;
}

/// Records a spike of `ms` for `event` now (Redis's latencyAddSample).
pub fn add_sample(event: &'static str, ms: u64) {
    let now = (crate::shard::unix_ms() / 1000) as i64;
    let mut events = events();
    let series = events.entry(event).or_default();
    series.max = series.max.max(ms);
    match series.samples.back_mut() {
        Some((time, worst)) if *time == now => *worst = (*worst).max(ms),
        _ => {
            if series.samples.len() == SAMPLES {
                series.samples.pop_front();
            }
            series.samples.push_back((now, ms));
        }
    }
}

fn latest(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let events = events();
    Ok(Reply::Array(
        events
            .iter()
            .filter_map(|(name, s)| {
                let (time, ms) = *s.samples.back()?;
                Some(Reply::Array(vec![
                    Reply::Bulk(Bytes::from_static(name.as_bytes())),
                    Reply::Int(time),
                    Reply::Int(ms as i64),
                    Reply::Int(s.max as i64),
                ]))
            })
            .collect(),
    ))
}

fn history(_session: &mut Session, args: &mut Args) -> CmdResult {
    let name = args.next()?;
    let events = events();
    let samples = events
        .iter()
        .find(|(n, _)| n.as_bytes() == &name[..])
        .map(|(_, s)| s.samples.iter().copied().collect::<Vec<_>>())
        .unwrap_or_default();
    Ok(Reply::Array(
        samples
            .into_iter()
            .map(|(t, ms)| Reply::Array(vec![Reply::Int(t), Reply::Int(ms as i64)]))
            .collect(),
    ))
}

fn reset(_session: &mut Session, args: &mut Args) -> CmdResult {
    let mut events = events();
    let names = args.rest();
    let before = events.len();
    if names.is_empty() {
        events.clear();
    } else {
        events.retain(|n, _| !names.iter().any(|a| a[..] == *n.as_bytes()));
    }
    Ok(Reply::Int((before - events.len()) as i64))
}

/// An ASCII graph of an event's samples, in the shape of Redis's: a header, one column per
/// sample scaled between the lowest and highest, and each sample's age below it.
fn graph(_session: &mut Session, args: &mut Args) -> CmdResult {
    let name = args.next()?;
    let events = events();
    let Some((event, series)) = events
        .iter()
        .find(|(n, _)| n.as_bytes() == &name[..])
        .filter(|(_, s)| !s.samples.is_empty())
    else {
        return Err(err::latency_no_samples(&String::from_utf8_lossy(&name)));
    };
    let high = series.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let low = series.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut text = format!(
        "{event} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        series.max,
        "-".repeat(80)
    );
    const ROWS: u64 = 4;
    let now = (crate::shard::unix_ms() / 1000) as i64;
    let level = |ms: u64| {
        if high == low {
            ROWS
        } else {
            1 + (ms - low) * (ROWS - 1) / (high - low)
        }
    };
    for r in (1..=ROWS).rev() {
        let line: String = series
            .samples
            .iter()
            .map(|&(_, ms)| match level(ms) {
                l if l == r => '_',
                l if l > r => '|',
                _ => ' ',
            })
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let ages: Vec<String> = series
        .samples
        .iter()
        .map(|&(t, _)| age((now - t).max(0)))
        .collect();
    let height = ages.iter().map(String::len).max().unwrap_or(0);
    for i in 0..height {
        let line: String = ages
            .iter()
            .map(|a| a.chars().nth(i).unwrap_or(' '))
            .collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

/// How long ago, in Redis's graph labels: `12s`, `3m`, `2h`, `1d`.
fn age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn doctor(_session: &mut Session, _args: &mut Args) -> CmdResult {
    let events = events();
    let mut text = String::new();
    if events.is_empty() {
        text.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n");
    } else {
        text.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, s)) in events.iter().enumerate() {
            let n = s.samples.len() as u64;
            let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / n.max(1);
            let period = match (s.samples.front(), s.samples.back()) {
                (Some(a), Some(b)) if n > 1 => (b.0 - a.0) / (n as i64 - 1),
                _ => 0,
            };
            text.push_str(&format!(
                "{}. {name}: {n} latency spikes (average {avg}ms, period {period} sec). Worst all time event {}ms.\n",
                i + 1,
                s.max
            ));
        }
        text.push_str("\nI have a few advices for you:\n\n- Check your slow log (SLOWLOG GET) for the commands that took long, and split their work (fewer elements per call, SCAN families instead of KEYS, pipelining instead of big multi-key calls).\n");
    }
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

/// Every thread's histogram of `row`, merged: (upper bound ns, count) per bucket.
fn merged(session: &Session, row: usize) -> Vec<(u64, u64)> {
    let mut total: Vec<(u64, u64)> = Vec::new();
    for stats in session.server.stats.iter() {
        let Some(h) = stats.histogram(row) else {
            continue;
        };
        for (i, (upper, count)) in Histogram::counts(h).enumerate() {
            match total.get_mut(i) {
                Some(slot) => slot.1 += count,
                None => total.push((upper, count)),
            }
        }
    }
    total
}

/// Redis's histogram reply for one command: calls, and the cumulative count at each power of
/// two of microseconds (from 1) where it grows.
fn command_cdf(buckets: &[(u64, u64)]) -> Option<Reply> {
    let calls: u64 = buckets.iter().map(|b| b.1).sum();
    if calls == 0 {
        return None;
    }
    let mut points = Vec::new();
    let (mut seen, mut previous, mut i) = (0u64, 0u64, 0usize);
    let mut limit = 1024u64;
    while previous < calls {
        while i < buckets.len() && buckets[i].0 < limit {
            seen += buckets[i].1;
            i += 1;
        }
        if seen > previous {
            points.push((Reply::Int((limit / 1000) as i64), Reply::Int(seen as i64)));
        }
        previous = seen;
        limit = limit.saturating_mul(2);
        if limit == u64::MAX {
            break;
        }
    }
    Some(Reply::Map(vec![
        (
            Reply::Bulk(Bytes::from_static(b"calls")),
            Reply::Int(calls as i64),
        ),
        (
            Reply::Bulk(Bytes::from_static(b"histogram_usec")),
            Reply::Map(points),
        ),
    ]))
}

fn histogram(session: &mut Session, args: &mut Args) -> CmdResult {
    let rows: Vec<usize> = if args.is_done() {
        (0..TABLE.len()).collect()
    } else {
        let mut rows: Vec<usize> = args
            .rest()
            .iter()
            .flat_map(|name| stat_rows_named(name))
            .collect();
        rows.dedup();
        rows
    };
    Ok(Reply::Map(
        rows.into_iter()
            .filter_map(|row| {
                let cdf = command_cdf(&merged(session, row))?;
                Some((
                    Reply::Bulk(Bytes::from_static(TABLE[row].name.as_bytes())),
                    cdf,
                ))
            })
            .collect(),
    ))
}

fn help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(HELP))
}

/// INFO latencystats: `latency_percentiles_usec_<command>:p50=..,p99=..,p99.9=..` for every
/// command with calls.
pub fn info_lines(session_stats: &[crate::state::ThreadStats], out: &mut String) {
    let percentiles = PERCENTILES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (row, spec) in TABLE.iter().enumerate() {
        let mut buckets: Vec<(u64, u64)> = Vec::new();
        for stats in session_stats {
            if let Some(h) = stats.histogram(row) {
                for (i, (upper, count)) in h.counts().enumerate() {
                    match buckets.get_mut(i) {
                        Some(slot) => slot.1 += count,
                        None => buckets.push((upper, count)),
                    }
                }
            }
        }
        let calls: u64 = buckets.iter().map(|b| b.1).sum();
        if calls == 0 {
            continue;
        }
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let wanted = ((p / 100.0) * calls as f64).ceil().max(1.0) as u64;
                let mut seen = 0;
                let upper = buckets
                    .iter()
                    .find(|b| {
                        seen += b.1;
                        seen >= wanted
                    })
                    .map_or(0, |b| b.0);
                format!(
                    "p{}={:.3}",
                    crate::protocol::reply::double_text(p),
                    upper as f64 / 1000.0
                )
            })
            .collect();
        out.push_str(&format!(
            "latency_percentiles_usec_{}:{}\r\n",
            spec.name,
            values.join(",")
        ));
    }
}
