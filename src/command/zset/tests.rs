//! Command-level model test: random ZADD/ZREM/range/pop sequences run through the real ops on
//! a shard and against a BTreeMap model, reply by reply.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::super::Args;
use crate::protocol::Reply;
use crate::shard::Shard;

fn run(shard: &mut Shard, words: &[String]) -> Reply {
    let items: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.clone())).collect();
    let spec = super::super::lookup(&items[0]).expect("known command").1;
    let mut args = Args::plain(items);
    match spec.kind {
        super::Kind::Keyed(op, _) => op(shard, &mut args).unwrap_or_else(|e| e),
        _ => panic!("not a keyed command"),
    }
}

fn members(list: &[(String, f64)]) -> Reply {
    Reply::Array(
        list.iter()
            .map(|(m, _)| Reply::Bulk(Bytes::from(m.clone())))
            .collect(),
    )
}

fn ordered(model: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then(a.0.cmp(&b.0)));
    v
}

fn bound(v: i32, ex: bool) -> String {
    if ex {
        format!("({v}")
    } else {
        v.to_string()
    }
}

fn inside(s: f64, lo: i32, lo_ex: bool, hi: i32, hi_ex: bool) -> bool {
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    (if lo_ex { s > lo } else { s >= lo }) && (if hi_ex { s < hi } else { s <= hi })
}

#[derive(Debug, Clone)]
enum Op {
    Add(i32, u8),
    Rem(u8),
    ByScore {
        lo: i32,
        lo_ex: bool,
        hi: i32,
        hi_ex: bool,
        rev: bool,
        limit: Option<(i64, i64)>,
    },
    Rank(u8),
    RemByScore(i32, i32),
    PopMin(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (-6i32..6, 0u8..40).prop_map(|(s, m)| Op::Add(s, m)),
        2 => (0u8..40).prop_map(Op::Rem),
        3 => (-7i32..7, any::<bool>(), -7i32..7, any::<bool>(), any::<bool>(), prop::option::of((-1i64..5, -1i64..5)))
            .prop_map(|(lo, lo_ex, hi, hi_ex, rev, limit)| Op::ByScore { lo, lo_ex, hi, hi_ex, rev, limit }),
        2 => (0u8..40).prop_map(Op::Rank),
        1 => (-6i32..6, -6i32..6).prop_map(|(a, b)| Op::RemByScore(a, b)),
        1 => (0i64..4).prop_map(Op::PopMin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    #[test]
    fn commands_match_a_model(ops in prop::collection::vec(op(), 1..250)) {
        let mut shard = Shard::new(0, 1);
        shard.select(0);
        let mut model: BTreeMap<String, f64> = BTreeMap::new();
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for op in ops {
            match op {
                Op::Add(s, m) => {
                    let member = format!("m{m}");
                    let score = f64::from(s) / 2.0;
                    let added = model.insert(member.clone(), score).is_none();
                    let got = run(&mut shard, &w(&["ZADD", "k", &score.to_string(), &member]));
                    prop_assert_eq!(got, Reply::Int(added as i64));
                }
                Op::Rem(m) => {
                    let member = format!("m{m}");
                    let removed = model.remove(&member).is_some();
                    prop_assert_eq!(run(&mut shard, &w(&["ZREM", "k", &member])), Reply::Int(removed as i64));
                }
                Op::ByScore { lo, lo_ex, hi, hi_ex, rev, limit } => {
                    let mut want: Vec<(String, f64)> = ordered(&model)
                        .into_iter()
                        .filter(|(_, s)| inside(*s, lo, lo_ex, hi, hi_ex))
                        .collect();
                    if rev {
                        want.reverse();
                    }
                    let mut cmd = if rev {
                        w(&["ZREVRANGEBYSCORE", "k", &bound(hi, hi_ex), &bound(lo, lo_ex)])
                    } else {
                        w(&["ZRANGEBYSCORE", "k", &bound(lo, lo_ex), &bound(hi, hi_ex)])
                    };
                    if let Some((off, cnt)) = limit {
                        cmd.extend(w(&["LIMIT", &off.to_string(), &cnt.to_string()]));
                        want = if off < 0 {
                            Vec::new()
                        } else {
                            let it = want.into_iter().skip(off as usize);
                            if cnt < 0 { it.collect() } else { it.take(cnt as usize).collect() }
                        };
                    }
                    prop_assert_eq!(run(&mut shard, &cmd), members(&want));
                    let count = ordered(&model).iter().filter(|(_, s)| inside(*s, lo, lo_ex, hi, hi_ex)).count();
                    let got = run(&mut shard, &w(&["ZCOUNT", "k", &bound(lo, lo_ex), &bound(hi, hi_ex)]));
                    prop_assert_eq!(got, Reply::Int(count as i64));
                }
                Op::Rank(m) => {
                    let member = format!("m{m}");
                    let want = ordered(&model).iter().position(|(x, _)| *x == member).map_or(Reply::Nil, |r| Reply::Int(r as i64));
                    prop_assert_eq!(run(&mut shard, &w(&["ZRANK", "k", &member])), want);
                }
                Op::RemByScore(a, b) => {
                    let doomed: Vec<String> = model.iter().filter(|(_, s)| inside(**s, a, false, b, false)).map(|(m, _)| m.clone()).collect();
                    for m in &doomed {
                        model.remove(m);
                    }
                    let got = run(&mut shard, &w(&["ZREMRANGEBYSCORE", "k", &a.to_string(), &b.to_string()]));
                    prop_assert_eq!(got, Reply::Int(doomed.len() as i64));
                }
                Op::PopMin(n) => {
                    let want: Vec<(String, f64)> = ordered(&model).into_iter().take(n as usize).collect();
                    for (m, _) in &want {
                        model.remove(m);
                    }
                    let got = run(&mut shard, &w(&["ZPOPMIN", "k", &n.to_string()]));
                    let want = if n == 0 { Reply::Array(Vec::new()) } else { Reply::Pairs(want.into_iter().map(|(m, s)| (Reply::Bulk(Bytes::from(m)), Reply::Double(s))).collect()) };
                    prop_assert_eq!(got, want);
                }
            }
            let card = run(&mut shard, &w(&["ZCARD", "k"]));
            prop_assert_eq!(card, Reply::Int(model.len() as i64));
            prop_assert_eq!(run(&mut shard, &w(&["ZRANGE", "k", "0", "-1"])), members(&ordered(&model)));
        }
    }
}

#[test]
fn scan_scores_print_like_c() {
    let cases: &[(f64, &str)] = &[
        (0.1, "0.10000000000000001"),
        (1.5, "1.5"),
        (3.0, "3"),
        (-0.5, "-0.5"),
        (1e20, "1e+20"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1e-5, "1.0000000000000001e-05"),
        (f64::INFINITY, "inf"),
        (0.0, "0"),
    ];
    for (v, want) in cases {
        assert_eq!(&super::g17_text(*v)[..], want.as_bytes(), "{v}");
    }
}
