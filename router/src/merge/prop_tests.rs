//! Deterministic property tests: random rows spread over 1–4 shards merge to what a naive computation over the
//! union of all rows gives (ORDER BY/LIMIT; GROUP BY with COUNT/SUM/MIN/MAX/AVG, HAVING and ORDER BY).

use std::cmp::Ordering;

use super::test_columns::{LONG, LONGLONG, NEWDECIMAL, VARCHAR};
use super::*;

use crate::test_rng::Lcg;

/// Strings that collide in general_ci in several ways (case, trailing spaces), all characters above the space.
const WORDS: [&str; 12] = ["a", "A", "a ", "b", "B  ", "ab", "AB", "aB ", "", " ", "b!", "_"];

fn random_int(rng: &mut Lcg) -> Option<Vec<u8>> {
    (!rng.chance(15)).then(|| (rng.below(41) as i64 - 20).to_string().into_bytes())
}

fn random_word(rng: &mut Lcg) -> Option<Vec<u8>> {
    (!rng.chance(10)).then(|| WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes().to_vec())
}

/// Spreads rows over `1..=4` shards at random, keeping each shard's rows in union order.
fn spread(rng: &mut Lcg, union: &[Row]) -> Vec<Vec<Row>> {
    let n = 1 + rng.below(4) as usize;
    let mut shards = vec![Vec::new(); n];
    for row in union {
        shards[rng.below(n as u64) as usize].push(row.clone());
    }
    shards
}

/// The naive general_ci key of an ASCII string: upper-cased, trailing spaces removed.
fn naive_key(v: &[u8]) -> Vec<u8> {
    let mut k = v.to_ascii_uppercase();
    while k.last() == Some(&b' ') {
        k.pop();
    }
    k
}

fn naive_int(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

/// Naive comparison of a cell: column 0 and 2 integers, column 1 a general_ci string; NULL first.
fn naive_cell(column: usize, a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if column == 1 => naive_key(a).cmp(&naive_key(b)),
        (Some(a), Some(b)) => naive_int(a).cmp(&naive_int(b)),
    }
}

fn naive_rows(keys: &[SortKey], a: &Row, b: &Row) -> Ordering {
    keys.iter()
        .map(|k| {
            let o = naive_cell(k.column, &a[k.column], &b[k.column]);
            if k.descending {
                o.reverse()
            } else {
                o
            }
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn page(rows: Vec<Row>, offset: u64, limit: Option<u64>) -> Vec<Row> {
    rows.into_iter()
        .skip(offset as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect()
}

#[test]
fn order_by_limit_equals_sorting_the_union() {
    let mut rng = Lcg(0x5eed);
    let columns = [LONG, VARCHAR, LONG];
    for case in 0..500 {
        let union: Vec<Row> = (0..rng.below(40))
            .map(|i| {
                vec![
                    random_int(&mut rng),
                    random_word(&mut rng),
                    Some(i.to_string().into_bytes()),
                ]
            })
            .collect();
        let mut keys = Vec::new();
        for column in [0, 1] {
            if rng.chance(70) {
                keys.push(SortKey {
                    column,
                    descending: rng.chance(50),
                });
            }
        }
        if rng.chance(50) {
            keys.reverse();
        }
        if keys.is_empty() {
            keys.push(SortKey {
                column: 1,
                descending: false,
            });
        }
        let offset = rng.below(5);
        let limit = if rng.chance(25) { None } else { Some(rng.below(15)) };
        let visible = 2 + rng.below(2) as usize;
        let spec = MergeSpec {
            order_by: keys.clone(),
            offset,
            limit,
            ..MergeSpec::new(visible)
        };
        let mut shards = spread(&mut rng, &union);

        // Unsorted shards: a stable sort of the concatenation.
        let mut expected: Vec<Row> = shards.concat();
        expected.sort_by(|a, b| naive_rows(&keys, a, b));
        let expected: Vec<Row> = page(expected, offset, limit)
            .into_iter()
            .map(|r| r[..visible].to_vec())
            .collect();
        let merged = merge(&columns, shards.clone(), &spec).unwrap();
        assert_eq!(merged, expected, "case {case}, unsorted shards");

        // Sorted shards through the k-way merge: the same as sorting the concatenation of the sorted shards.
        for s in &mut shards {
            s.sort_by(|a, b| naive_rows(&keys, a, b));
        }
        let mut expected: Vec<Row> = shards.concat();
        expected.sort_by(|a, b| naive_rows(&keys, a, b));
        let expected: Vec<Row> = page(expected, offset, limit)
            .into_iter()
            .map(|r| r[..visible].to_vec())
            .collect();
        let merged = merge(
            &columns,
            shards,
            &MergeSpec {
                shards_sorted: true,
                ..spec
            },
        )
        .unwrap();
        assert_eq!(merged, expected, "case {case}, sorted shards");
    }
}

/// One group's aggregates over raw rows `(key, value)`.
#[derive(Debug, Clone)]
struct Naive {
    key: Vec<u8>,
    sum: Option<i64>,
    count: i64,
    min: Option<i64>,
    max: Option<i64>,
    rows: i64,
}

/// Groups raw `(key, value)` rows naively, in first-seen order.
fn naive_groups(raw: &[Row]) -> Vec<Naive> {
    let mut groups: Vec<Naive> = Vec::new();
    for r in raw {
        let key = r[0].clone().unwrap();
        let value = r[1].as_deref().map(naive_int);
        let g = match groups.iter().position(|g| naive_key(&g.key) == naive_key(&key)) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Naive {
                    key,
                    sum: None,
                    count: 0,
                    min: None,
                    max: None,
                    rows: 0,
                });
                groups.last_mut().unwrap()
            }
        };
        g.rows += 1;
        if let Some(v) = value {
            g.sum = Some(g.sum.unwrap_or(0) + v);
            g.count += 1;
            g.min = Some(g.min.map_or(v, |m| m.min(v)));
            g.max = Some(g.max.map_or(v, |m| m.max(v)));
        }
    }
    groups
}

/// `sum / count` rounded half away from zero to 4 places, printed.
fn naive_avg(sum: i64, count: i64) -> String {
    let n = i128::from(sum.abs()) * 10_000;
    let (mut q, r) = (n / i128::from(count), n % i128::from(count));
    if 2 * r >= i128::from(count) {
        q += 1;
    }
    let sign = if sum < 0 && q != 0 { "-" } else { "" };
    format!("{sign}{}.{:04}", q / 10_000, q % 10_000)
}

fn cell(v: Option<i64>) -> Option<Vec<u8>> {
    v.map(|v| v.to_string().into_bytes())
}

/// A shard's answer to `SELECT k, SUM(v), COUNT(v), MIN(v), MAX(v), COUNT(*), SUM(v), COUNT(v) GROUP BY k`.
fn partial_row(g: &Naive) -> Row {
    vec![
        Some(g.key.clone()),
        cell(g.sum),
        cell(Some(g.count)),
        cell(g.min),
        cell(g.max),
        cell(Some(g.rows)),
        cell(g.sum),
        cell(Some(g.count)),
    ]
}

#[test]
fn group_by_of_partials_equals_aggregating_the_union() {
    let mut rng = Lcg(0xa99);
    let columns = [
        VARCHAR, NEWDECIMAL, LONGLONG, LONG, LONG, LONGLONG, NEWDECIMAL, LONGLONG,
    ];
    for case in 0..500 {
        let union: Vec<Row> = (0..rng.below(30))
            .map(|_| {
                vec![
                    Some(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes().to_vec()),
                    random_int(&mut rng),
                ]
            })
            .collect();
        let raw_shards = spread(&mut rng, &union);
        let mut shards: Vec<Vec<Row>> = raw_shards
            .iter()
            .map(|raw| naive_groups(raw).iter().map(partial_row).collect())
            .collect();
        // A shard may return its groups in any order.
        for s in &mut shards {
            if rng.chance(50) {
                s.reverse();
            }
        }

        let min_rows = if rng.chance(40) {
            Some(rng.below(4) as i64)
        } else {
            None
        };
        let by_sum_desc = rng.chance(40);
        let (offset, limit) = (rng.below(3), if rng.chance(50) { None } else { Some(rng.below(6)) });
        let spec = MergeSpec {
            group_by: vec![0],
            aggregates: vec![
                Aggregate {
                    column: 1,
                    kind: AggregateKind::Sum,
                },
                Aggregate {
                    column: 2,
                    kind: AggregateKind::Count,
                },
                Aggregate {
                    column: 3,
                    kind: AggregateKind::Min,
                },
                Aggregate {
                    column: 4,
                    kind: AggregateKind::Max,
                },
                Aggregate {
                    column: 5,
                    kind: AggregateKind::Count,
                },
            ],
            averages: vec![Average {
                sum: 6,
                count: 7,
                output: 6,
                decimals: 4,
                is_double: false,
            }],
            having: min_rows.map(|m| HavingExpr::Compare {
                column: 5,
                op: CompareOp::GtEq,
                value: SqlValue::Int(m),
            }),
            order_by: if by_sum_desc {
                vec![SortKey {
                    column: 1,
                    descending: true,
                }]
            } else {
                Vec::new()
            },
            offset,
            limit,
            ..MergeSpec::new(7)
        };

        // Representatives are the first seen in shard order (shard 0 first), so aggregate the shards' rows in that
        // order; every aggregate value is independent of the order.
        let mut groups = naive_groups(&raw_shards.concat());
        groups.sort_by_key(|g| naive_key(&g.key));
        groups.retain(|g| min_rows.is_none_or(|m| g.rows >= m));
        if by_sum_desc {
            groups.sort_by_key(|g| std::cmp::Reverse(g.sum));
        }
        let expected: Vec<Row> = groups
            .iter()
            .map(|g| {
                let mut row = partial_row(g);
                row[6] = g
                    .sum
                    .filter(|_| g.count > 0)
                    .map(|s| naive_avg(s, g.count).into_bytes());
                row.truncate(7);
                row
            })
            .collect();
        let expected = page(expected, offset, limit);
        let merged = merge(&columns, shards, &spec).unwrap();
        assert_eq!(merged, expected, "case {case}");
    }
}

#[test]
fn aggregate_all_equals_aggregating_the_union() {
    let mut rng = Lcg(0xc0ffee);
    let columns = [LONGLONG, NEWDECIMAL, LONG, LONG];
    for case in 0..300 {
        let union: Vec<Row> = (0..rng.below(12))
            .map(|_| vec![Some(b"k".to_vec()), random_int(&mut rng)])
            .collect();
        let shards: Vec<Vec<Row>> = spread(&mut rng, &union)
            .iter()
            .map(|raw| {
                let g = naive_groups(raw).pop().unwrap_or(Naive {
                    key: Vec::new(),
                    sum: None,
                    count: 0,
                    min: None,
                    max: None,
                    rows: 0,
                });
                vec![vec![cell(Some(g.rows)), cell(g.sum), cell(g.min), cell(g.max)]]
            })
            .collect();
        let spec = MergeSpec {
            aggregate_all: true,
            aggregates: vec![
                Aggregate {
                    column: 0,
                    kind: AggregateKind::Count,
                },
                Aggregate {
                    column: 1,
                    kind: AggregateKind::Sum,
                },
                Aggregate {
                    column: 2,
                    kind: AggregateKind::Min,
                },
                Aggregate {
                    column: 3,
                    kind: AggregateKind::Max,
                },
            ],
            ..MergeSpec::new(4)
        };
        let all = naive_groups(&union).pop();
        let expected = vec![vec![
            cell(Some(all.as_ref().map_or(0, |g| g.rows))),
            cell(all.as_ref().and_then(|g| g.sum)),
            cell(all.as_ref().and_then(|g| g.min)),
            cell(all.as_ref().and_then(|g| g.max)),
        ]];
        assert_eq!(merge(&columns, shards, &spec).unwrap(), expected, "case {case}");
    }
}
