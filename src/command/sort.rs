//! SORT and SORT_RO over lists, sets and sorted sets: numeric or ALPHA order, BY and GET
//! patterns (`*` replaced by the element, `->field` for a hash field, `#` for the element), LIMIT
//! and STORE. The elements are read on the key's shard; pattern look-ups go to whichever shards
//! own the looked-up keys, batched one job per shard.
//! The few accessors SORT needs from the list, set and hash types are the
//! `*_items`/`new_list`/`hash_field` functions at the end of this file.

use bytes::Bytes;

use super::table::{access, cats, flags, row, sort_store_key, CommandSpec, KeyFinder, KEY1};
use super::{err, error, notify, Args, CmdResult, Kind, Session};
use crate::protocol::Reply;
use crate::pubsub::notify::{GENERIC, LIST};
use crate::shard::types::{Hash, List, Set};
use crate::shard::ValueRef;
use crate::shard::{Shard, ShardId, Value};

/// A routine's future.
type Routine<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = CmdResult> + 'a>>;

/// The sort commands' rows of the command table.
pub static COMMANDS: &[CommandSpec] = &[
    row("sort", -2, flags!(WRITE | DENYOOM), KEY1, Kind::Routed(sort), "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]").with_acl(cats!(SET | SORTEDSET | LIST | DANGEROUS)).keys_by(KeyFinder::Custom(sort_store_key)).access_split(access!(RO | ACCESS), access!(OW | UPDATE)),
    row("sort_ro", -2, flags!(READONLY), KEY1, Kind::Routed(sort_ro), "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]").with_acl(cats!(SET | SORTEDSET | LIST | DANGEROUS)).keys_by(KeyFinder::Custom(sort_store_key)),
];

/// A parsed SORT.
#[derive(Default)]
struct Request {
    key: Bytes,
    by: Option<Bytes>,
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

fn parse(args: &mut Args, readonly: bool) -> Result<Request, Reply> {
    let mut r = Request {
        key: args.next()?,
        ..Request::default()
    };
    while !args.is_done() {
        let left = args.remaining() - 1;
        if args.keyword("ASC") {
            r.desc = false;
        } else if args.keyword("DESC") {
            r.desc = true;
        } else if args.keyword("ALPHA") {
            r.alpha = true;
        } else if left >= 2 && args.keyword("LIMIT") {
            let offset = args.int()?;
            let count = args.int()?;
            r.limit = Some((offset, count));
        } else if !readonly && left >= 1 && args.keyword("STORE") {
            r.store = Some(args.next()?);
        } else if left >= 1 && args.keyword("BY") {
            let by = args.next()?;
            r.dont_sort = !by.contains(&b'*');
            r.by = Some(by);
        } else if left >= 1 && args.keyword("GET") {
            r.gets.push(args.next()?);
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    Ok(r)
}

/// What the source key holds.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    List,
    Set,
    ZSet,
}

/// The source's elements in their natural order (None: no such key).
fn load(shard: &mut Shard, key: &[u8], write: bool) -> Result<Option<(Source, Vec<Bytes>)>, Reply> {
    let entry = if write {
        shard.write(key).map(|e| &*e)
    } else {
        shard.read(key)
    };
    Ok(match entry.map(|e| e.value()) {
        None => None,
        Some(ValueRef::List(l)) => Some((Source::List, list_items(l))),
        Some(ValueRef::Set(s)) => Some((Source::Set, set_members(s))),
        Some(ValueRef::ZSet(z)) => Some((
            Source::ZSet,
            z.entries().into_iter().map(|(m, _)| m).collect(),
        )),
        Some(_) => return Err(error(err::WRONGTYPE)),
    })
}

/// A pattern look-up: the key to read and, for `key->field`, the hash field.
#[derive(Clone)]
struct Lookup {
    key: Bytes,
    field: Option<Bytes>,
}

/// Where `pattern` points for `element`: None for `#` (the element itself) is handled by the
/// caller; None here means the pattern has no `*` (it names no per-element key).
fn resolve(pattern: &[u8], element: &[u8]) -> Option<Lookup> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let arrow = pattern[star..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| p + star)
        .filter(|&p| p + 2 < pattern.len());
    let key_part = &pattern[..arrow.unwrap_or(pattern.len())];
    let mut key = Vec::with_capacity(key_part.len() + element.len());
    key.extend_from_slice(&key_part[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_part[star + 1..]);
    Some(Lookup {
        key: Bytes::from(key),
        field: arrow.map(|a| Bytes::copy_from_slice(&pattern[a + 2..])),
    })
}

/// Reads a look-up on its shard: a string's value, or a hash field; None otherwise.
fn read_lookup(shard: &mut Shard, l: &Lookup) -> Option<Bytes> {
    let entry = shard.read(&l.key)?;
    match (entry.value(), &l.field) {
        (ValueRef::Str(s), None) => Some(s.to_bytes()),
        (ValueRef::Hash(h), Some(f)) => hash_field(h, f),
        _ => None,
    }
}

/// Resolves every look-up, one job per shard; results in input order.
async fn fetch(
    session: &Session,
    lookups: Vec<Option<Lookup>>,
) -> Result<Vec<Option<Bytes>>, Reply> {
    let db = session.db;
    let mut groups: Vec<(ShardId, Vec<(usize, Lookup)>)> = Vec::new();
    for (i, l) in lookups.iter().enumerate() {
        let Some(l) = l else { continue };
        let shard = session.router.shard_of(&l.key);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, v)) => v.push((i, l.clone())),
            None => groups.push((shard, vec![(i, l.clone())])),
        }
    }
    let mut out: Vec<Option<Bytes>> = vec![None; lookups.len()];
    for (shard, items) in groups {
        let results = session
            .router
            .run(shard, move |s| {
                s.select(db);
                items
                    .into_iter()
                    .map(|(i, l)| (i, read_lookup(s, &l)))
                    .collect::<Vec<_>>()
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))?;
        for (i, v) in results {
            out[i] = v;
        }
    }
    Ok(out)
}

/// Parses a sort weight as Redis's strtod check does (leading space and empty text allowed).
fn weight(raw: &[u8]) -> Option<f64> {
    super::args::parse_float(raw, super::args::FloatRule::SortWeight)
}

fn sort(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, false)
}

fn sort_ro(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, true)
}

fn generic(session: &mut Session, args: Args, readonly: bool) -> Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        let mut r = parse(&mut args, readonly)?;
        let db = session.db;
        let (key, write) = (r.key.clone(), r.store.is_some());
        let loaded = session
            .router
            .run(session.router.shard_of(&key), move |s| {
                s.select(db);
                load(s, &key, write)
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))??;
        let (source, mut elements) = loaded.unwrap_or((Source::List, Vec::new()));
        if r.dont_sort && source == Source::Set && (r.store.is_some() || session.tx.in_script) {
            // A set's order is arbitrary: a stored result, or what a script sees, must not
            // depend on it.
            r.dont_sort = false;
            r.alpha = true;
            r.by = None;
        }
        // Unsorted, a list or sorted set keeps its own order, read from the end for DESC.
        if r.dont_sort && source != Source::Set && r.desc {
            elements.reverse();
        }
        if !r.dont_sort {
            elements = sorted(session, &r, elements).await?;
        }
        let (start, end) = window(r.limit, elements.len());
        let chosen = &elements[start..end];
        let values: Vec<Option<Bytes>> = if r.gets.is_empty() {
            chosen.iter().cloned().map(Some).collect()
        } else {
            let mut lookups = Vec::new();
            let mut own = Vec::new();
            for e in chosen {
                for g in &r.gets {
                    own.push((&g[..] == b"#").then(|| e.clone()));
                    lookups.push(if &g[..] == b"#" { None } else { resolve(g, e) });
                }
            }
            let found = fetch(session, lookups).await?;
            own.into_iter().zip(found).map(|(o, f)| o.or(f)).collect()
        };
        let Some(dst) = r.store else {
            return Ok(Reply::Array(
                values
                    .into_iter()
                    .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                    .collect(),
            ));
        };
        let items: Vec<Bytes> = values.into_iter().map(Option::unwrap_or_default).collect();
        let n = items.len() as i64;
        session
            .router
            .run(session.router.shard_of(&dst), move |s| {
                s.select(db);
                if items.is_empty() {
                    if s.delete(&dst).is_some() {
                        notify(s, GENERIC, "del", &dst);
                    }
                    return Ok(());
                }
                let list = new_list(items).ok_or_else(|| error(err::SORT_STORE_NO_LIST))?;
                s.store(&dst, list, 0);
                notify(s, LIST, "sortstore", &dst);
                s.signal_ready(&dst);
                if s.has_ready() {
                    s.serve_blocked();
                }
                Ok(())
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))??;
        Ok(Reply::Int(n))
    })
}

/// The `LIMIT offset count` window over `len` elements, as Redis clamps it.
fn window(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let len = len as i64;
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    if start < 0 || end < start {
        return (0, 0);
    }
    (start as usize, end as usize + 1)
}

/// Sort keys for the elements: numeric weights or ALPHA bytes (from the element or BY).
async fn sorted(session: &Session, r: &Request, elements: Vec<Bytes>) -> Result<Vec<Bytes>, Reply> {
    let by_values: Option<Vec<Option<Bytes>>> = match &r.by {
        Some(pattern) => {
            let lookups = elements.iter().map(|e| resolve(pattern, e)).collect();
            Some(fetch(session, lookups).await?)
        }
        None => None,
    };
    let keyed: Vec<(usize, Option<Bytes>)> = (0..elements.len())
        .map(|i| match &by_values {
            Some(v) => (i, v[i].clone()),
            None => (i, Some(elements[i].clone())),
        })
        .collect();
    let mut order: Vec<usize> = (0..elements.len()).collect();
    if r.alpha {
        order.sort_by(|&a, &b| {
            let cmp = match (&keyed[a].1, &keyed[b].1) {
                (Some(x), Some(y)) => x.cmp(y),
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
            };
            let cmp = if r.by.is_none() {
                elements[a].cmp(&elements[b])
            } else {
                cmp
            };
            if r.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    } else {
        let mut scores = Vec::with_capacity(elements.len());
        for (_, v) in &keyed {
            scores.push(match v {
                None => 0.0,
                Some(raw) => weight(raw).ok_or_else(|| error(err::SORT_NOT_DOUBLE))?,
            });
        }
        order.sort_by(|&a, &b| {
            let cmp = scores[a]
                .partial_cmp(&scores[b])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| elements[a].cmp(&elements[b]));
            if r.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    let mut slots: Vec<Option<Bytes>> = elements.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

// ---- Reading and building the other collection types. ----

/// A list's elements, head first.
pub(crate) fn list_items(list: &List) -> Vec<Bytes> {
    list.iter().map(Bytes::copy_from_slice).collect()
}

/// A set's members (any order).
pub(crate) fn set_members(set: &Set) -> Vec<Bytes> {
    set.iter().collect()
}

/// A hash field's value.
pub(crate) fn hash_field(hash: &Hash, field: &[u8]) -> Option<Bytes> {
    hash.get(field)
}

/// A list value holding `items` (None when empty: an empty list is no key).
pub(crate) fn new_list(items: Vec<Bytes>) -> Option<Value> {
    if items.is_empty() {
        return None;
    }
    Some(Value::List(Box::new(List::from_items(
        items.iter().map(|b| &b[..]),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let l = resolve(b"w_*", b"3").unwrap();
        assert_eq!(&l.key[..], b"w_3");
        assert!(l.field.is_none());
        let l = resolve(b"h_*->f", b"x").unwrap();
        assert_eq!(&l.key[..], b"h_x");
        assert_eq!(l.field.as_deref(), Some(&b"f"[..]));
        let l = resolve(b"h_*->", b"x").unwrap();
        assert_eq!(&l.key[..], b"h_x->");
        assert!(resolve(b"nostar", b"x").is_none());
    }

    #[test]
    fn limit_window() {
        assert_eq!(window(None, 5), (0, 5));
        assert_eq!(window(Some((1, 2)), 5), (1, 3));
        assert_eq!(window(Some((-1, 2)), 5), (0, 2));
        assert_eq!(window(Some((10, 2)), 5), (0, 0));
        assert_eq!(window(Some((2, -1)), 5), (2, 5));
        assert_eq!(window(Some((0, 0)), 5), (0, 0));
        assert_eq!(window(None, 0), (0, 0));
        assert_eq!(window(Some((i64::MAX, i64::MAX)), 5), (0, 0));
    }
}
