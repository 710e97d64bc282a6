//! Authentication and access control commands: AUTH and the ACL family, plus `check`, the
//! one permission test dispatch runs before a command (NOAUTH before authentication, NOPERM
//! when the user's rules forbid the command, a key or a channel). Users and rules live in
//! `command::access`; this file is their command-facing side.

use crate::command::err;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;

use super::access::{self as acl, catalog, Denial, User};
use super::args::ok;
use super::connection::client_line;
use super::keys::help_reply;
use super::table::{cats, container, flags, lookup, row, CommandSpec, Flags, KeyAccess, NOKEY};
use super::{error, shown, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::state::ThreadStats;

/// The ACL family's rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row(
        "auth",
        -2,
        flags!(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY),
        NOKEY,
        Kind::Local(auth),
        "connection",
        "1.0.0",
        "Authenticates the connection.",
        "[username] password",
    )
    .with_acl(cats!(CONNECTION)),
    container(
        "acl",
        "server",
        "6.0.0",
        "A container for Access List Control commands ",
        ACL_SUBCOMMANDS,
    ),
];

#[rustfmt::skip]
static ACL_SUBCOMMANDS: &[CommandSpec] = &[
    row("acl|cat", -2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(cat), "server", "6.0.0", "List the ACL categories or the commands inside a category", ""),
    row("acl|deluser", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(deluser), "server", "6.0.0", "Remove the specified ACL users and the associated rules", ""),
    row("acl|dryrun", -4, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(dryrun), "server", "7.0.0", "Returns whether the user can execute the given command without executing the command.", ""),
    row("acl|genpass", -2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(genpass), "server", "6.0.0", "Generate a pseudorandom secure password to use for ACL users", ""),
    row("acl|getuser", 3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_getuser), "server", "6.0.0", "Get the rules for a specific ACL user", ""),
    row("acl|help", 2, flags!(LOADING | STALE), NOKEY, Kind::Local(acl_help), "server", "6.0.0", "Show helpful text about the different subcommands", ""),
    row("acl|list", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_list), "server", "6.0.0", "List the current ACL rules in ACL config file format", ""),
    row("acl|load", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_load), "server", "6.0.0", "Reload the ACLs from the configured ACL file", ""),
    row("acl|log", -2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(log), "server", "6.0.0", "List latest events denied because of ACLs in place", ""),
    row("acl|save", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_save), "server", "6.0.0", "Save the current ACL rules in the configured ACL file", ""),
    row("acl|setuser", -3, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(setuser), "server", "6.0.0", "Modify or create the rules for a specific ACL user", ""),
    row("acl|users", 2, flags!(ADMIN | NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_users), "server", "6.0.0", "List the username of all the configured ACL rules", ""),
    row("acl|whoami", 2, flags!(NOSCRIPT | LOADING | STALE), NOKEY, Kind::Local(acl_whoami), "server", "6.0.0", "Return the name of the user associated to the current connection", ""),
];

/// Refuses a call this connection may not make, or None when it may run. Unknown commands
/// and wrong arities pass: dispatch answers those first, as Redis does.
#[inline]
pub fn check(session: &mut Session, items: &[Bytes]) -> Option<Reply> {
    if session.auth.passes() {
        return None;
    }
    check_rules(session, items, false)
}

/// Whether the connection's user may run `items` (a script's `redis.acl_check_cmd`): the
/// same test as `check`, without logging or counting a refusal.
pub fn allowed(session: &mut Session, items: &[Bytes]) -> bool {
    session.auth.passes() || check_rules(session, items, true).is_none()
}

/// `quiet`: only judge; a refusal is neither logged nor counted, and fails no transaction.
fn check_rules(session: &mut Session, items: &[Bytes], quiet: bool) -> Option<Reply> {
    let (row, spec) = lookup(&items[0])?;
    let call = spec.resolve(items);
    if !call.arity_ok(items.len()) {
        return None;
    }
    let user_exists = session.auth.refresh();
    let refused = if session.auth.auth_required() {
        if call.has(Flags::NO_AUTH) {
            return None;
        }
        error(err::NOAUTH)
    } else if !user_exists {
        session.close = true;
        permission_error(Denial::Command, spec.name)
    } else {
        if session.auth.passes() || call.has(Flags::NO_AUTH) {
            return None;
        }
        let first = items.get(1).map(|b| b.as_ref());
        let id = catalog::id_for_call(row, spec, first);
        let (read, write) = match (call.has(Flags::READONLY), call.writes()) {
            (_, true) => (false, true),
            (true, false) => (true, false),
            _ => (true, true),
        };
        let keys = checked_keys(call, items)
            .into_iter()
            .map(|p| (read, write, items[p].as_ref()));
        let channels = call.channels.checked(items);
        let (denial, object) = session.auth.user.check(id, first, keys, channels).err()?;
        if quiet {
            return Some(permission_error(denial, spec.name));
        }
        let fullname = &catalog::ENTRIES[id].fullname;
        let object = object.map_or_else(|| fullname.to_string(), |o| shown(&o));
        log_denial(session, denial_reason(denial), object);
        if session.tx.in_script {
            err::script_noperm(denial_reason(denial))
        } else {
            permission_error(denial, fullname)
        }
    };
    if quiet {
        return Some(refused);
    }
    let row = super::table::stat_row(row, spec.resolve(items));
    ThreadStats::add(&session.server.stats[session.thread].rejected_calls[row], 1);
    session.tx.abort();
    Some(refused)
}

/// The positions of the keys ACL's key patterns judge: none for the shard channels that
/// SPUBLISH and SSUBSCRIBE declare as keys (Redis's NOT_KEY specs), which channel rules judge.
fn checked_keys(call: &CommandSpec, items: &[Bytes]) -> Vec<usize> {
    if call.key_access.0.contains(KeyAccess::NOT_KEY) {
        return Vec::new();
    }
    call.keys_of(items).unwrap_or_default()
}

fn denial_reason(denial: Denial) -> &'static str {
    match denial {
        Denial::Command => "command",
        Denial::Key => "key",
        Denial::Channel => "channel",
    }
}

fn permission_error(denial: Denial, command: &str) -> Reply {
    match denial {
        Denial::Command => err::noperm_command(command),
        Denial::Key => error(err::NOPERM_KEY),
        Denial::Channel => error(err::NOPERM_CHANNEL),
    }
}

fn log_denial(session: &Session, reason: &'static str, object: String) {
    let context = if session.tx.in_script {
        "lua"
    } else if session.tx.in_multi() {
        "multi"
    } else {
        "toplevel"
    };
    let info = client_line(&session.client).trim_end().to_string();
    acl::log(
        reason,
        context,
        object,
        session.auth.user.name.clone(),
        info,
    );
}

/// Logs the connection in as `username`, or replies WRONGPASS (and logs the failure).
pub fn login(session: &mut Session, command: &[u8], username: &[u8], password: &[u8]) -> CmdResult {
    match acl::authenticate(username, password) {
        Some(user) => {
            set_user(session, user);
            ok()
        }
        None => {
            let context = if session.tx.in_multi() {
                "multi"
            } else {
                "toplevel"
            };
            let info = client_line(&session.client).trim_end().to_string();
            acl::log("auth", context, shown(command), shown(username), info);
            Err(error(err::WRONGPASS))
        }
    }
}

/// Makes `user` the connection's user (AUTH, HELLO AUTH, RESET).
pub fn set_user(session: &mut Session, user: Arc<User>) {
    *session
        .client
        .user
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = user.name.clone();
    session.client.authenticated.store(true, Relaxed);
    session.auth.login(user);
}

/// AUTH [username] password.
pub fn auth(session: &mut Session, args: &mut Args) -> CmdResult {
    if args.remaining() > 2 {
        return Err(error(super::err::SYNTAX));
    }
    let command = args.name().to_vec();
    let (username, password) = if args.remaining() == 1 {
        if acl::user(b"default").is_some_and(|u| u.nopass) {
            return Err(error(err::AUTH_NOT_CONFIGURED));
        }
        (Bytes::from_static(b"default"), args.next()?)
    } else {
        (args.next()?, args.next()?)
    };
    login(session, &command, &username, &password)
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

fn acl_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(ACL_HELP))
}

fn acl_getuser(_session: &mut Session, args: &mut Args) -> CmdResult {
    Ok(acl::user(&args.next()?).map_or(Reply::Nil, |u| getuser(&u)))
}

fn acl_list(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Array(
        acl::users()
            .iter()
            .map(|u| bulk(format!("user {} {}", u.name, u.describe())))
            .collect(),
    ))
}

fn acl_users(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Array(
        acl::users().iter().map(|u| bulk(u.name.clone())).collect(),
    ))
}

fn acl_whoami(session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(bulk(session.auth.user.name.clone()))
}

/// Refuses a call of an ACL subcommand that takes at most one argument and got more.
fn at_most_one(args: &Args) -> Result<(), Reply> {
    if args.remaining() > 1 {
        return Err(err::subcommand_syntax(args.all()));
    }
    Ok(())
}

fn setuser(session: &mut Session, args: &mut Args) -> CmdResult {
    let name = args.next()?;
    if name.iter().any(|&c| c.is_ascii_whitespace() || c == 0) {
        return Err(error(err::BAD_USERNAME));
    }
    let name = shown(&name);
    let original = acl::user(name.as_bytes());
    let mut user = original
        .as_ref()
        .map_or_else(|| User::new(&name), |u| (**u).clone());
    for op in args.rest() {
        if let Err(e) = user.apply(op) {
            return Err(err::acl_modifier(op, e.message()));
        }
    }
    if let Some(original) = original {
        if !user.keeps_channels_of(&original) {
            close_revoked_subscribers(session, &user);
        }
    }
    acl::update(|users| users.insert(name, Arc::new(user)));
    ok()
}

/// Closes the pub/sub clients logged in as `user` that are subscribed to a channel or pattern
/// its new rules no longer allow (Redis's ACLKillPubsubClientsIfNeeded); this connection, if
/// one of them, after its reply.
fn close_revoked_subscribers(session: &mut Session, user: &User) {
    let revoked = |c: &crate::state::ClientInfo| {
        if c.subs.load(Relaxed) == 0
            || *c.user.lock().unwrap_or_else(|e| e.into_inner()) != user.name
        {
            return false;
        }
        let names = c.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        names
            .patterns
            .iter()
            .any(|p| !user.channel_allowed(p, true))
            || names
                .channels
                .iter()
                .chain(&names.shard_channels)
                .any(|ch| !user.channel_allowed(ch, false))
    };
    if revoked(&session.client) {
        session.close = true;
    }
    let me = session.client.id;
    session.server.clients.kill(|c| c.id != me && revoked(c));
}

fn deluser(session: &mut Session, args: &mut Args) -> CmdResult {
    let names: Vec<String> = args.rest().iter().map(|n| shown(n)).collect();
    if names.iter().any(|n| n == "default") {
        return Err(error(err::DEFAULT_USER_REMOVAL));
    }
    let deleted = acl::update(|users| names.iter().filter(|n| users.remove(*n).is_some()).count());
    if deleted > 0 {
        kill_clients_of(session, |user| names.iter().any(|n| n == user));
    }
    Ok(Reply::Int(deleted as i64))
}

/// Disconnects the clients logged in as a user `gone` picks (this one after its reply).
fn kill_clients_of(session: &mut Session, gone: impl Fn(&str) -> bool) {
    let me = session.client.id;
    let user_of =
        |c: &crate::state::ClientInfo| c.user.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if gone(&user_of(&session.client)) {
        session.close = true;
    }
    session
        .server
        .clients
        .kill(|c| c.id != me && gone(&user_of(c)));
}

fn getuser(user: &User) -> Reply {
    let strings = |list: Vec<String>| Reply::Array(list.into_iter().map(bulk).collect());
    Reply::Map(vec![
        (
            bulk("flags"),
            strings(user.flags().iter().map(|f| f.to_string()).collect()),
        ),
        (bulk("passwords"), strings(user.passwords().to_vec())),
        (bulk("commands"), bulk(user.command_rules())),
        (bulk("keys"), bulk(user.key_rules())),
        (bulk("channels"), bulk(user.channel_rules())),
        (bulk("selectors"), Reply::Array(Vec::new())),
    ])
}

fn cat(_session: &mut Session, args: &mut Args) -> CmdResult {
    at_most_one(args)?;
    let Ok(name) = args.next() else {
        return Ok(Reply::Array(
            catalog::CATEGORIES.iter().map(|c| bulk(*c)).collect(),
        ));
    };
    let category = catalog::category_bit(&name).ok_or_else(|| err::unknown_category(&name))?;
    Ok(Reply::Array(
        catalog::ENTRIES
            .iter()
            .filter(|e| e.categories & category != 0)
            .map(|e| bulk(e.fullname.to_string()))
            .collect(),
    ))
}

fn log(_session: &mut Session, args: &mut Args) -> CmdResult {
    at_most_one(args)?;
    let mut count = 10;
    if !args.is_done() {
        if args.keyword("RESET") {
            acl::reset_log();
            return ok();
        }
        count = args.int()?.max(0) as usize;
    }
    Ok(acl::with_log(|entries, now| {
        Reply::Array(
            entries
                .iter()
                .take(count)
                .map(|e| {
                    Reply::Map(vec![
                        (bulk("count"), Reply::Int(e.count as i64)),
                        (bulk("reason"), bulk(e.reason)),
                        (bulk("context"), bulk(e.context)),
                        (bulk("object"), bulk(e.object.clone())),
                        (bulk("username"), bulk(e.username.clone())),
                        (
                            bulk("age-seconds"),
                            Reply::Double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0),
                        ),
                        (bulk("client-info"), bulk(e.client_info.clone())),
                    ])
                })
                .collect(),
        )
    }))
}

fn genpass(_session: &mut Session, args: &mut Args) -> CmdResult {
    at_most_one(args)?;
    let bits = if args.is_done() { 256 } else { args.int()? };
    if !(1..=4096).contains(&bits) {
        return Err(error(err::GENPASS_BITS));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut random = vec![0u8; chars.div_ceil(2)];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(|_| error(err::NO_RANDOM))?;
    let mut hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Ok(bulk(hex))
}

fn dryrun(_session: &mut Session, args: &mut Args) -> CmdResult {
    let username = args.next()?;
    let user = acl::user(&username).ok_or_else(|| err::no_such_user(&username))?;
    let items: Vec<Bytes> = args.rest().to_vec();
    let (row, spec) = lookup(&items[0]).ok_or_else(|| err::no_such_command(&items[0]))?;
    let call = spec.resolve(&items);
    if !call.arity_ok(items.len()) {
        return Err(super::err::arity(call.name));
    }
    let first = items.get(1).map(|b| b.as_ref());
    let id = catalog::id_for_call(row, spec, first);
    let keys = checked_keys(call, &items)
        .into_iter()
        .map(|p| (true, call.writes(), items[p].as_ref()));
    match user.check(id, first, keys, call.channels.checked(&items)) {
        Ok(()) => ok(),
        Err((denial, object)) => {
            let object = object.as_deref().map(shown).unwrap_or_default();
            Ok(bulk(match denial {
                Denial::Command => err::dryrun_command(catalog::ENTRIES[id].fullname),
                Denial::Key => err::dryrun_key(&object),
                Denial::Channel => err::dryrun_channel(&object),
            }))
        }
    }
}

/// The configured ACL file, or Redis's error when there is none.
fn acl_file(session: &Session) -> Result<String, Reply> {
    let path = session.server.config().get("aclfile").to_string();
    if path.is_empty() {
        return Err(error(err::NO_ACL_FILE));
    }
    Ok(path)
}

fn acl_save(session: &mut Session, _args: &mut Args) -> CmdResult {
    let path = acl_file(session)?;
    acl::save(&path).map(|_| Reply::Simple("OK")).map_err(|e| {
        tracing::warn!("Opening temp ACL file for ACL SAVE: {e}");
        error(err::ACL_SAVE_FAILED)
    })
}

fn acl_load(session: &mut Session, _args: &mut Args) -> CmdResult {
    let path = acl_file(session)?;
    acl::load(&path).map_err(|e| err::plain(&e))?;
    kill_clients_of(session, |user| user != "default");
    session.auth.refresh();
    ok()
}
