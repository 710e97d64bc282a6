//! nodes.conf and CLUSTER NODES' lines, both ways, in Redis 7.0's format:
//! `<id> <ip>:<port>@<cport>[,<hostname>] <flags> <master|-> <ping-sent> <pong-recv>
//! <config-epoch> <connected|disconnected> <slot|start-end|[slot->-id]|[slot-<-id]> ...`,
//! then `vars currentEpoch N lastVoteEpoch N`.

use std::fmt::Write;
use std::path::PathBuf;

use super::*;

/// Flag names in the order Redis writes them.
const FLAG_NAMES: &[(u16, &str)] = &[
    (MYSELF, "myself"),
    (MASTER, "master"),
    (SLAVE, "slave"),
    (PFAIL, "fail?"),
    (FAIL, "fail"),
    (HANDSHAKE, "handshake"),
    (NOADDR, "noaddr"),
    (NOFAILOVER, "nofailover"),
];

/// Node `i`'s line, without its newline.
pub fn node_line(state: &ClusterState, i: usize) -> String {
    let node = &state.nodes[i];
    let mut line = String::with_capacity(128);
    let _ = write!(line, "{} {}:{}@{}", node.id, node.ip, node.port, node.cport);
    if !node.hostname.is_empty() {
        let _ = write!(line, ",{}", node.hostname);
    }
    line.push(' ');
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(flag, _)| node.flags & flag != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        line.push_str("noflags");
    } else {
        line.push_str(&names.join(","));
    }
    line.push(' ');
    line.push_str(node.master.as_deref().unwrap_or("-"));
    // A replica shows its master's config epoch.
    let epoch = match (&node.master, node.is_replica()) {
        (Some(master), true) => state
            .lookup(master.as_bytes())
            .map_or(node.config_epoch, |m| state.nodes[m].config_epoch),
        _ => node.config_epoch,
    };
    let link = if node.flags & MYSELF != 0 || node.link {
        "connected"
    } else {
        "disconnected"
    };
    let _ = write!(
        line,
        " {} {} {} {}",
        node.ping_sent, node.pong_received, epoch, link
    );
    for (start, end) in state.ranges_of(i) {
        if start == end {
            let _ = write!(line, " {start}");
        } else {
            let _ = write!(line, " {start}-{end}");
        }
    }
    if i == state.myself {
        let mut moving: Vec<(&HashSlot, &Moving)> = state.moving.iter().collect();
        moving.sort_by_key(|(slot, _)| **slot);
        for (slot, how) in moving {
            match *how {
                Moving::MigratingTo(n) => {
                    let _ = write!(line, " [{slot}->-{}]", state.nodes[n].id);
                }
                Moving::ImportingFrom(n) => {
                    let _ = write!(line, " [{slot}-<-{}]", state.nodes[n].id);
                }
            }
        }
    }
    line
}

/// Why nodes.conf could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: impl Into<String>) -> ParseError {
    ParseError(what.into())
}

/// Reads nodes.conf as Redis's clusterLoadConfig does: blank lines skipped, a `vars` line of
/// pairs, node lines of at least eight fields; exactly one node flagged `myself`.
pub fn parse(text: &[u8], path: PathBuf) -> Result<ClusterState, ParseError> {
    let text = std::str::from_utf8(text).map_err(|_| bad("not text"))?;
    let mut state = ClusterState::fresh(path);
    state.nodes.clear();
    let mut myself = None;
    for line in text.lines() {
        let argv: Vec<&str> = line.split_whitespace().collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0].eq_ignore_ascii_case("vars") {
            if argv.len().is_multiple_of(2) {
                return Err(bad("odd vars line"));
            }
            for pair in argv[1..].chunks(2) {
                let value = pair[1].parse::<u64>().unwrap_or(0);
                if pair[0].eq_ignore_ascii_case("currentEpoch") {
                    state.current_epoch = value;
                } else if pair[0].eq_ignore_ascii_case("lastVoteEpoch") {
                    state.last_vote_epoch = value;
                } else {
                    tracing::warn!("Skipping unknown cluster config variable '{}'", pair[0]);
                }
            }
            continue;
        }
        if argv.len() < 8 {
            return Err(bad(format!("short line: {line}")));
        }
        if !valid_id(argv[0].as_bytes()) {
            return Err(bad(format!("bad node ID: {}", argv[0])));
        }
        let i = state.lookup_or_add(argv[0]);
        parse_address(&mut state.nodes[i], argv[1])?;
        for flag in argv[2].split(',') {
            let known = FLAG_NAMES
                .iter()
                .find(|(_, name)| name.eq_ignore_ascii_case(flag));
            match known {
                Some((MYSELF, _)) if myself.is_some() => return Err(bad("two myself lines")),
                Some((MYSELF, _)) => {
                    myself = Some(i);
                    state.nodes[i].flags |= MYSELF;
                }
                Some((bit, _)) => state.nodes[i].flags |= *bit,
                None if flag.eq_ignore_ascii_case("noflags") => {}
                None => return Err(bad(format!("unknown flag {flag}"))),
            }
        }
        if !argv[3].starts_with('-') {
            if !valid_id(argv[3].as_bytes()) {
                return Err(bad(format!("bad master ID: {}", argv[3])));
            }
            state.lookup_or_add(argv[3]);
            state.nodes[i].master = Some(argv[3].to_string());
        }
        let node = &mut state.nodes[i];
        // As Redis: a time in the file means "now" (no timeout counts from an old run).
        let now = crate::shard::unix_ms();
        node.ping_sent = if argv[4].parse().unwrap_or(0) != 0 {
            now
        } else {
            0
        };
        node.pong_received = if argv[5].parse().unwrap_or(0) != 0 {
            now
        } else {
            0
        };
        node.config_epoch = if node.is_replica() && node.master.is_some() {
            0
        } else {
            argv[6].parse().unwrap_or(0)
        };
        for field in &argv[8..] {
            parse_slots(&mut state, i, field)?;
        }
    }
    state.myself = myself.ok_or_else(|| bad("no myself line"))?;
    // Protection against hand edits: no epoch above the current one.
    state.current_epoch = state.max_epoch();
    Ok(state)
}

/// `ip:port[@cport][,hostname]`.
fn parse_address(node: &mut Node, field: &str) -> Result<(), ParseError> {
    let (address, hostname) = match field.split_once(',') {
        Some((address, hostname)) => (address, hostname),
        None => (field, ""),
    };
    node.hostname = hostname.to_string();
    let (ip, ports) = address
        .rsplit_once(':')
        .ok_or_else(|| bad(format!("bad address {field}")))?;
    let (port, cport) = match ports.split_once('@') {
        Some((port, cport)) => (port, Some(cport)),
        None => (ports, None),
    };
    node.ip = ip.to_string();
    node.port = port.parse().unwrap_or(0);
    node.cport = match cport {
        Some(cport) => cport.parse().unwrap_or(0),
        // Older files have no bus port: the default distance.
        None => (u32::from(node.port) + PORT_INCR).min(65535) as u16,
    };
    Ok(())
}

/// A slot field of node `i`: `n`, `a-b`, `[n->-id]` or `[n-<-id]`.
fn parse_slots(state: &mut ClusterState, i: usize, field: &str) -> Result<(), ParseError> {
    let slot = |text: &str| -> Result<usize, ParseError> {
        text.parse::<usize>()
            .ok()
            .filter(|&s| s < SLOTS)
            .ok_or_else(|| bad(format!("bad slot {field}")))
    };
    if let Some(open) = field.strip_prefix('[') {
        let inner = open
            .strip_suffix(']')
            .ok_or_else(|| bad(format!("bad slot {field}")))?;
        let (number, rest) = inner
            .split_once('-')
            .ok_or_else(|| bad(format!("bad slot {field}")))?;
        let n = slot(number)?;
        let (migrating, id) = if let Some(id) = rest.strip_prefix(">-") {
            (true, id)
        } else if let Some(id) = rest.strip_prefix("<-") {
            (false, id)
        } else {
            return Err(bad(format!("bad slot {field}")));
        };
        if !valid_id(id.as_bytes()) {
            return Err(bad(format!("bad node ID in {field}")));
        }
        let peer = state.lookup_or_add(id);
        let how = if migrating {
            Moving::MigratingTo(peer)
        } else {
            Moving::ImportingFrom(peer)
        };
        state.moving.insert(n as HashSlot, how);
        return Ok(());
    }
    let (start, end) = match field.split_once('-') {
        Some((a, b)) => (slot(a)?, slot(b)?),
        None => (slot(field)?, slot(field)?),
    };
    for s in start..=end {
        state.assign(s, i);
    }
    Ok(())
}
