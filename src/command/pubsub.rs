//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB. Subscriptions
//! live in the thread's subscriber table (`pubsub`); the connection writes the messages.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};

use super::keys::help_reply;
use super::table::{access, container, flags, row, Channels, CommandSpec, NOKEY};
use super::{err, error, Args, CmdResult, Kind as CmdKind, Session};
use crate::handoff;
use crate::protocol::reply::encode_bulk_push;
use crate::protocol::{Protocol, Reply};
use crate::pubsub::{self, Kind, Push, Registry, Subscriber};
use crate::state::SubscribedNames;

/// The pub/sub commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "subscribe",
        -2,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        NOKEY,
        CmdKind::Local(subscribe),
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels.",
        "channel [channel ...]",
    )
    .with_channels(Channels::Subscribe),
    row(
        "unsubscribe",
        -1,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        NOKEY,
        CmdKind::Local(unsubscribe),
        "pubsub",
        "2.0.0",
        "Stops listening to messages posted to channels.",
        "[channel [channel ...]]",
    )
    .with_channels(Channels::Unsubscribe),
    row(
        "psubscribe",
        -2,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        NOKEY,
        CmdKind::Local(psubscribe),
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        "pattern [pattern ...]",
    )
    .with_channels(Channels::PatternSubscribe),
    row(
        "punsubscribe",
        -1,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        NOKEY,
        CmdKind::Local(punsubscribe),
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        "[pattern [pattern ...]]",
    )
    .with_channels(Channels::Unsubscribe),
    row(
        "ssubscribe",
        -2,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        (1, -1, 1),
        CmdKind::Local(ssubscribe),
        "pubsub",
        "7.0.0",
        "Listens for messages published to shard channels.",
        "shardchannel [shardchannel ...]",
    )
    .with_channels(Channels::Subscribe)
    .access(access!(NOT_KEY)),
    row(
        "sunsubscribe",
        -1,
        flags!(PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED),
        (1, -1, 1),
        CmdKind::Local(sunsubscribe),
        "pubsub",
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        "[shardchannel [shardchannel ...]]",
    )
    .with_channels(Channels::Unsubscribe)
    .access(access!(NOT_KEY)),
    row(
        "publish",
        3,
        flags!(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE),
        NOKEY,
        CmdKind::Local(publish),
        "pubsub",
        "2.0.0",
        "Posts a message to a channel.",
        "channel message",
    )
    .with_channels(Channels::Publish),
    row(
        "spublish",
        3,
        flags!(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE),
        (1, 1, 1),
        CmdKind::Local(spublish),
        "pubsub",
        "7.0.0",
        "Post a message to a shard channel",
        "shardchannel message",
    )
    .with_channels(Channels::Publish)
    .access(access!(NOT_KEY)),
    container(
        "pubsub",
        "pubsub",
        "2.8.0",
        "A container for Pub/Sub commands",
        PUBSUB_SUBCOMMANDS,
    ),
];

#[rustfmt::skip]
static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    row("pubsub|channels", -2, flags!(PUBSUB | LOADING | STALE), NOKEY, CmdKind::Local(pubsub_channels), "pubsub", "2.8.0", "List active channels", ""),
    row("pubsub|help", 2, flags!(LOADING | STALE), NOKEY, CmdKind::Local(pubsub_help), "pubsub", "6.2.0", "Show helpful text about the different subcommands", ""),
    row("pubsub|numpat", 2, flags!(PUBSUB | LOADING | STALE), NOKEY, CmdKind::Local(pubsub_numpat), "pubsub", "2.8.0", "Get the count of unique patterns pattern subscriptions", ""),
    row("pubsub|numsub", -2, flags!(PUBSUB | LOADING | STALE), NOKEY, CmdKind::Local(pubsub_numsub), "pubsub", "2.8.0", "Get the count of subscribers for channels", ""),
    row("pubsub|shardchannels", -2, flags!(PUBSUB | LOADING | STALE), NOKEY, CmdKind::Local(pubsub_shardchannels), "pubsub", "7.0.0", "List active shard channels", ""),
    row("pubsub|shardnumsub", -2, flags!(PUBSUB | LOADING | STALE), NOKEY, CmdKind::Local(pubsub_shardnumsub), "pubsub", "7.0.0", "Get the count of subscribers for shard channels", ""),
];

/// A connection's subscriptions and the queue its messages arrive on.
#[derive(Default)]
pub struct Subscriptions {
    subscriber: Option<Rc<Subscriber>>,
    inbox: Option<handoff::Receiver<Push>>,
    channels: Vec<Bytes>,
    patterns: Vec<Bytes>,
    shard_channels: Vec<Bytes>,
}

impl Subscriptions {
    /// Channel plus pattern subscriptions (what (P)SUBSCRIBE replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription, shard channels included.
    pub fn total(&self) -> usize {
        self.count() + self.shard_channels.len()
    }

    fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The next message for this connection (pending forever while not subscribed).
    pub async fn next_message(&mut self) -> Option<Push> {
        match self.inbox.as_mut() {
            Some(inbox) => inbox.recv().await,
            None => std::future::pending().await,
        }
    }

    /// A message already queued, if any.
    pub fn try_next_message(&mut self) -> Option<Push> {
        self.inbox.as_mut()?.try_recv()
    }

    /// The connection wrote `push`: release its share of the output-buffer limit.
    pub fn written(&self, push: &Push) {
        if let Some(sub) = &self.subscriber {
            sub.written(push);
        }
    }
}

/// Encodes `push` into `out`, as Redis frames `message`, `pmessage` and `smessage`, without
/// building a reply (no allocation, no buffer reference counts).
pub fn encode_message(push: &Push, proto: Protocol, out: &mut BytesMut) {
    let message = &push.message;
    let (channel, payload) = (&message.channel[..], &message.payload[..]);
    // The cell of `name`'s push (0 `message`, 1 `smessage`) in `proto`.
    let shared = |name: &'static [u8], which: usize| {
        let index = 2 * which + usize::from(proto == Protocol::Resp3);
        message.encoded[index].get_or_init(|| {
            let mut encoded = BytesMut::new();
            encode_bulk_push(proto, &[name, channel, payload], &mut encoded);
            encoded.freeze()
        })
    };
    match (push.kind, &push.pattern) {
        (Kind::Channel, _) => out.extend_from_slice(shared(b"message", 0)),
        (Kind::Shard, _) => out.extend_from_slice(shared(b"smessage", 1)),
        (Kind::Pattern, pattern) => {
            let pattern = pattern.as_deref().unwrap_or_default();
            encode_bulk_push(proto, &[b"pmessage", pattern, channel, payload], out);
        }
    }
}

fn registry() -> Result<&'static std::sync::Arc<Registry>, Reply> {
    Registry::get().ok_or_else(|| error(err::PUBSUB_DOWN))
}

fn subscriber(session: &mut Session) -> Rc<Subscriber> {
    if let Some(sub) = &session.subscriptions.subscriber {
        return sub.clone();
    }
    let (tx, rx) = handoff::unbounded();
    let client = session.client.clone();
    let sub = Subscriber::new(
        client.clone(),
        tx,
        Box::new(move || {
            client.killed.store(true, Relaxed);
            tracing::warn!(
                client = client.id,
                "closing subscriber over its output buffer limit"
            );
            // The connection lives on this thread and unsubscribes before closing its socket.
            crate::state::shutdown_fd(client.fd);
        }),
    );
    session.subscriptions.subscriber = Some(sub.clone());
    session.subscriptions.inbox = Some(rx);
    sub
}

fn confirm(session: &Session, what: &'static str, name: Option<Bytes>, kind: Kind) -> Reply {
    let count = match kind {
        Kind::Shard => session.subscriptions.shard_channels.len(),
        _ => session.subscriptions.count(),
    };
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(what.as_bytes())),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count as i64),
    ])
}

/// Several confirmations answer one command: they go out as consecutive replies.
fn replies(mut list: Vec<Reply>) -> Reply {
    if list.len() == 1 {
        return list.remove(0);
    }
    Reply::Sequence(list)
}

fn subscribe_generic(
    session: &mut Session,
    args: &mut Args,
    kind: Kind,
    what: &'static str,
) -> CmdResult {
    let registry = registry()?;
    let sub = subscriber(session);
    let mut out = Vec::new();
    let client = session.client.clone();
    let mut shared = client.subscribed.lock().unwrap_or_else(|e| e.into_inner());
    for name in args.rest().to_vec() {
        if pubsub::subscribe(registry, session.thread, &sub, kind, name.clone()) {
            session.subscriptions.list(kind).push(name.clone());
            shared_list(&mut shared, kind).push(name.clone());
        }
        out.push(confirm(session, what, Some(name), kind));
    }
    drop(shared);
    session.note_subscriptions();
    Ok(replies(out))
}

fn unsubscribe_generic(
    session: &mut Session,
    args: &mut Args,
    kind: Kind,
    what: &'static str,
) -> CmdResult {
    let registry = registry()?;
    let names: Vec<Bytes> = if args.is_done() {
        session.subscriptions.list(kind).clone()
    } else {
        args.rest().to_vec()
    };
    let mut out = Vec::new();
    let client = session.client.clone();
    let mut shared = client.subscribed.lock().unwrap_or_else(|e| e.into_inner());
    for name in names {
        if pubsub::unsubscribe(registry, session.thread, session.client.id, kind, &name) {
            session.subscriptions.list(kind).retain(|n| *n != name);
            shared_list(&mut shared, kind).retain(|n| *n != name);
        }
        out.push(confirm(session, what, Some(name), kind));
    }
    drop(shared);
    if out.is_empty() {
        out.push(confirm(session, what, None, kind));
    }
    session.note_subscriptions();
    Ok(replies(out))
}

/// Drops every subscription of the connection (RESET, disconnect).
pub fn unsubscribe_all(session: &mut Session) {
    let Some(registry) = Registry::get() else {
        return;
    };
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(session.subscriptions.list(kind)) {
            pubsub::unsubscribe(registry, session.thread, session.client.id, kind, &name);
        }
    }
    session.subscriptions = Subscriptions::default();
    *session
        .client
        .subscribed
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Default::default();
    session.note_subscriptions();
}

/// The shared copy's list of one kind (see `ClientInfo::subscribed`).
fn shared_list(names: &mut SubscribedNames, kind: Kind) -> &mut Vec<Bytes> {
    match kind {
        Kind::Channel => &mut names.channels,
        Kind::Pattern => &mut names.patterns,
        Kind::Shard => &mut names.shard_channels,
    }
}

pub fn subscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    subscribe_generic(session, args, Kind::Channel, "subscribe")
}

pub fn psubscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    subscribe_generic(session, args, Kind::Pattern, "psubscribe")
}

pub fn ssubscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    subscribe_generic(session, args, Kind::Shard, "ssubscribe")
}

pub fn unsubscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    unsubscribe_generic(session, args, Kind::Channel, "unsubscribe")
}

pub fn punsubscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    unsubscribe_generic(session, args, Kind::Pattern, "punsubscribe")
}

pub fn sunsubscribe(session: &mut Session, args: &mut Args) -> CmdResult {
    unsubscribe_generic(session, args, Kind::Shard, "sunsubscribe")
}

pub fn publish(session: &mut Session, args: &mut Args) -> CmdResult {
    let channel = args.next()?;
    let message = args.next()?;
    if crate::cluster::enabled() {
        // Every other node's subscribers get it through the bus (clusterPropagatePublish).
        crate::cluster::bus::publish(false, &channel, &message);
    }
    let n = registry()?.publish(session.thread, false, channel, message);
    Ok(Reply::Int(n as i64))
}

pub fn spublish(session: &mut Session, args: &mut Args) -> CmdResult {
    let channel = args.next()?;
    let message = args.next()?;
    if crate::cluster::enabled() {
        // The other nodes serving this shard's slots get it (clusterPropagatePublishShard).
        crate::cluster::bus::publish(true, &channel, &message);
    }
    let n = registry()?.publish(session.thread, true, channel, message);
    Ok(Reply::Int(n as i64))
}

/// Delivers a message another cluster node published to this node's subscribers; called on
/// the bus thread, it hands the message to a worker thread, which fans it out.
pub fn deliver_from_bus(sharded: bool, channel: Vec<u8>, message: Vec<u8>) {
    let Some(registry) = Registry::get() else {
        return;
    };
    let registry = registry.clone();
    crate::shard::mailbox::run_on_thread_from_anywhere(
        0,
        Box::new(move || {
            registry.publish(0, sharded, Bytes::from(channel), Bytes::from(message));
        }),
    );
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(PUBSUB_HELP))
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: the active names of one kind.
fn names(kind: Kind, args: &mut Args) -> CmdResult {
    let registry = registry()?;
    if args.remaining() > 1 {
        return Err(err::subcommand_syntax(args.all()));
    }
    let pattern = if args.is_done() {
        None
    } else {
        Some(args.next()?)
    };
    Ok(Reply::Array(
        registry
            .names(kind, pattern.as_deref())
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    ))
}

/// PUBSUB NUMSUB / SHARDNUMSUB [name...]: each name with its subscriber count.
fn counts(kind: Kind, args: &mut Args) -> CmdResult {
    let registry = registry()?;
    let mut out = Vec::new();
    for name in args.rest() {
        out.push((
            Reply::Bulk(name.clone()),
            Reply::Int(registry.count(kind, name) as i64),
        ));
    }
    Ok(Reply::Map(out))
}

fn pubsub_channels(_session: &mut Session, args: &mut Args) -> CmdResult {
    names(Kind::Channel, args)
}

fn pubsub_shardchannels(_session: &mut Session, args: &mut Args) -> CmdResult {
    names(Kind::Shard, args)
}

fn pubsub_numsub(_session: &mut Session, args: &mut Args) -> CmdResult {
    counts(Kind::Channel, args)
}

fn pubsub_shardnumsub(_session: &mut Session, args: &mut Args) -> CmdResult {
    counts(Kind::Shard, args)
}

fn pubsub_numpat(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(registry()?.len(Kind::Pattern) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::Message;

    /// A delivered message as a reply value: `encode_message` must produce its encoding.
    fn message_reply(push: Push) -> Reply {
        let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
        let mut items = Vec::with_capacity(4);
        match push.kind {
            Kind::Channel => items.push(bulk("message")),
            Kind::Shard => items.push(bulk("smessage")),
            Kind::Pattern => {
                items.push(bulk("pmessage"));
                items.push(Reply::Bulk(push.pattern.unwrap_or_default()));
            }
        }
        items.push(Reply::Bulk(push.message.channel.clone()));
        items.push(Reply::Bulk(push.message.payload.clone()));
        Reply::Push(items)
    }

    #[test]
    fn messages_encode_as_the_reply_redis_sends() {
        let message = Rc::new(Message::new(
            Bytes::from_static(b"news"),
            Bytes::from(vec![b'x'; 300]),
        ));
        let pushes = [
            (Kind::Channel, None),
            (Kind::Shard, None),
            (Kind::Pattern, Some(Bytes::from_static(b"n*"))),
        ];
        for (kind, pattern) in pushes {
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                let push = Push {
                    kind,
                    pattern: pattern.clone(),
                    message: message.clone(),
                };
                let (mut direct, mut built) = (BytesMut::new(), BytesMut::new());
                encode_message(&push, proto, &mut direct);
                message_reply(push).encode(proto, &mut built);
                assert_eq!(direct, built, "{kind:?} {proto:?}");
            }
        }
        let mut out = BytesMut::new();
        let push = Push {
            kind: Kind::Channel,
            pattern: None,
            message,
        };
        encode_message(&push, Protocol::Resp2, &mut out);
        assert!(out.starts_with(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$300\r\n"));
    }
}
