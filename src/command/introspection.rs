//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS), served
//! from the command table (rows, subcommand rows, key finders, ACL categories); DOCS turns each row's synopsis into Redis's argument tree so redis-cli shows hints.

use crate::command::err;
use bytes::Bytes;

use super::keys::help_reply;
use super::table::{Categories, KeyAccess, KeyFinder};
use super::{error, lookup, Args, CmdResult, CommandSpec, Session, COMMANDS};
use crate::command::access::catalog;
use crate::glob::glob_match;
use crate::protocol::Reply;

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// The `@name` ACL categories of a row or subcommand row.
fn categories(spec: &CommandSpec) -> Vec<Reply> {
    catalog::categories_of(spec)
        .names()
        .map(|c| Reply::Bulk(Bytes::from(format!("@{c}"))))
        .collect()
}

/// Redis's key specs for a range (flags, a begin index, a range) and for a key count
/// (`numkeys` then the keys). A row whose first key is used otherwise than the rest (a source
/// and a destination) shows two specs, as Redis's do. Keyword-found keys show none.
fn key_specs(spec: &CommandSpec) -> Reply {
    let (first, last, step) = spec.keys;
    let (first_access, rest_access) = spec.key_access;
    let mut specs = Vec::new();
    if first > 0 {
        if first_access == rest_access || last == first {
            let last_rel = if last < 0 { last } else { last - first };
            specs.push(key_spec(first_access, first, range(last_rel, step)));
        } else {
            let rest_last = if last < 0 { last } else { last - first - step };
            specs.push(key_spec(first_access, first, range(0, 1)));
            specs.push(key_spec(rest_access, first + step, range(rest_last, step)));
        }
    }
    if let KeyFinder::NumKeys(at) = spec.finder {
        let access = if first > 0 { rest_access } else { first_access };
        let keynum = Reply::Map(vec![
            (bulk("type"), bulk("keynum")),
            (
                bulk("spec"),
                Reply::Map(vec![
                    (bulk("keynumidx"), Reply::Int(0)),
                    (bulk("firstkey"), Reply::Int(1)),
                    (bulk("keystep"), Reply::Int(1)),
                ]),
            ),
        ]);
        specs.push(key_spec(access, at as i32, keynum));
    }
    Reply::Array(specs)
}

/// A range spec's `find_keys`.
fn range(lastkey: i32, step: i32) -> Reply {
    Reply::Map(vec![
        (bulk("type"), bulk("range")),
        (
            bulk("spec"),
            Reply::Map(vec![
                (bulk("lastkey"), Reply::Int(lastkey as i64)),
                (bulk("keystep"), Reply::Int(step as i64)),
                (bulk("limit"), Reply::Int(0)),
            ]),
        ),
    ])
}

/// One key spec: `flags`, begin at index `index`, then `find_keys`.
fn key_spec(flags: KeyAccess, index: i32, find_keys: Reply) -> Reply {
    Reply::Map(vec![
        (
            bulk("flags"),
            Reply::Set(flags.names().map(Reply::Simple).collect()),
        ),
        (
            bulk("begin_search"),
            Reply::Map(vec![
                (bulk("type"), bulk("index")),
                (
                    bulk("spec"),
                    Reply::Map(vec![(bulk("index"), Reply::Int(index as i64))]),
                ),
            ]),
        ),
        (bulk("find_keys"), find_keys),
    ])
}

/// COMMAND INFO's entry for one row: name, arity, flags, key range, ACL categories, tips,
/// key specs and the subcommands' entries.
fn info_entry(spec: &CommandSpec) -> Reply {
    let mut flags: Vec<Reply> = spec.flags.names().map(Reply::Simple).collect();
    if spec.movable_keys() {
        flags.push(Reply::Simple("movablekeys"));
    }
    let (first, last, step) = spec.keys;
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Int(spec.arity as i64),
        Reply::Set(flags),
        Reply::Int(first as i64),
        Reply::Int(last as i64),
        Reply::Int(step as i64),
        Reply::Set(categories(spec)),
        Reply::Set(Vec::new()),
        key_specs(spec),
        Reply::Array(spec.subcommands.iter().map(info_entry).collect()),
    ])
}

/// The row or subcommand row a COMMAND INFO/DOCS argument names (`get`, `config|get`).
fn named(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&c| c == b'|') {
        Some(bar) => lookup(&name[..bar])?.1.subcommand(&name[bar + 1..]),
        None => lookup(name).map(|(_, spec)| spec),
    }
}

/// Every row and subcommand row, containers first then their subcommands (COMMAND LIST).
fn every_name() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .flat_map(|spec| std::iter::once(*spec).chain(spec.subcommands.iter()))
}

/// One argument of the synopsis tree.
#[derive(Debug, Clone, PartialEq)]
struct Arg {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Arg>,
}

impl Arg {
    fn leaf(name: &str, kind: &'static str) -> Arg {
        Arg {
            name: name.to_string(),
            kind,
            token: None,
            optional: false,
            multiple: false,
            children: Vec::new(),
        }
    }

    fn to_reply(&self) -> Reply {
        let mut fields = vec![
            (bulk("name"), bulk(&self.name)),
            (bulk("type"), bulk(self.kind)),
        ];
        if let Some(token) = &self.token {
            fields.push((bulk("token"), bulk(token)));
        }
        let mut flags = Vec::new();
        if self.optional {
            flags.push(Reply::Simple("optional"));
        }
        if self.multiple {
            flags.push(Reply::Simple("multiple"));
        }
        if !flags.is_empty() {
            fields.push((bulk("flags"), Reply::Set(flags)));
        }
        if !self.children.is_empty() {
            fields.push((
                bulk("arguments"),
                Reply::Array(self.children.iter().map(Arg::to_reply).collect()),
            ));
        }
        Reply::Map(fields)
    }
}

fn word_kind(word: &str) -> &'static str {
    if word.contains("key") || word == "source" || word == "destination" {
        "key"
    } else if word.contains("pattern") {
        "pattern"
    } else if [
        "seconds",
        "milliseconds",
        "count",
        "index",
        "offset",
        "start",
        "end",
        "db",
        "increment",
        "decrement",
    ]
    .iter()
    .any(|w| word.contains(w))
        || word.starts_with("unix-time")
        || word.starts_with("min-")
        || word == "cursor"
    {
        "integer"
    } else {
        "string"
    }
}

/// Parses a Redis synopsis ("key value [NX|XX] [EX seconds|PX milliseconds] [key ...]").
fn parse_synopsis(text: &str) -> Vec<Arg> {
    let tokens: Vec<String> = text
        .replace('[', " [ ")
        .replace(']', " ] ")
        .replace('|', " | ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut pos = 0;
    parse_sequence(&tokens, &mut pos)
}

fn parse_sequence(tokens: &[String], pos: &mut usize) -> Vec<Arg> {
    let mut items: Vec<Arg> = Vec::new();
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        match t {
            "]" | "|" => break,
            "[" => {
                *pos += 1;
                let mut alternatives = vec![parse_sequence(tokens, pos)];
                while tokens.get(*pos).map(String::as_str) == Some("|") {
                    *pos += 1;
                    alternatives.push(parse_sequence(tokens, pos));
                }
                *pos += 1; // ']'
                push_optional(&mut items, alternatives);
            }
            "..." => {
                *pos += 1;
                if let Some(last) = items.last_mut() {
                    last.multiple = true;
                }
            }
            word if word.chars().all(|c| c.is_ascii_uppercase() || c == '-') => {
                *pos += 1;
                let next = tokens.get(*pos).map(String::as_str);
                match next {
                    Some(n) if n.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => {
                        *pos += 1;
                        let mut arg = Arg::leaf(n, word_kind(n));
                        arg.token = Some(word.to_string());
                        items.push(arg);
                    }
                    _ => {
                        let mut arg = Arg::leaf(&word.to_ascii_lowercase(), "pure-token");
                        arg.token = Some(word.to_string());
                        items.push(arg);
                    }
                }
            }
            word => {
                *pos += 1;
                items.push(Arg::leaf(word, word_kind(word)));
            }
        }
    }
    items
}

/// Adds a bracketed group: `X [X ...]` folds into X marked multiple; alternatives become oneof.
fn push_optional(items: &mut Vec<Arg>, alternatives: Vec<Vec<Arg>>) {
    let as_one = |mut seq: Vec<Arg>, name: &str| -> Arg {
        if seq.len() == 1 {
            seq.remove(0)
        } else {
            let mut block = Arg::leaf(name, "block");
            block.children = seq;
            block
        }
    };
    if alternatives.len() == 1 {
        let seq = alternatives.into_iter().next().unwrap_or_default();
        if seq.last().is_some_and(|a| a.multiple) {
            let mut plain = seq.clone();
            if let Some(last) = plain.last_mut() {
                last.multiple = false;
            }
            let n = plain.len();
            if items.len() >= n && items[items.len() - n..] == plain[..] {
                let prefix: Vec<Arg> = items.drain(items.len() - n..).collect();
                let mut arg = as_one(prefix, "data");
                arg.multiple = true;
                items.push(arg);
                return;
            }
        }
        let mut arg = as_one(seq, "args");
        arg.optional = true;
        items.push(arg);
        return;
    }
    let mut oneof = Arg::leaf("option", "oneof");
    oneof.optional = true;
    oneof.children = alternatives
        .into_iter()
        .map(|seq| as_one(seq, "block"))
        .collect();
    items.push(oneof);
}

fn docs_entry(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group)),
    ];
    let args = parse_synopsis(spec.synopsis);
    if !args.is_empty() {
        fields.push((
            bulk("arguments"),
            Reply::Array(args.iter().map(Arg::to_reply).collect()),
        ));
    }
    if spec.is_container() {
        fields.push((
            bulk("subcommands"),
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (bulk(s.name), docs_entry(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// COMMAND alone: every command's entry (COMMAND with a subcommand it lacks lands here too).
pub fn command(_session: &mut Session, args: &mut Args) -> CmdResult {
    if args.is_done() {
        return Ok(Reply::Array(
            COMMANDS.iter().copied().map(info_entry).collect(),
        ));
    }
    Err(err::unknown_subcommand(args.all()))
}

pub fn command_help(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(help_reply(COMMAND_HELP))
}

pub fn command_count(_session: &mut Session, _args: &mut Args) -> CmdResult {
    Ok(Reply::Int(COMMANDS.len() as i64))
}

/// COMMAND INFO [name...]: every command when none is named.
pub fn command_info(_session: &mut Session, args: &mut Args) -> CmdResult {
    if args.is_done() {
        return Ok(Reply::Array(
            COMMANDS.iter().copied().map(info_entry).collect(),
        ));
    }
    Ok(Reply::Array(
        args.rest()
            .iter()
            .map(|n| named(n).map_or(Reply::NilArray, info_entry))
            .collect(),
    ))
}

/// COMMAND DOCS [name...]: every command when none is named; unknown names are left out.
pub fn command_docs(_session: &mut Session, args: &mut Args) -> CmdResult {
    let specs: Vec<&CommandSpec> = if args.is_done() {
        COMMANDS.iter().copied().collect()
    } else {
        args.rest().iter().filter_map(|n| named(n)).collect()
    };
    Ok(Reply::Map(
        specs
            .into_iter()
            .map(|s| (bulk(s.name), docs_entry(s)))
            .collect(),
    ))
}

pub fn command_list(_session: &mut Session, args: &mut Args) -> CmdResult {
    list(args)
}

pub fn command_getkeys(_session: &mut Session, args: &mut Args) -> CmdResult {
    let (items, keys) = call_keys(args)?;
    Ok(Reply::Array(
        keys.into_iter()
            .map(|p| Reply::Bulk(items[p].clone()))
            .collect(),
    ))
}

/// COMMAND GETKEYSANDFLAGS: each key with its key-spec flags.
pub fn command_getkeysandflags(_session: &mut Session, args: &mut Args) -> CmdResult {
    let (items, keys) = call_keys(args)?;
    let spec = lookup(&items[0]).map(|(_, s)| s.resolve(&items));
    Ok(Reply::Array(
        keys.into_iter()
            .enumerate()
            .map(|(ordinal, p)| {
                let flags = spec.map_or(KeyAccess::RO, |s| s.access_of(ordinal, &items));
                Reply::Array(vec![
                    Reply::Bulk(items[p].clone()),
                    Reply::Set(flags.names().map(Reply::Simple).collect()),
                ])
            })
            .collect(),
    ))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: rows and
/// subcommand rows.
fn list(args: &mut Args) -> CmdResult {
    let names = |keep: &dyn Fn(&CommandSpec) -> bool| {
        Reply::Array(
            every_name()
                .filter(|s| keep(s))
                .map(|s| bulk(s.name))
                .collect(),
        )
    };
    if args.is_done() {
        return Ok(names(&|_| true));
    }
    if !args.keyword("FILTERBY") || args.remaining() != 2 {
        return Err(error(super::err::SYNTAX));
    }
    let kind = args.next()?.to_ascii_lowercase();
    let value = args.next()?;
    match kind.as_slice() {
        // No modules: no command belongs to one.
        b"module" => Ok(Reply::Array(Vec::new())),
        b"aclcat" => Ok(match Categories::named(&value) {
            Some(cat) => names(&|s| catalog::categories_of(s).contains(cat)),
            None => Reply::Array(Vec::new()),
        }),
        b"pattern" => Ok(names(&|s| glob_match(&value, s.name.as_bytes(), true))),
        _ => Err(error(super::err::SYNTAX)),
    }
}

/// The arguments of a COMMAND GETKEYS call and the key positions in them, with Redis's
/// errors: unknown command, a command without keys, a wrong arity, no valid key list.
fn call_keys(args: &mut Args) -> Result<(Vec<Bytes>, Vec<usize>), Reply> {
    let items = args.rest().to_vec();
    let Some((_, spec)) = lookup(&items[0]) else {
        return Err(error(err::GETKEYS_BAD_COMMAND));
    };
    let spec = spec.resolve(&items);
    if !spec.has_keys() {
        return Err(error(err::GETKEYS_NO_KEYS));
    }
    if !spec.arity_ok(items.len()) {
        return Err(error(err::GETKEYS_BAD_ARITY));
    }
    let keys = spec
        .keys_of(&items)
        .ok_or_else(|| error(err::GETKEYS_BAD_ARGS))?;
    Ok((items, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synopsis_trees() {
        let args = parse_synopsis("key [key ...]");
        assert_eq!(args.len(), 1);
        assert!(args[0].multiple && args[0].kind == "key");
        let args = parse_synopsis("key value [key value ...]");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].kind, "block");
        assert!(args[0].multiple);
        let args = parse_synopsis("key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]");
        assert_eq!(args.len(), 5);
        assert_eq!(args[2].kind, "oneof");
        assert_eq!(args[3].kind, "pure-token");
        assert!(args[3].optional);
        assert_eq!(args[4].children[0].token.as_deref(), Some("EX"));
        assert_eq!(args[4].children[2].kind, "pure-token");
        for spec in COMMANDS.iter() {
            parse_synopsis(spec.synopsis);
        }
    }
}
