//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, RESET, CLIENT. They run on the
//! connection's core and touch no shard.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::args::ok;
use super::keys::help_reply;
use super::replication::replica::master_client;
use super::table::{container, flags, row, CommandSpec, NOKEY};
use super::Kind;
use super::{err, error, shown, Args, CmdResult, ReplyMode, Session};
use crate::protocol::{Protocol, Reply};
use crate::state::{ClientInfo, Unblock};

/// The connection commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "ping",
        -1,
        flags!(FAST | SUBSCRIBED),
        NOKEY,
        Kind::Local(ping),
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
        "[message]",
    ),
    row(
        "echo",
        2,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(echo),
        "connection",
        "1.0.0",
        "Returns the given string.",
        "message",
    ),
    row(
        "quit",
        -1,
        flags!(
            NOSCRIPT
                | LOADING
                | STALE
                | FAST
                | NO_AUTH
                | ALLOW_BUSY
                | SUBSCRIBED
                | NOT_QUEUED
                | ENDS_MULTI
        ),
        NOKEY,
        Kind::Local(quit),
        "connection",
        "1.0.0",
        "Closes the connection.",
        "",
    ),
    row(
        "select",
        2,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(select),
        "connection",
        "1.0.0",
        "Changes the selected database.",
        "index",
    ),
    row(
        "hello",
        -1,
        flags!(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY),
        NOKEY,
        Kind::Local(hello),
        "connection",
        "6.0.0",
        "Handshakes with the Redis server.",
        "[protover [AUTH username password] [SETNAME clientname]]",
    ),
    row(
        "reset",
        1,
        flags!(
            NOSCRIPT
                | LOADING
                | STALE
                | FAST
                | NO_AUTH
                | ALLOW_BUSY
                | SUBSCRIBED
                | NOT_QUEUED
                | ENDS_MULTI
        ),
        NOKEY,
        Kind::Local(reset),
        "connection",
        "6.2.0",
        "Resets the connection.",
        "",
    ),
    container(
        "client",
        "connection",
        "2.4.0",
        "A container for client connection commands",
        CLIENT_SUBCOMMANDS,
    ),
    row(
        "readonly",
        1,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(super::cluster::readonly),
        "cluster",
        "3.0.0",
        "Enables read queries for a connection to a cluster replica node",
        "",
    ),
    row(
        "readwrite",
        1,
        flags!(LOADING | STALE | FAST),
        NOKEY,
        Kind::Local(super::cluster::readwrite),
        "cluster",
        "3.0.0",
        "Disables read queries for a connection to a cluster replica node",
        "",
    ),
];

#[rustfmt::skip]
static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    row("client|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(client_help), "connection", "5.0.0", "Show helpful text about the different subcommands", ""),
    row("client|id", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_id), "connection", "5.0.0", "Returns the client ID for the current connection", ""),
    row("client|getname", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_getname), "connection", "2.6.9", "Get the current connection name", ""),
    row("client|setname", 3, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_setname), "connection", "2.6.9", "Set the current connection name", ""),
    row("client|info", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_info), "connection", "6.2.0", "Returns information about the current client connection.", ""),
    row("client|list", -2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_list), "connection", "2.4.0", "Get the list of client connections", ""),
    row("client|kill", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_kill), "connection", "2.4.0", "Kill the connection of a client", ""),
    row("client|unblock", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_unblock), "connection", "5.0.0", "Unblock a client blocked in a blocking command from a different connection", ""),
    row("client|reply", 3, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_reply), "connection", "3.2.0", "Instruct the server whether to reply to commands", ""),
    row("client|no-evict", 3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_no_evict), "connection", "7.0.0", "Set client eviction mode for the current connection", ""),
    row("client|setinfo", 4, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_setinfo), "connection", "7.2.0", "Sets information specific to the client or connection.", ""),
    row("client|pause", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::pause::client_pause), "connection", "2.9.50", "Stop processing commands from clients for some time", ""),
    row("client|unpause", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::pause::client_unpause), "connection", "6.2.0", "Resume processing of clients that were paused", ""),
    row("client|tracking", -3, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::tracking::client_tracking), "connection", "6.0.0", "Enable or disable server assisted client side caching support", ""),
    row("client|caching", 3, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::tracking::client_caching), "connection", "6.0.0", "Instruct the server about tracking or not keys in the next request", ""),
    row("client|getredir", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::tracking::client_getredir), "connection", "6.0.0", "Get tracking notifications redirection client ID if any", ""),
    row("client|trackinginfo", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(super::tracking::client_trackinginfo), "connection", "6.2.0", "Return information about server assisted client side caching for the current connection", ""),
    row("client|no-touch", 3, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(client_on_off), "connection", "7.2.0", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", ""),
];

/// The Redis release whose behaviour ringkv follows, as HELLO and INFO report it.
pub const REDIS_VERSION: &str = "7.2.4";

pub fn ping(session: &mut Session, args: &mut Args) -> CmdResult {
    if session.in_subscribed_mode() && args.remaining() <= 1 {
        let message = if args.is_done() {
            Bytes::new()
        } else {
            args.next()?
        };
        return Ok(Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"pong")),
            Reply::Bulk(message),
        ]));
    }
    match args.remaining() {
        0 => Ok(Reply::Simple("PONG")),
        1 => Ok(Reply::Bulk(args.next()?)),
        _ => Err(super::err::arity("ping")),
    }
}

pub fn echo(_session: &mut Session, args: &mut Args) -> CmdResult {
    Ok(Reply::Bulk(args.next()?))
}

pub fn quit(session: &mut Session, _args: &mut Args) -> CmdResult {
    session.close = true;
    ok()
}

pub fn select(session: &mut Session, args: &mut Args) -> CmdResult {
    let index = args.int32()?;
    if crate::cluster::enabled() && index != 0 {
        return Err(error(err::SELECT_IN_CLUSTER));
    }
    let databases = session.server.config().int("databases");
    if index < 0 || index >= databases {
        return Err(error(err::DB_RANGE));
    }
    session.db = index as usize;
    session.client.db.store(index as u32, Relaxed);
    ok()
}

/// The server's mode as INFO and HELLO name it.
pub fn mode() -> &'static str {
    if crate::cluster::enabled() {
        "cluster"
    } else {
        "standalone"
    }
}

/// Client names and library names may not contain spaces or special characters.
fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn set_name(session: &Session, name: &[u8]) -> Result<(), Reply> {
    if !valid_name(name) {
        return Err(error(err::BAD_CLIENT_NAME));
    }
    *lock(&session.client.name) = shown(name);
    Ok(())
}

fn lock(m: &std::sync::Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn bulk_str(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn hello(session: &mut Session, args: &mut Args) -> CmdResult {
    let mut protocol = session.protocol;
    if !args.is_done() {
        let version = args.int().map_err(|_| error(err::PROTO_NOT_INT))?;
        protocol = match version {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(error(err::NOPROTO)),
        };
    }
    let mut name = None;
    let mut credentials = None;
    while !args.is_done() {
        if args.remaining() >= 3 && args.keyword("AUTH") {
            credentials = Some((args.next()?, args.next()?));
        } else if args.remaining() >= 2 && args.keyword("SETNAME") {
            name = Some(args.next()?);
        } else {
            return Err(err::hello_option(args.peek().unwrap_or_default()));
        }
    }
    if let Some((user, password)) = credentials {
        let command = args.name().to_vec();
        super::acl::login(session, &command, &user, &password)?;
    }
    if !session.auth.authenticated {
        return Err(error(err::HELLO_NOAUTH));
    }
    if let Some(name) = name {
        set_name(session, &name)?;
    }
    session.protocol = protocol;
    session
        .client
        .resp
        .store(if protocol == Protocol::Resp3 { 3 } else { 2 }, Relaxed);
    Ok(Reply::Map(vec![
        (bulk_str("server"), bulk_str("redis")),
        (bulk_str("version"), bulk_str(REDIS_VERSION)),
        (
            bulk_str("proto"),
            Reply::Int(if protocol == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (bulk_str("id"), Reply::Int(session.client.id as i64)),
        (bulk_str("mode"), bulk_str(mode())),
        (
            bulk_str("role"),
            bulk_str(if super::replication::replica::is_replica() {
                "replica"
            } else {
                "master"
            }),
        ),
        (bulk_str("modules"), Reply::Array(Vec::new())),
    ]))
}

pub fn reset(session: &mut Session, _args: &mut Args) -> CmdResult {
    super::pubsub::unsubscribe_all(session);
    session.tracking.disable();
    super::transaction::reset(session);
    session.monitor.stop();
    session.db = 0;
    session.protocol = Protocol::Resp2;
    session.client.db.store(0, Relaxed);
    session.client.resp.store(2, Relaxed);
    session.reply_mode = ReplyMode::On;
    session.cluster = Default::default();
    lock(&session.client.name).clear();
    let login = crate::command::access::Login::default();
    *lock(&session.client.user) = login.user.name.clone();
    session
        .client
        .authenticated
        .store(login.authenticated, Relaxed);
    session.auth = login;
    Ok(Reply::Simple("RESET"))
}

/// One CLIENT LIST line, in Redis's field order.
/// CLIENT LIST's flags, in Redis's order: M (the master's link), P (subscriber), b (blocked),
/// U (unix socket), e (no-evict), or N.
fn client_flags(c: &ClientInfo) -> String {
    let mut flags = String::new();
    if master_client() == Some(c.id) {
        flags.push('M');
    }
    if c.subs.load(Relaxed) > 0 {
        flags.push('P');
    } else if super::monitor::is_monitor(c.id) {
        flags.push('O');
    } else if c.unblock.lock().is_ok_and(|waiting| waiting.is_some()) {
        flags.push('b');
    } else if super::replication::master::replica_clients().contains(&c.id) {
        flags.push('S');
    }
    if matches!(c.addr, crate::state::Addr::Unix(_)) {
        flags.push('U');
    }
    if c.no_evict.load(Relaxed) {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    flags
}

/// CLIENT LIST's line for `c`, as the client reading it sees itself or another client.
pub fn client_line(c: &ClientInfo) -> String {
    client_line_with(c, 0)
}

/// CLIENT LIST's line for `c`; `argv` is the bytes of the command it runs now (Redis's
/// argv-mem: only a running command holds its arguments).
pub fn client_line_with(c: &ClientInfo, argv: u64) -> String {
    let cmd = match c.last_cmd.load(Relaxed) {
        u32::MAX => "NULL",
        row => super::table::STAT_ROWS
            .get(row as usize)
            .map_or("NULL", |s| s.name),
    };
    let m = &c.memory;
    // A replica's share of the replication buffer is its output (Redis counts it so).
    let replica_output = super::replication::master::replica_output(c.id);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub=0 ssub=0 multi=-1 \
         qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl={} oll=0 omem={} tot-mem={} events=r \
         cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={} io-thread={}\n",
        c.id,
        c.addr,
        c.local_addr,
        c.fd,
        lock(&c.name),
        c.created.elapsed().as_secs(),
        c.idle_secs(),
        client_flags(c),
        c.db.load(Relaxed),
        c.subs.load(Relaxed),
        m.qbuf(),
        m.qbuf_free(),
        argv,
        m.write_buf.load(Relaxed),
        m.write_peak.load(Relaxed),
        m.writing.load(Relaxed),
        m.omem() + replica_output,
        m.total(argv) + replica_output,
        cmd,
        lock(&c.user),
        c.resp.load(Relaxed),
        lock(&c.lib_name),
        lock(&c.lib_ver),
        c.thread,
    )
}

/// Bytes of the running command's arguments.
fn argv_len(args: &Args) -> u64 {
    args.all().iter().map(|a| a.len() as u64).sum()
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "HELP",
    "    Prints this help.",
];

fn client_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(CLIENT_HELP))
}

fn client_id(session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(session.client.id as i64))
}

fn client_getname(session: &mut Session, _args: &mut Args) -> CmdResult {
    let name = lock(&session.client.name).clone();
    Ok(if name.is_empty() {
        Reply::Nil
    } else {
        bulk_str(&name)
    })
}

fn client_setname(session: &mut Session, args: &mut Args) -> CmdResult {
    set_name(session, &args.next()?)?;
    ok()
}

fn client_info(session: &mut Session, args: &mut Args) -> CmdResult {
    Ok(Reply::Verbatim(
        "txt",
        Bytes::from(client_line_with(&session.client, argv_len(args))),
    ))
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value.
fn client_setinfo(session: &mut Session, args: &mut Args) -> CmdResult {
    let attr = args.next()?.to_ascii_lowercase();
    let value = args.next()?;
    let slot = match attr.as_slice() {
        b"lib-name" => &session.client.lib_name,
        b"lib-ver" => &session.client.lib_ver,
        _ => return Err(err::unrecognized_option(&attr)),
    };
    if !valid_name(&value) {
        return Err(err::client_info_chars(&attr));
    }
    *lock(slot) = shown(&value);
    ok()
}

/// CLIENT REPLY ON|OFF|SKIP.
fn client_reply(session: &mut Session, args: &mut Args) -> CmdResult {
    let mode = args.next()?.to_ascii_lowercase();
    let (mode, reply) = match mode.as_slice() {
        // Sent although the mode was off when the command came: as a sequence, which the
        // batch does not silence.
        b"on" => (ReplyMode::On, Reply::Sequence(vec![Reply::Simple("OK")])),
        // The mode's own reply is not sent: an empty sequence encodes to nothing.
        b"off" => (ReplyMode::Off, Reply::Sequence(Vec::new())),
        b"skip" => (ReplyMode::SkipNext, Reply::Sequence(Vec::new())),
        _ => return Err(error(err::SYNTAX)),
    };
    session.reply_mode = mode;
    Ok(reply)
}

/// CLIENT NO-TOUCH ON|OFF: accepted, and without effect here (a read does not refresh a key's
/// access time for another client to see).
fn client_on_off(_session: &mut Session, args: &mut Args) -> CmdResult {
    match args.next()?.to_ascii_lowercase().as_slice() {
        b"on" | b"off" => ok(),
        _ => Err(error(err::SYNTAX)),
    }
}

/// CLIENT NO-EVICT ON|OFF: whether client eviction may close this connection.
fn client_no_evict(session: &mut Session, args: &mut Args) -> CmdResult {
    let on = match args.next()?.to_ascii_lowercase().as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Err(error(err::SYNTAX)),
    };
    session.client.no_evict.store(on, Relaxed);
    ok()
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the client was blocked and is now released.
fn client_unblock(session: &mut Session, args: &mut Args) -> CmdResult {
    if args.remaining() > 2 {
        return Err(err::subcommand_syntax(args.all()));
    }
    let id = args.next()?;
    let how = if args.is_done() || args.keyword("TIMEOUT") {
        Unblock::Timeout
    } else if args.keyword("ERROR") {
        Unblock::Error
    } else {
        return Err(error(err::UNBLOCK_REASON));
    };
    let id = super::args::parse_int(&id).ok_or_else(|| error(err::NOT_INT))?;
    let released = u64::try_from(id).is_ok_and(|id| session.server.clients.unblock(id, how));
    Ok(Reply::Int(released as i64))
}

fn client_list(session: &mut Session, args: &mut Args) -> CmdResult {
    let (me, argv) = (session.client.id, argv_len(args));
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    while !args.is_done() {
        if args.remaining() >= 2 && args.keyword("TYPE") {
            kind = Some(ClientType::parse(&args.next()?)?);
        } else if args.remaining() >= 2 && args.keyword("ID") {
            let mut list = Vec::new();
            while !args.is_done() {
                let id = args.int().map_err(|_| error(err::BAD_CLIENT_ID))?;
                if id <= 0 {
                    return Err(error(err::BAD_CLIENT_ID));
                }
                list.push(id as u64);
            }
            ids = Some(list);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    let classify = classifier();
    let text: String = session
        .server
        .clients
        .clients()
        .iter()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| kind.is_none_or(|k| classify(c) == k))
        .map(|c| client_line_with(c, if c.id == me { argv } else { 0 }))
        .collect();
    Ok(Reply::Verbatim("txt", Bytes::from(text)))
}

fn client_kill(session: &mut Session, args: &mut Args) -> CmdResult {
    let me = session.client.id;
    if args.remaining() == 1 {
        let addr = shown(&args.next()?);
        // The caller itself is closed after its reply, not cut off before it.
        let mine = session.client.addr.to_string() == addr;
        let killed = session
            .server
            .clients
            .kill(|c| c.id != me && c.addr.to_string() == addr);
        if killed == 0 && !mine {
            return Err(error(err::NO_CLIENT));
        }
        if mine {
            session.close = true;
        }
        return ok();
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut maxage) = (None, None, None, true, None);
    let mut user: Option<String> = None;
    let mut kind = None;
    while !args.is_done() {
        if args.remaining() < 2 {
            return Err(error(err::SYNTAX));
        }
        let option = args.next()?.to_ascii_lowercase();
        let value = args.next()?;
        match option.as_slice() {
            b"id" => {
                let n = super::args::parse_int(&value)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| error(err::CLIENT_ID_NOT_POSITIVE))?;
                id = Some(n as u64);
            }
            b"addr" => addr = Some(shown(&value)),
            b"laddr" => laddr = Some(shown(&value)),
            b"maxage" => {
                let n = super::args::parse_int(&value).ok_or_else(|| error(err::NOT_INT))?;
                maxage = Some(n.max(0) as u64);
            }
            b"type" => kind = Some(ClientType::parse(&value)?),
            b"user" => {
                if super::access::user(&value).is_none() {
                    return Err(err::client_kill_no_such_user(&value));
                }
                user = Some(shown(&value));
            }
            b"skipme" => match value.to_ascii_lowercase().as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => return Err(error(err::SYNTAX)),
            },
            _ => return Err(error(err::SYNTAX)),
        }
    }
    let classify = classifier();
    let select = |c: &ClientInfo| {
        id.is_none_or(|id| c.id == id)
            && kind.is_none_or(|k| classify(c) == k)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr
                .as_ref()
                .is_none_or(|a| c.local_addr.to_string() == *a)
            && maxage.is_none_or(|age| c.created.elapsed().as_secs() >= age)
            && user.as_ref().is_none_or(|u| *lock(&c.user) == *u)
            && !(skipme && c.id == me)
    };
    // The caller itself is closed after its reply, not cut off before it.
    let mine = select(&session.client);
    if mine {
        session.close = true;
    }
    let killed = session.server.clients.kill(|c| c.id != me && select(c)) + usize::from(mine);
    Ok(Reply::Int(killed as i64))
}

/// A client's class, as CLIENT LIST TYPE and CLIENT KILL TYPE select them (Redis's
/// getClientType): the master's link, a replica, a subscriber, or else normal (a MONITOR
/// client included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
}

impl ClientType {
    fn parse(name: &[u8]) -> Result<ClientType, Reply> {
        Ok(match name.to_ascii_lowercase().as_slice() {
            b"normal" => ClientType::Normal,
            b"replica" | b"slave" => ClientType::Replica,
            b"pubsub" => ClientType::PubSub,
            b"master" => ClientType::Master,
            _ => return Err(err::unknown_client_type(name)),
        })
    }
}

/// Classifies clients by the replication roles held now.
fn classifier() -> impl Fn(&ClientInfo) -> ClientType {
    let master = master_client();
    let replicas = super::replication::master::replica_clients();
    move |c: &ClientInfo| {
        if master == Some(c.id) {
            ClientType::Master
        } else if replicas.contains(&c.id) {
            ClientType::Replica
        } else if c.subs.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            ClientType::PubSub
        } else {
            ClientType::Normal
        }
    }
}
