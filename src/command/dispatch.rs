//! Runs a batch of parsed commands for one connection: keyed commands are grouped by owning
//! shard (one mailbox message per target shard per batch, the local shard inline), everything
//! else runs in order between those groups; replies are encoded in request order.

use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};

use super::serving;
use super::table::{lookup, CommandSpec, Flags};
use super::{err, error, Args, CmdResult, Cross, Kind, Merge, ReplyMode, Session, ShardOp};
use crate::protocol::Reply;
use crate::shard::mailbox::AtomicPart;
use crate::shard::record::{self, prefetch_value};
use crate::shard::tracking::{Track, Tracker};
use crate::shard::{slot_of, HashSlot, Shard, ShardId};
use crate::state::{cycles, ThreadStats};

/// A keyed command waiting for its shard's turn in this batch.
struct Queued {
    /// Its place in the batch's replies. It and `db` are u32 so that a Queued stays within
    /// 128 bytes, which the compiler moves inline: past that, each move in and out of a queue
    /// is a memcpy call (+5 % instructions per pipelined SET).
    slot: u32,
    /// Its command-table row (a subcommand's own), under which its time is noted.
    row: u32,
    /// The hash slot of the command's first key.
    key_slot: HashSlot,
    db: u32,
    spec: &'static CommandSpec,
    op: ShardOp,
    args: Args,
    /// How it tracks for its client (CLIENT TRACKING): one byte, as the client is the batch's.
    track: Track,
    /// Its reply, once run: a forwarded group comes back with its replies in it.
    reply: Option<Reply>,
    /// How long it ran (`state::cycles` ticks), timed on its shard.
    ticks: u64,
}

// The inline-move bound `slot` and `db` are narrowed for.
const _: () = assert!(std::mem::size_of::<Queued>() <= 128);

impl Queued {
    /// Runs the command on `shard` (its own, or this thread's), tracking for `client`
    /// (id, thread) as the batch's client asked. `clock` is the counter when the previous
    /// command of the run ended (or the run began): the command's ticks are from there to its
    /// end, so that back-to-back commands read the counter once each, not twice (a read
    /// costs ~13 ns on a VM, 2-3 % of a pipelined SET).
    #[inline(always)]
    fn run(&mut self, shard: &mut Shard, client: (u64, usize), clock: &mut u64) -> Reply {
        if crate::cluster::enabled() {
            if let Some(redirect) = cluster_guard(shard, self, client.0) {
                return redirect;
            }
        }
        let tracker = self.track.tracker(client.0, client.1);
        let reply = run_op_in(
            shard,
            self.db as usize,
            self.spec,
            self.op,
            &mut self.args,
            Some(self.key_slot),
            tracker,
            client.0,
        );
        let now = cycles();
        self.ticks = now.wrapping_sub(*clock);
        *clock = now;
        reply
    }

    /// The command's first key, if it has one.
    fn first_key(&self) -> Option<&[u8]> {
        let items = self.args.all();
        let at = self.spec.key_positions(items.len()).next()?;
        Some(&items[at])
    }

    /// For a hash or set command on one key, the argument after the key: the field or
    /// member it looks up, for most of them (a wrong guess only costs a useless prefetch).
    fn field_lookup(&self) -> Option<(usize, HashSlot, &[u8], &[u8])> {
        if !matches!(self.spec.group, "hash" | "set") || self.spec.keys != (1, 1, 1) {
            return None;
        }
        match self.args.all() {
            [_, key, field, ..] => Some((self.db as usize, self.key_slot, key, field)),
            _ => None,
        }
    }
}

/// Runs `op` (the Op half of `spec`) on `shard` for database `db`.
pub fn run_op(
    shard: &mut Shard,
    db: usize,
    spec: &'static CommandSpec,
    op: ShardOp,
    args: &mut Args,
) -> Reply {
    shard.read_clock();
    run_op_in(shard, db, spec, op, args, None, None, 0)
}

/// `run_op` for a command of client `client` (0: not known), tracking for `tracker`.
pub fn run_op_for(
    shard: &mut Shard,
    db: usize,
    spec: &'static CommandSpec,
    op: ShardOp,
    args: &mut Args,
    tracker: Option<Tracker>,
    client: u64,
) -> Reply {
    shard.read_clock();
    run_op_in(shard, db, spec, op, args, None, tracker, client)
}

/// `run_op` for a command whose first key's slot is known (`key_slot`, from routing), run
/// for client `client` (0: not known; named in a crash report).
#[allow(clippy::too_many_arguments)]
fn run_op_in(
    shard: &mut Shard,
    db: usize,
    spec: &'static CommandSpec,
    op: ShardOp,
    args: &mut Args,
    key_slot: Option<HashSlot>,
    tracker: Option<Tracker>,
    client: u64,
) -> Reply {
    let items = args.all();
    let first = spec.key_positions(items.len()).next();
    let key = first.map(|p| {
        let key = &items[p][..];
        (key, key_slot.unwrap_or_else(|| slot_of(key)))
    });
    shard.begin(db, key);
    let on_replica = crate::shard::db::REPLICA_FROZEN.load(std::sync::atomic::Ordering::Relaxed);
    if on_replica {
        // On a replica, an expiry its own client sets is its to enforce; its master's commands
        // still see expired keys.
        use crate::shard::db::{set_origin, Origin};
        let origin = match client {
            0 => Origin::Unknown,
            id if Some(id) == super::replication::replica::master_client() => Origin::Master,
            _ => Origin::Local,
        };
        set_origin(origin);
    }
    serving::begin(spec, client, args.all());
    shard.set_tracker(tracker);
    let reply = op(shard, args).unwrap_or_else(|e| e);
    serving::done();
    if on_replica {
        // Work outside a command (a served waiter, a cross-shard step) has no origin.
        crate::shard::db::set_origin(crate::shard::db::Origin::Unknown);
    }
    if shard.journaling() {
        super::propagate::record(shard, spec, args, &reply);
    }
    if spec.writes() {
        // Still under the command's hint (its arguments are alive and unchanged): re-sizing
        // the written key finds its slot without computing the CRC again.
        let items = args.all();
        let succeeded = !matches!(reply, Reply::Error(_));
        shard.after_write(
            spec.key_positions(items.len()).map(|p| &items[p][..]),
            succeeded,
        );
    }
    if tracker.is_some() {
        super::tracking::after_op(shard, spec, args.all());
    }
    shard.end();
    // Published per command, not per job: a script or a transaction may publish in between.
    if shard.has_events() {
        super::publish_keyspace_events(shard);
    }
    if crate::shard::db::RECORD_EXPIRED.load(std::sync::atomic::Ordering::Relaxed) {
        super::notify_expired(shard);
    }
    if shard.has_ready() {
        shard.serve_blocked();
        if shard.has_events() {
            super::publish_keyspace_events(shard);
        }
    }
    reply
}

/// Starts loading the keys of a group of commands about to run back to back on `shard`, one
/// lookup step at a time for all of them (see `Db::prefetch`), so that the group's cache misses
/// overlap instead of each command waiting for its own in turn.
fn prefetch(shard: &Shard, work: &[Queued]) {
    if work.len() > 1 {
        shard.prefetch_lookups(
            work.iter()
                .filter_map(|q| Some((q.db as usize, q.key_slot, q.first_key()?))),
        );
        shard.prefetch_fields(work.iter().filter_map(Queued::field_lookup));
    }
}

/// Starts pulling in a group that another core wrote (the commands, their argument lists,
/// their keys), each step for the whole group before the next, as `prefetch` does for the
/// keyspace: the group's cross-core cache misses then overlap.
fn prefetch_forwarded(work: &[Queued]) {
    work.iter().for_each(prefetch_value);
    for q in work {
        record::prefetch(q.args.all().as_ptr().cast());
    }
    for key in work.iter().filter_map(Queued::first_key) {
        record::prefetch(key.as_ptr());
    }
}

fn run_queued(shard: &mut Shard, work: &mut [Queued], client: (u64, usize)) {
    shard.read_clock();
    prefetch_forwarded(work);
    prefetch(shard, work);
    let mut clock = cycles();
    for q in work {
        q.reply = Some(q.run(shard, client, &mut clock));
    }
}

/// A cluster node's check of a keyed command on the shard holding its slot, just before it
/// runs: `-MOVED` for a slot that left this node since the command was admitted, `-ASK` or
/// `-TRYAGAIN` for a slot being migrated or imported. Not for the master's stream.
#[cold]
#[inline(never)]
fn cluster_guard(shard: &mut Shard, q: &Queued, client: u64) -> Option<Reply> {
    let redirect = super::cluster::guard(shard, q.spec, q.args.all(), q.key_slot)?;
    if client != 0 && Some(client) == super::replication::replica::master_client() {
        return None;
    }
    Some(redirect)
}

/// The reply slots of one batch, encoded into `out` as soon as a prefix is complete.
struct Replies {
    slots: Vec<(Option<Reply>, u32)>,
    encoded: usize,
    /// Slots whose reply is not sent (CLIENT REPLY OFF / SKIP), ascending.
    silent: Vec<usize>,
    /// Slots whose error reply was counted in the error stats already (a script passing on
    /// an inner call's error), ascending.
    counted: Vec<usize>,
    /// The client's hard output limit (0: none). Once the output passes it nothing more is
    /// encoded and no further command runs: the connection closes the client without writing,
    /// as Redis stops adding replies for a client it is about to close.
    hard_limit: u64,
    over_limit: bool,
}

impl Replies {
    fn fill(&mut self, slot: usize, reply: Reply) {
        self.slots[slot].0 = Some(reply);
    }

    /// Encodes the complete prefix not yet written, counting failed calls.
    fn encode_ready(&mut self, session: &Session, out: &mut BytesMut) {
        let stats = &session.server.stats[session.thread];
        while let Some((Some(reply), row)) = self.slots.get(self.encoded) {
            if let Reply::Error(text) = reply {
                let counted = self.counted.binary_search(&self.encoded).is_ok();
                stats.note_failed_call(*row as usize, text, counted);
            }
            // Pub/sub confirmations are pushes: CLIENT REPLY OFF does not silence them.
            let push = matches!(reply, Reply::Push(_) | Reply::Sequence(_));
            if !self.over_limit && (push || self.silent.binary_search(&self.encoded).is_err()) {
                reply.encode(session.protocol, out);
                self.over_limit = self.hard_limit > 0 && out.len() as u64 > self.hard_limit;
            }
            self.slots[self.encoded].0 = None;
            self.encoded += 1;
        }
    }
}

/// A connection's per-batch lists, kept between batches so that a batch does not allocate
/// them afresh.
#[derive(Default)]
pub struct Scratch {
    /// Keyed commands waiting for their shard, one list per shard.
    pending: Vec<Vec<Queued>>,
    slots: Vec<(Option<Reply>, u32)>,
}

/// Executes `commands` for `session`, appending every reply, in order, to `out`. Gives back
/// the commands a client pause holds (the first held one and all after it): the connection
/// writes the replies so far, waits for the pause (`pause::wait`) and executes them then.
pub async fn execute(
    session: &mut Session,
    commands: Vec<Vec<Bytes>>,
    out: &mut BytesMut,
) -> Option<Vec<Vec<Bytes>>> {
    let Scratch { mut pending, slots } = std::mem::take(&mut session.scratch);
    pending.resize_with(session.router.shards(), Vec::new);
    let mut replies = Replies {
        slots,
        encoded: 0,
        silent: Vec::new(),
        counted: Vec::new(),
        hard_limit: if session.subscriptions.total() > 0 {
            0
        } else {
            crate::state::NORMAL_OUTPUT_LIMIT.get().hard
        },
        over_limit: false,
    };
    replies.slots.reserve(commands.len());
    let held = run_batch(session, commands, out, &mut pending, &mut replies).await;
    if super::aof::always() && wrote(&replies.slots) {
        // appendfsync always: the batch's writes reach the disk before its replies are sent.
        super::aof::durable().await;
    }
    replies.slots.clear();
    session.scratch = Scratch {
        pending,
        slots: replies.slots,
    };
    held
}

async fn run_batch(
    session: &mut Session,
    commands: Vec<Vec<Bytes>>,
    out: &mut BytesMut,
    pending: &mut [Vec<Queued>],
    replies: &mut Replies,
) -> Option<Vec<Vec<Bytes>>> {
    let mut queues = Queues {
        keyed: pending,
        atomics: Vec::new(),
        replies,
        out,
    };
    let mut last: LastLookup = None;
    let stats = &session.server.stats[session.thread];
    let total = commands.len();
    ThreadStats::add(&stats.commands, total as u64);
    // One relaxed load each per batch; the paths they open are the slow ones.
    let mut paused = super::pause::active();
    let monitored = super::monitor::watching();
    let mut commands = commands.into_iter();
    while let Some(items) = commands.next() {
        if session.close || queues.replies.over_limit {
            break;
        }
        if paused && super::pause::holds(session, &items) {
            queues.settle(session).await;
            queues.encode_ready(session);
            let held: Vec<Vec<Bytes>> = std::iter::once(items).chain(commands).collect();
            // Counted when they run.
            let processed = &session.server.stats[session.thread].commands;
            processed.store(processed.load(Relaxed) - held.len() as u64, Relaxed);
            return Some(held);
        }
        let slot = queues.replies.slots.len();
        let silent = match session.reply_mode {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::SkipNext => {
                session.reply_mode = ReplyMode::On;
                true
            }
        };
        if silent {
            queues.replies.silent.push(slot);
        }
        // Redis evicts before every command: while a stuck shard's excess is not covered,
        // the others evict first, and what that invalidates goes before this reply.
        if crate::shard::evict::cover_needed() {
            queues.settle(session).await;
            session.router.run_all(|s| s.enforce_maxmemory()).await;
            queues.encode_ready(session);
            super::tracking::write_notes(session, queues.out);
        }
        let (row, spec) = match admit(session, &items, &mut last) {
            Ok(admitted) => admitted,
            Err(refused) => {
                queues.replies.slots.push((Some(refused), u32::MAX));
                continue;
            }
        };
        // A slot being resharded: a command that does not run as one keyed command on its
        // shard asks the shard whether its keys are there first.
        if crate::cluster::any_moving()
            && !session.master_link
            && (!matches!(spec.kind, Kind::Keyed(..)) || spec.has(Flags::RUNS_QUEUE))
        {
            queues.settle(session).await;
            if let Some(refused) = super::cluster::moving_refusal(session, spec, &items).await {
                queues.replies.slots.push((Some(refused), u32::MAX));
                continue;
            }
        }
        let shown = if monitored {
            match super::monitor::admit(session, spec, &items) {
                Ok(shown) => shown,
                Err(refused) => {
                    queues.replies.slots.push((Some(refused), u32::MAX));
                    continue;
                }
            }
        } else {
            None
        };
        queues.replies.slots.push((None, row as u32));
        let room = total - slot;
        if let Some(args) = route_admitted(session, row, spec, items, slot, room, &mut queues) {
            run_unqueued(session, spec, args, slot, &mut queues).await;
            // This very batch may have started a pause (CLIENT PAUSE runs here).
            paused = paused || super::pause::active();
        }
        if let Some(items) = shown {
            super::monitor::show(session, &items);
        }
    }
    queues.settle(session).await;
    queues.encode_ready(session);
    None
}

/// Whether a batch ran a command that may write: a write, or a transaction or script, which
/// may hold writes.
fn wrote(slots: &[(Option<Reply>, u32)]) -> bool {
    let table = &super::table::COMMANDS;
    slots.iter().any(|(_, row)| {
        table
            .get(*row as usize)
            .is_some_and(|spec| spec.writes() || matches!(spec.name, "exec" | "eval" | "evalsha"))
    })
}

/// The last command name a batch looked up, with its row: a pipeline mostly repeats one
/// command, and the row is then reused as it is (cheaper than `lookup`'s own per-thread memo,
/// which serves single-command batches: dropping this one costs 2-4 % more instructions at
/// -P 16).
type LastLookup = Option<(Bytes, usize, &'static CommandSpec)>;

/// Admission: decides whether the command `items` runs now, in Redis's order of checks — ACL
/// (NOAUTH, NOPERM), MULTI queueing, unknown command, arity, BUSY (a script runs), subscribed
/// mode, OOM. Admitted: its row and resolved spec. Refused: the reply to send instead, with
/// the refusal's side effects done (rejected-call counts, a failed or discarded transaction).
/// Inlined into the batch loop: when everything admits, it costs its branches only.
#[inline(always)]
fn admit(
    session: &mut Session,
    items: &[Bytes],
    last: &mut LastLookup,
) -> Result<(usize, &'static CommandSpec), Reply> {
    if session.master_link {
        // The master's stream: no ACL, no replica or cluster refusals (Redis's CLIENT_MASTER).
    } else if let Some(reply) = super::acl::check(session, items) {
        return Err(reply);
    } else if super::replication::replica::is_replica() || crate::cluster::enabled() {
        if let Some(refused) = role_refusal(session, items) {
            return Err(refused);
        }
    }
    if let Some(reply) = session.tx.offer(items) {
        if let (Reply::Error(_), Some((row, spec))) = (&reply, lookup(&items[0])) {
            // Refused while queueing (arity, OOM...): a rejected call of that command.
            let row = super::table::stat_row(row, spec.resolve(items));
            ThreadStats::add(&session.server.stats[session.thread].rejected_calls[row], 1);
        }
        return Err(reply);
    }
    let hit = last
        .as_ref()
        .filter(|(name, ..)| name[..] == items[0][..])
        .map(|&(_, row, spec)| (row, spec));
    let found = hit.or_else(|| {
        let found = lookup(&items[0]);
        if let Some((row, spec)) = found {
            *last = Some((items[0].clone(), row, spec));
        }
        found
    });
    let Some((row, spec)) = found else {
        return Err(unknown_command(items));
    };
    let spec = spec.resolve(items);
    let row = super::table::stat_row(row, spec);
    let stats = &session.server.stats[session.thread];
    if !spec.arity_ok(items.len()) {
        ThreadStats::add(&stats.rejected_calls[row], 1);
        // Only the commands that act inside MULTI get here then (MULTI, EXEC, WATCH...): a
        // refusal fails the open transaction, and a refused EXEC discards it, as Redis does.
        let refused = super::transaction::refuse(session, spec, err::arity(spec.name));
        session.tx.abort();
        return Err(refused);
    }
    if let Some(busy) = super::scripting::busy_reply(spec, items) {
        return Err(super::transaction::refuse(session, spec, busy));
    }
    if session.in_subscribed_mode() && !spec.has(Flags::SUBSCRIBED) {
        return Err(subscribed_mode_error(spec.name));
    }
    // A script with declared flags (FCALL, EVAL with a shebang) takes the flags they imply.
    let (denyoom, write) = super::scripting::implied_flags(spec, items)
        .unwrap_or((spec.has(Flags::DENYOOM), spec.has(Flags::WRITE)));
    if denyoom && crate::shard::evict::out_of_memory() {
        ThreadStats::add(&stats.rejected_calls[row], 1);
        return Err(error(err::OOM));
    }
    // After a failed BGSAVE Redis refuses writes, and PING too (a health check learns of it).
    if super::saving::writes_refused() && (write || spec.name == "ping") {
        ThreadStats::add(&stats.rejected_calls[row], 1);
        return Err(error(err::MISCONF));
    }
    if write && super::replication::master::lacks_good_replicas() {
        ThreadStats::add(&stats.rejected_calls[row], 1);
        return Err(error(err::NOREPLICAS));
    }
    Ok((row, spec))
}

/// A cluster node's refusals (MOVED, CROSSSLOT, CLUSTERDOWN), then a replica's, in Redis's
/// order (processCommand redirects before it checks a replica's writes). Out of line: a
/// plain server pays the two loads that lead here.
#[cold]
#[inline(never)]
fn role_refusal(session: &mut Session, items: &[Bytes]) -> Option<Reply> {
    if crate::cluster::enabled() {
        if let Some(refused) = super::cluster::refusal(session, items) {
            return Some(refused);
        }
    }
    if super::replication::replica::is_replica() {
        return replica_refusal(session, items);
    }
    None
}

/// A replica's refusal of a normal client's command (READONLY, MASTERDOWN), counted as a
/// rejected call; inside MULTI it also fails the transaction, as Redis refuses before
/// queueing.
#[cold]
fn replica_refusal(session: &mut Session, items: &[Bytes]) -> Option<Reply> {
    let (row, spec) = lookup(&items[0])?;
    let spec = spec.resolve(items);
    if !spec.arity_ok(items.len()) {
        return None;
    }
    let write = super::scripting::implied_flags(spec, items)
        .map_or(spec.has(Flags::WRITE), |(_, write)| write);
    let refused = super::replication::replica::refusal(session, spec, write)?;
    let row = super::table::stat_row(row, spec);
    ThreadStats::add(&session.server.stats[session.thread].rejected_calls[row], 1);
    session.tx.abort();
    Some(super::transaction::refuse(session, spec, refused))
}

/// A batch's work in flight: keyed commands queued per shard, atomic commands submitted and
/// not yet answered, the reply slots, and the output they are encoded into.
struct Queues<'a> {
    keyed: &'a mut [Vec<Queued>],
    atomics: Vec<(usize, PendingAtomic)>,
    replies: &'a mut Replies,
    out: &'a mut BytesMut,
}

impl Queues<'_> {
    /// Waits for the atomic commands submitted so far, then runs the queued keyed commands:
    /// every command before a point of the batch is done once this returns.
    async fn settle(&mut self, session: &Session) {
        settle(session, self.keyed, &mut self.atomics, self.replies).await;
    }

    /// Encodes the replies complete so far.
    fn encode_ready(&mut self, session: &Session) {
        self.replies.encode_ready(session, self.out);
    }
}

/// Routing, the common part: counts the call and queues a keyed command whose keys are on one
/// shard behind that shard's earlier commands. Gives the command back, as its arguments, when
/// it must run otherwise (`run_unqueued`). Synchronous and inlined: the pipelined single-key
/// command never builds the future the other routes need.
#[inline(always)]
fn route_admitted(
    session: &mut Session,
    row: usize,
    spec: &'static CommandSpec,
    items: Vec<Bytes>,
    slot: usize,
    room: usize,
    queues: &mut Queues<'_>,
) -> Option<Args> {
    let stats = &session.server.stats[session.thread];
    ThreadStats::add(&stats.calls[row], 1);
    session.client.last_cmd.store(row as u32, Relaxed);
    let args = Args::of(spec, items);
    let track = super::tracking::track(session, spec);
    if let Kind::Keyed(op, _) = spec.kind {
        if let Some((shard, key_slot)) = route(session, spec, args.all()) {
            let queue = &mut queues.keyed[shard];
            if queue.capacity() == 0 {
                // Room for the rest of the batch (`room` commands, this one included): one
                // allocation per shard per batch.
                queue.reserve(room);
            }
            queue.push(Queued {
                slot: slot as u32,
                row: row as u32,
                key_slot,
                db: session.db as u32,
                spec,
                op,
                args,
                track,
                reply: None,
                ticks: 0,
            });
            return None;
        }
    }
    Some(args)
}

/// Routing, the rest: an atomic multi-shard command (or EXEC) joins the batch's holds; any
/// other command first waits for what was queued before it (a local command, which reads no
/// key, does not), then runs here, and its reply goes into slot `slot`.
async fn run_unqueued(
    session: &mut Session,
    spec: &'static CommandSpec,
    mut args: Args,
    slot: usize,
    queues: &mut Queues<'_>,
) {
    if let Kind::Keyed(op, cross) = spec.kind {
        // Its keys span shards.
        if let Cross::Split {
            merge,
            atomic: true,
        } = cross
        {
            // Consecutive atomic commands join one batch of holds; whatever came before them
            // runs first.
            if queues.keyed.iter().any(|q| !q.is_empty()) {
                queues.settle(session).await;
            }
            queues
                .atomics
                .push((slot, submit_atomic(session, spec, op, merge, args)));
            return;
        }
        queues.settle(session).await;
        let (start, row) = (cycles(), queues.replies.slots[slot].1);
        let items = args.all().to_vec();
        let reply = run_cross(session, spec, op, cross, args).await;
        super::timing::finished(session, row, spec, &items, cycles().wrapping_sub(start));
        queues.replies.fill(slot, reply.unwrap_or_else(|e| e));
    } else {
        if spec.has(Flags::RUNS_QUEUE) {
            // Like an atomic command: pipelined transactions share one batch of holds.
            if queues.keyed.iter().any(|q| !q.is_empty()) {
                queues.settle(session).await;
            }
            if let Some(reply) = super::transaction::submit_exec(session) {
                queues.atomics.push((slot, reply));
                return;
            }
        }
        // A local command reads no key: it need not wait for the keyed work before it.
        if !matches!(spec.kind, Kind::Local(_)) {
            queues.settle(session).await;
        }
        queues.encode_ready(session);
        serving::begin_named(spec, session.client.id);
        let start = cycles();
        let row = queues.replies.slots[slot].1;
        let reply = match spec.kind {
            Kind::Local(op) => {
                serving::begin(spec, session.client.id, args.all());
                let reply = op(session, &mut args);
                serving::done();
                let ticks = cycles().wrapping_sub(start);
                super::timing::finished(session, row, spec, args.all(), ticks);
                reply
            }
            Kind::Routed(op) => {
                let items = spec
                    .has(Flags::SKIP_SLOWLOG)
                    .then(Vec::new)
                    .unwrap_or_else(|| args.all().to_vec());
                let reply = super::propagate::routed(session, spec, op, args).await;
                let ticks = cycles().wrapping_sub(start);
                super::timing::finished(session, row, spec, &items, ticks);
                reply
            }
            Kind::Keyed(..) => unreachable!("handled above"),
        };
        if std::mem::take(&mut session.tx.error_counted) {
            queues.replies.counted.push(slot);
        }
        queues.replies.fill(slot, reply.unwrap_or_else(|e| e));
    }
    queues.encode_ready(session);
}

/// Waits for the atomic commands submitted so far, then runs the queued keyed commands: every
/// command before a point of the batch is done once this returns.
async fn settle(
    session: &Session,
    pending: &mut [Vec<Queued>],
    atomics: &mut Vec<(usize, PendingAtomic)>,
    replies: &mut Replies,
) {
    for (slot, reply) in atomics.drain(..) {
        replies.fill(slot, reply.await.unwrap_or_else(|e| e));
    }
    flush(session, pending, replies).await;
}

fn subscribed_mode_error(name: &str) -> Reply {
    err::subscribed_context(name)
}

/// Runs one command to its reply, waiting for it (EXEC runs its queue this way).
pub async fn call(session: &mut Session, items: Vec<Bytes>) -> Reply {
    let Some((row, spec)) = lookup(&items[0]) else {
        return unknown_command(&items);
    };
    let spec = spec.resolve(&items);
    let row = super::table::stat_row(row, spec);
    count_calls(session, std::iter::once(row));
    session.client.last_cmd.store(row as u32, Relaxed);
    let start = cycles();
    let shown = spec
        .has(Flags::SKIP_SLOWLOG)
        .then(Vec::new)
        .unwrap_or_else(|| items.clone());
    let mut args = Args::of(spec, items);
    serving::begin_named(spec, session.client.id);
    let result = match spec.kind {
        Kind::Keyed(op, cross) => match single_shard(session, spec, args.all()) {
            Some(shard) => {
                let db = session.db;
                let tracker = session.tracking.tracker();
                let client = session.client.id;
                let job =
                    move |s: &mut Shard| run_op_for(s, db, spec, op, &mut args, tracker, client);
                Ok(session
                    .router
                    .run(shard, job)
                    .await
                    .unwrap_or_else(|| error(err::SHARD_GONE)))
            }
            None => run_cross(session, spec, op, cross, args).await,
        },
        Kind::Local(op) => {
            serving::begin(spec, session.client.id, args.all());
            let reply = op(session, &mut args);
            serving::done();
            reply
        }
        Kind::Routed(op) => super::propagate::routed(session, spec, op, args).await,
    };
    let ticks = cycles().wrapping_sub(start);
    super::timing::finished(session, row as u32, spec, &shown, ticks);
    let reply = result.unwrap_or_else(|e| e);
    // Errors inside EXEC and scripts count as they happen, under the inner command.
    if let Reply::Error(text) = &reply {
        let counted = std::mem::take(&mut session.tx.error_counted);
        session.server.stats[session.thread].note_failed_call(row, text, counted);
    }
    reply
}

/// Counts calls of `specs` in INFO commandstats.
pub fn count_calls(session: &Session, rows: impl Iterator<Item = usize>) {
    let stats = &session.server.stats[session.thread];
    for row in rows {
        ThreadStats::add(&stats.calls[row], 1);
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` as Redis words it.
pub fn unknown_command(items: &[Bytes]) -> Reply {
    let mut shown_args = String::new();
    for arg in &items[1..] {
        if shown_args.len() >= 128 {
            break;
        }
        let room = 128 - shown_args.len();
        let text = String::from_utf8_lossy(&arg[..arg.len().min(room)]);
        shown_args.push_str(&format!("'{text}' "));
    }
    let name = String::from_utf8_lossy(&items[0][..items[0].len().min(128)]);
    err::unknown_command(&name, &shown_args)
}

/// The shard holding every key of the command, or None when its keys span shards. A keyed
/// command whose key position is beyond its arguments (e.g. OBJECT HELP) runs on this thread.
pub fn single_shard(session: &Session, spec: &CommandSpec, items: &[Bytes]) -> Option<ShardId> {
    route(session, spec, items).map(|(shard, _)| shard)
}

/// `single_shard`, with the hash slot of the first key (0 when there is none).
fn route(session: &Session, spec: &CommandSpec, items: &[Bytes]) -> Option<(ShardId, HashSlot)> {
    let router = &session.router;
    let mut positions = spec.key_positions(items.len());
    let Some(first) = positions.next() else {
        return Some((session.thread, 0));
    };
    let slot = slot_of(&items[first]);
    let shard = router.shard_of_slot(slot);
    if router.shards() > 1 && positions.any(|p| router.shard_of(&items[p]) != shard) {
        return None;
    }
    Some((shard, slot))
}

/// Sends every queued group to its shard (one message each), runs the local group inline,
/// and fills the replies.
async fn flush(session: &Session, pending: &mut [Vec<Queued>], replies: &mut Replies) {
    let router = &session.router;
    let client = (session.client.id, session.thread);
    let mut waits = Vec::new();
    for (shard, queue) in pending.iter_mut().enumerate() {
        if !queue.is_empty() && !router.runs_inline(shard) {
            let mut work = std::mem::take(queue);
            let slots: Vec<usize> = work.iter().map(|q| q.slot as usize).collect();
            // The commands come back with their results: their arguments are slices of this
            // thread's read buffer, and dropping them here keeps that buffer's reference count
            // (and the lists' memory) on this core instead of bouncing it to the shard's.
            let job = move |s: &mut Shard| {
                run_queued(s, &mut work, client);
                work
            };
            waits.push((shard, slots, router.post(shard, job)));
        }
    }
    if let Some(queue) = pending.get_mut(session.thread) {
        if !queue.is_empty() {
            // Drained in place: the list keeps its room for the connection's next batch.
            let timer = super::timing::Timer::new(session);
            router.run_inline(|s| {
                s.read_clock();
                prefetch(s, queue);
                let mut clock = cycles();
                // Run in place (a Queued is 128 bytes: moving each out cost more than the
                // timing), dropped together after.
                for q in queue.iter_mut() {
                    let reply = q.run(s, client, &mut clock);
                    timer.note(q.row, q.ticks, || (q.spec, q.args.all()));
                    replies.fill(q.slot as usize, reply);
                }
                queue.clear();
            });
        }
    }
    for (shard, slots, wait) in waits {
        match wait.await {
            Ok(mut work) => {
                // Written by the shard's core: fetch every reply's lines before reading any.
                work.iter().for_each(|q| prefetch_value(&q.reply));
                let timer = super::timing::Timer::new(session);
                for q in work.drain(..) {
                    timer.note(q.row, q.ticks, || (q.spec, q.args.all()));
                    replies.fill(
                        q.slot as usize,
                        q.reply.unwrap_or_else(|| error(err::SHARD_GONE)),
                    );
                }
                if pending[shard].capacity() == 0 {
                    // The list keeps its room for the connection's next batch.
                    pending[shard] = work;
                }
            }
            Err(_) => {
                for slot in slots {
                    replies.fill(slot, error(err::SHARD_GONE));
                }
            }
        }
    }
}

/// One shard's share of a split command: its arguments and the ordinals of its keys.
struct Part {
    shard: ShardId,
    items: Vec<Bytes>,
    ordinals: Vec<usize>,
}

/// Splits a multi-key command into one command per shard (keys keep their relative order).
/// The arguments move into the parts: no reference count is taken but the command name's.
fn split_parts(session: &Session, spec: &CommandSpec, mut items: Vec<Bytes>) -> Vec<Part> {
    let step = spec.keys.2.max(1) as usize;
    let mut parts: Vec<Part> = Vec::new();
    for (ordinal, pos) in spec.key_positions(items.len()).enumerate() {
        let shard = session.router.shard_of(&items[pos]);
        let index = match parts.iter().position(|p| p.shard == shard) {
            Some(i) => i,
            None => {
                parts.push(Part {
                    shard,
                    items: vec![items[0].clone()],
                    ordinals: Vec::new(),
                });
                parts.len() - 1
            }
        };
        let end = (pos + step).min(items.len());
        parts[index]
            .items
            .extend(items[pos..end].iter_mut().map(std::mem::take));
        parts[index].ordinals.push(ordinal);
    }
    parts
}

/// Runs a keyed command whose keys span shards.
async fn run_cross(
    session: &mut Session,
    spec: &'static CommandSpec,
    op: ShardOp,
    cross: Cross,
    args: Args,
) -> CmdResult {
    let (merge, atomic) = match cross {
        Cross::Routine(routine)
            if crate::shard::journal::active()
                && spec.writes()
                && !matches!(spec.name, "lmove" | "rpoplpush") =>
        {
            return super::propagate::journaled_routine(session, spec, routine, args).await
        }
        Cross::Routine(routine) => return routine(session, args).await,
        Cross::Single => unreachable!("a single-key command always has one shard"),
        Cross::Split { merge, atomic } => (merge, atomic),
    };
    if atomic {
        return submit_atomic(session, spec, op, merge, args).await;
    }
    if let Some(refused) = incomplete_group(spec, args.all().len()) {
        return Err(refused);
    }
    let keys = spec.key_positions(args.all().len()).count();
    let parts = split_parts(session, spec, args.into_items());
    let db = session.db;
    let tracker = session.tracking.tracker();
    let mut results: Vec<(Vec<usize>, Option<Reply>)> = Vec::with_capacity(parts.len());
    let mut waits = Vec::new();
    for part in parts {
        let Part {
            shard,
            items,
            ordinals,
        } = part;
        let client = session.client.id;
        let job = move |s: &mut Shard| {
            run_op_for(s, db, spec, op, &mut Args::of(spec, items), tracker, client)
        };
        if session.router.runs_inline(shard) {
            results.push((ordinals, Some(session.router.run_inline(job))));
        } else {
            waits.push((ordinals, session.router.post(shard, job)));
        }
    }
    for (ordinals, wait) in waits {
        results.push((ordinals, wait.await.ok()));
    }
    merge_parts(merge, keys, results)
}

/// The arity error of a split command whose last key group is cut short (`MSET a 1 b`): it is
/// refused whole, before any shard applies its part.
fn incomplete_group(spec: &CommandSpec, argc: usize) -> Option<Reply> {
    let (first, last, step) = spec.keys;
    let grouped = last < 0 && step > 1 && first > 0;
    (grouped
        && !argc
            .saturating_sub(first as usize)
            .is_multiple_of(step as usize))
    .then(|| err::arity(spec.name))
}

/// An atomic split command's reply, once its batch of holds ran.
pub type PendingAtomic = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult>>>;

/// Submits an atomic multi-shard command (MSET, MSETNX...) to this tick's batch of holds (see
/// `Router::atomic`) and returns its merged reply to come.
fn submit_atomic(
    session: &Session,
    spec: &'static CommandSpec,
    op: ShardOp,
    merge: Merge,
    args: Args,
) -> PendingAtomic {
    if let Some(refused) = incomplete_group(spec, args.all().len()) {
        return Box::pin(std::future::ready(Err(refused)));
    }
    let keys = spec.key_positions(args.all().len()).count();
    let parts = split_parts(session, spec, args.into_items());
    let db = session.db;
    let mut ordinals = Vec::with_capacity(parts.len());
    let mut work = Vec::with_capacity(parts.len());
    for part in parts {
        let Part {
            shard,
            items,
            ordinals: positions,
        } = part;
        ordinals.push(positions);
        let part: AtomicPart =
            Box::new(move |s: &mut Shard| run_op(s, db, spec, op, &mut Args::of(spec, items)));
        work.push((shard, part));
    }
    let replies = session.router.atomic(work);
    Box::pin(async move {
        let results = ordinals.into_iter().zip(replies.await).collect();
        merge_parts(merge, keys, results)
    })
}

fn merge_parts(merge: Merge, keys: usize, results: Vec<(Vec<usize>, Option<Reply>)>) -> CmdResult {
    let mut sum = 0i64;
    let mut positional = vec![
        Reply::Nil;
        if matches!(merge, Merge::Positional) {
            keys
        } else {
            0
        }
    ];
    for (ordinals, reply) in results {
        match reply.ok_or_else(|| error(err::SHARD_GONE))? {
            Reply::Error(e) => return Err(Reply::Error(e)),
            Reply::Int(n) => sum += n,
            Reply::Array(items) => {
                for (ordinal, item) in ordinals.into_iter().zip(items) {
                    positional[ordinal] = item;
                }
            }
            _ => {}
        }
    }
    Ok(match merge {
        Merge::Sum => Reply::Int(sum),
        Merge::Positional => Reply::Array(positional),
        Merge::Ok => Reply::Simple("OK"),
    })
}
