//! Sorted-set algebra: ZUNION, ZINTER, ZDIFF, their *STORE forms and ZINTERCARD. Inputs may be
//! sorted sets or plain sets (score 1) on any shard: each shard's inputs are read in one job,
//! the result is computed on the connection's core, and a *STORE holds every shard involved
//! (ordered holds) from the first read to the write, so it is atomic.

use bytes::Bytes;
use hashbrown::HashMap;

use super::super::args::{parse_float, FloatRule};
use super::super::{err, error, Args, NumKeys, Session};
use super::range::store_result;
use super::{scored_reply, Routine};
use crate::protocol::Reply;
use crate::shard::ValueRef;
use crate::shard::{Holding, Shard, ShardId};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// A parsed request.
struct Request {
    dst: Option<Bytes>,
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
    /// An option error, reported only after the inputs' types were checked (Redis's order).
    bad_option: Option<Reply>,
}

/// What a command accepts besides its keys.
#[derive(Clone, Copy)]
struct Form {
    op: Op,
    store: bool,
    card: bool,
}

/// Parses `[dst] numkeys key... [options]`.
fn parse(args: &mut Args, name: &str, form: Form) -> Result<Request, Reply> {
    let dst = if form.store { Some(args.next()?) } else { None };
    let keys = args.numkeys(NumKeys::Combine(name))?;
    let mut req = Request {
        dst,
        weights: vec![1.0; keys.len()],
        keys,
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
        bad_option: None,
    };
    req.bad_option = parse_options(args, &mut req, form).err();
    Ok(req)
}

fn parse_options(args: &mut Args, req: &mut Request, form: Form) -> Result<(), Reply> {
    let n = req.keys.len();
    let algebra = form.op != Op::Diff && !form.card;
    while !args.is_done() {
        if algebra && args.remaining() > n && args.keyword("WEIGHTS") {
            for w in req.weights.iter_mut() {
                *w = parse_float(args.arg()?, FloatRule::Double)
                    .ok_or_else(|| error(err::WEIGHT_NOT_FLOAT))?;
            }
        } else if algebra && args.remaining() >= 2 && args.keyword("AGGREGATE") {
            req.aggregate = match args.next()?.to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(error(err::SYNTAX)),
            };
        } else if form.card && args.remaining() >= 2 && args.keyword("LIMIT") {
            let limit = args.int().map_err(|_| error(err::LIMIT_NEGATIVE))?;
            if limit < 0 {
                return Err(error(err::LIMIT_NEGATIVE));
            }
            req.limit = limit as usize;
        } else if !form.store && !form.card && args.keyword("WITHSCORES") {
            req.withscores = true;
        } else {
            return Err(error(err::SYNTAX));
        }
    }
    Ok(())
}

/// One input's members and scores (a plain set's members score 1).
type Input = Vec<(Bytes, f64)>;

/// Reads one input; WRONGTYPE for anything but a set or sorted set.
fn read_input(shard: &mut Shard, key: &[u8], write: bool) -> Result<Input, Reply> {
    let entry = if write {
        shard.write(key).map(|e| &*e)
    } else {
        shard.read(key)
    };
    match entry.map(|e| e.value()) {
        None => Ok(Vec::new()),
        Some(ValueRef::ZSet(z)) => Ok(z.entries()),
        Some(ValueRef::Set(s)) => Ok(crate::command::sort::set_members(s)
            .into_iter()
            .map(|m| (m, 1.0))
            .collect()),
        Some(_) => Err(error(err::WRONGTYPE)),
    }
}

/// Reads every input, one job per shard; through `holding` when the caller holds the shards.
/// The first WRONGTYPE input (in argument order) wins.
async fn gather(
    session: &Session,
    keys: &[Bytes],
    holding: Option<&Holding>,
    write: bool,
) -> Result<Vec<Input>, Reply> {
    let db = session.db;
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let shard = session.router.shard_of(k);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, idx)) => idx.push(i),
            None => groups.push((shard, vec![i])),
        }
    }
    let mut inputs: Vec<Option<Input>> = vec![None; keys.len()];
    let mut first_error: Option<(usize, Reply)> = None;
    for (shard, idx) in groups {
        let group_keys: Vec<Bytes> = idx.iter().map(|&i| keys[i].clone()).collect();
        let job = move |s: &mut Shard| {
            s.select(db);
            group_keys
                .iter()
                .map(|k| read_input(s, k, write))
                .collect::<Vec<_>>()
        };
        let results = match holding {
            Some(h) => h.run(shard, job).await,
            None => session.router.run(shard, job).await,
        }
        .ok_or_else(|| error(err::SHARD_GONE))?;
        for (i, r) in idx.into_iter().zip(results) {
            match r {
                Ok(input) => inputs[i] = Some(input),
                Err(e) if first_error.as_ref().is_none_or(|(at, _)| i < *at) => {
                    first_error = Some((i, e));
                }
                Err(_) => {}
            }
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    Ok(inputs.into_iter().map(Option::unwrap_or_default).collect())
}

fn aggregate(into: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *into += value;
            if into.is_nan() {
                *into = 0.0;
            }
        }
        Aggregate::Min => *into = into.min(value),
        Aggregate::Max => *into = into.max(value),
    }
}

/// A weighted score; NaN (inf × 0) counts as 0, as in Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The result of `op` over the inputs, sorted by (score, member).
fn compute(op: Op, inputs: Vec<Input>, weights: &[f64], how: Aggregate) -> Vec<(Bytes, f64)> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| inputs[i].len());
    let mut out: Vec<(Bytes, f64)> = match op {
        Op::Inter => intersect(&inputs, &order, weights, how),
        Op::Union => {
            let mut acc: HashMap<Bytes, f64> = HashMap::new();
            let mut members: Vec<Bytes> = Vec::new();
            for &i in &order {
                for (m, s) in &inputs[i] {
                    let v = weighted(*s, weights[i]);
                    match acc.get_mut(m) {
                        Some(cur) => aggregate(cur, v, how),
                        None => {
                            acc.insert(m.clone(), v);
                            members.push(m.clone());
                        }
                    }
                }
            }
            members
                .into_iter()
                .map(|m| {
                    let s = acc[&m];
                    (m, s)
                })
                .collect()
        }
        Op::Diff => {
            let others: hashbrown::HashSet<&Bytes> = inputs[1..]
                .iter()
                .flat_map(|i| i.iter().map(|(m, _)| m))
                .collect();
            inputs[0]
                .iter()
                .filter(|(m, _)| !others.contains(m))
                .cloned()
                .collect()
        }
    };
    out.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

/// Members of the smallest input found in every other, aggregated in size order as Redis does.
fn intersect(
    inputs: &[Input],
    order: &[usize],
    weights: &[f64],
    how: Aggregate,
) -> Vec<(Bytes, f64)> {
    let lookups: Vec<HashMap<&Bytes, f64>> = inputs
        .iter()
        .map(|i| i.iter().map(|(m, s)| (m, *s)).collect())
        .collect();
    let first = order[0];
    let mut out = Vec::new();
    'member: for (m, s) in &inputs[first] {
        let mut score = weighted(*s, weights[first]);
        for &j in &order[1..] {
            match lookups[j].get(m) {
                Some(&other) => aggregate(&mut score, weighted(other, weights[j]), how),
                None => continue 'member,
            }
        }
        out.push((m.clone(), score));
    }
    out
}

fn generic<'a>(
    session: &'a mut Session,
    args: Args,
    form: Form,
    name: &'static str,
) -> Routine<'a> {
    Box::pin(async move {
        let mut args = args;
        let req = parse(&mut args, name, form)?;
        let Some(dst) = req.dst.clone() else {
            let inputs = gather(session, &req.keys, None, false).await?;
            if let Some(e) = req.bad_option {
                return Err(e);
            }
            let out = compute(form.op, inputs, &req.weights, req.aggregate);
            return Ok(scored_reply(out, req.withscores));
        };
        let mut shards: Vec<ShardId> = req
            .keys
            .iter()
            .map(|k| session.router.shard_of(k))
            .collect();
        let dst_shard = session.router.shard_of(&dst);
        shards.push(dst_shard);
        let holding = session.router.hold(&shards).await;
        let inputs = gather(session, &req.keys, Some(&holding), true).await?;
        if let Some(e) = req.bad_option {
            return Err(e);
        }
        let out = compute(form.op, inputs, &req.weights, req.aggregate);
        let db = session.db;
        holding
            .run(dst_shard, move |s| {
                s.select(db);
                let reply = store_result(s, &dst, out, name);
                if s.has_ready() {
                    s.serve_blocked();
                }
                reply
            })
            .await
            .ok_or_else(|| error(err::SHARD_GONE))
    })
}

const fn form(op: Op, store: bool) -> Form {
    Form {
        op,
        store,
        card: false,
    }
}

pub fn zunion(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Union, false), "zunion")
}

pub fn zinter(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Inter, false), "zinter")
}

pub fn zdiff(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Diff, false), "zdiff")
}

pub fn zunionstore(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Union, true), "zunionstore")
}

pub fn zinterstore(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Inter, true), "zinterstore")
}

pub fn zdiffstore(session: &mut Session, args: Args) -> Routine<'_> {
    generic(session, args, form(Op::Diff, true), "zdiffstore")
}

pub fn zintercard(session: &mut Session, args: Args) -> Routine<'_> {
    Box::pin(async move {
        let mut args = args;
        let card = Form {
            op: Op::Inter,
            store: false,
            card: true,
        };
        let req = parse(&mut args, "zintercard", card)?;
        let inputs = gather(session, &req.keys, None, false).await?;
        if let Some(e) = req.bad_option {
            return Err(e);
        }
        let mut n = compute(Op::Inter, inputs, &req.weights, Aggregate::Sum).len();
        if req.limit > 0 {
            n = n.min(req.limit);
        }
        Ok(Reply::Int(n as i64))
    })
}
