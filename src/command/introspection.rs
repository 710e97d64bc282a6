//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS), served from the command
//! table; DOCS turns each row's synopsis into Redis's argument tree so redis-cli shows hints.

use bytes::Bytes;

use super::connection::{sub_arity_error, unknown_subcommand};
use super::keys::help_reply;
use super::{arity_error, error, lookup, shown, Args, CmdResult, CommandSpec, Session, COMMANDS};
use crate::glob::glob_match;
use crate::protocol::Reply;

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// Redis ACL categories of a command, from its group and flags.
fn categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mut cats = Vec::new();
    if spec.has_flag("write") {
        cats.push("@write");
    }
    if spec.has_flag("readonly") {
        cats.push("@read");
    }
    cats.push(match spec.group {
        "string" => "@string",
        "generic" => "@keyspace",
        "connection" => "@connection",
        _ => "@admin",
    });
    cats.push(if spec.has_flag("fast") {
        "@fast"
    } else {
        "@slow"
    });
    cats
}

fn key_specs(spec: &CommandSpec) -> Reply {
    let (first, last, step) = spec.keys;
    if first == 0 {
        return Reply::Array(Vec::new());
    }
    let flag = if spec.has_flag("write") { "RW" } else { "RO" };
    let last_rel = if last < 0 { last } else { last - first };
    Reply::Array(vec![Reply::Map(vec![
        (
            bulk("begin_search"),
            Reply::Map(vec![
                (bulk("type"), bulk("index")),
                (
                    bulk("spec"),
                    Reply::Map(vec![(bulk("index"), Reply::Int(first as i64))]),
                ),
            ]),
        ),
        (
            bulk("find_keys"),
            Reply::Map(vec![
                (bulk("type"), bulk("range")),
                (
                    bulk("spec"),
                    Reply::Map(vec![
                        (bulk("lastkey"), Reply::Int(last_rel as i64)),
                        (bulk("keystep"), Reply::Int(step as i64)),
                        (bulk("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
        (bulk("flags"), Reply::Set(vec![Reply::Simple(flag)])),
    ])])
}

/// COMMAND INFO's entry for one command.
fn info_entry(spec: &CommandSpec) -> Reply {
    let flags = spec
        .flags
        .split(' ')
        .filter(|f| !f.is_empty())
        .map(Reply::Simple)
        .collect();
    let (first, last, step) = spec.keys;
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Int(spec.arity as i64),
        Reply::Set(flags),
        Reply::Int(first as i64),
        Reply::Int(last as i64),
        Reply::Int(step as i64),
        Reply::Set(categories(spec).into_iter().map(Reply::Simple).collect()),
        Reply::Set(Vec::new()),
        key_specs(spec),
        Reply::Array(Vec::new()),
    ])
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
    "HELP",
    "    Prints this help.",
];

pub fn command(_session: &mut Session, args: &mut Args) -> CmdResult {
    if args.is_done() {
        return Ok(Reply::Array(
            COMMANDS.iter().copied().map(info_entry).collect(),
        ));
    }
    let sub = args.next()?;
    match sub.to_ascii_lowercase().as_slice() {
        b"help" => Ok(help_reply(COMMAND_HELP)),
        b"count" if args.is_done() => Ok(Reply::Int(COMMANDS.len() as i64)),
        b"info" => {
            if args.is_done() {
                return Ok(Reply::Array(
                    COMMANDS.iter().copied().map(info_entry).collect(),
                ));
            }
            Ok(Reply::Array(
                args.rest()
                    .iter()
                    .map(|n| lookup(n).map_or(Reply::NilArray, |(_, s)| info_entry(s)))
                    .collect(),
            ))
        }
        b"docs" => {
            let specs: Vec<&CommandSpec> = if args.is_done() {
                COMMANDS.iter().copied().collect()
            } else {
                args.rest()
                    .iter()
                    .filter_map(|n| lookup(n).map(|(_, s)| s))
                    .collect()
            };
            Ok(Reply::Map(
                specs
                    .into_iter()
                    .map(|s| (bulk(s.name), docs_entry(s)))
                    .collect(),
            ))
        }
        b"list" => {
            let mut pattern: Option<Bytes> = None;
            if !args.is_done() {
                if !args.keyword("FILTERBY") || args.remaining() != 2 {
                    return Err(error(super::err::SYNTAX));
                }
                let kind = args.next()?.to_ascii_lowercase();
                let value = args.next()?;
                match kind.as_slice() {
                    b"pattern" => pattern = Some(value),
                    b"module" => return Ok(Reply::Array(Vec::new())),
                    b"aclcat" => {
                        let cat = format!("@{}", shown(&value).to_ascii_lowercase());
                        return Ok(Reply::Array(
                            COMMANDS
                                .iter()
                                .filter(|s| categories(s).contains(&cat.as_str()))
                                .map(|s| bulk(s.name))
                                .collect(),
                        ));
                    }
                    _ => return Err(error(super::err::SYNTAX)),
                }
            }
            Ok(Reply::Array(
                COMMANDS
                    .iter()
                    .filter(|s| {
                        pattern
                            .as_ref()
                            .is_none_or(|p| glob_match(p, s.name.as_bytes(), true))
                    })
                    .map(|s| bulk(s.name))
                    .collect(),
            ))
        }
        b"getkeys" if args.remaining() >= 2 => {
            let items = args.rest().to_vec();
            let Some((_, spec)) = lookup(&items[0]) else {
                return Err(error("ERR Invalid command specified"));
            };
            if !spec.arity_ok(items.len()) {
                return Err(error(
                    "ERR Invalid number of arguments specified for command",
                ));
            }
            let positions = match movable_key_positions(spec.name, &items) {
                Some(positions) => positions?,
                None => spec.key_positions(items.len()).collect(),
            };
            let keys: Vec<Reply> = positions
                .into_iter()
                .map(|p| Reply::Bulk(items[p].clone()))
                .collect();
            if keys.is_empty() {
                return Err(error("ERR The command has no key arguments"));
            }
            Ok(Reply::Array(keys))
        }
        b"count" | b"getkeys" => Err(sub_arity_error("command", &sub)),
        _ => {
            let _ = arity_error;
            Err(unknown_subcommand("command", &sub))
        }
    }
}

/// Key positions of the commands whose keys move with their arguments (Redis's getkeys
/// procedures); None for the others, whose table row says where the keys are.
fn movable_key_positions(name: &str, items: &[Bytes]) -> Option<Result<Vec<usize>, Reply>> {
    let numkeys_at = |at: usize, before: &[usize]| {
        let n = items.get(at).and_then(|n| super::args::parse_int(n));
        match n {
            Some(n) if n > 0 && (n as usize) < items.len() - at => {
                let mut keys = before.to_vec();
                keys.extend(at + 1..=at + n as usize);
                Ok(keys)
            }
            _ => Err(error("ERR Invalid arguments specified for command")),
        }
    };
    Some(match name {
        "sort" => Ok(sort_key_positions(items)),
        "zunionstore" | "zinterstore" | "zdiffstore" => numkeys_at(2, &[1]),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            numkeys_at(1, &[])
        }
        "blmpop" | "bzmpop" => numkeys_at(2, &[]),
        _ => return None,
    })
}

/// SORT's source and its last STORE destination, skipping the arguments of LIMIT, GET and BY
/// as Redis's sortGetKeys does.
fn sort_key_positions(items: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < items.len() {
        let word = items[i].to_ascii_lowercase();
        match word.as_slice() {
            b"limit" => i += 2,
            b"get" | b"by" => i += 1,
            b"store" if i + 1 < items.len() => {
                store = Some(i + 1);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    keys.extend(store);
    keys
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
