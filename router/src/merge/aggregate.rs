//! GROUP BY across shards: rows with equal group keys (in the keys' collations) become one row whose partial
//! aggregates are combined, and AVG is computed from the combined SUM and COUNT.
//!
//! Groups come out sorted by the group key ascending (what MariaDB returns for GROUP BY without ORDER BY); each
//! keeps the bytes of its first row in shard order (shard 0 first), for the key and every column that is not an
//! aggregate.

use super::compare::{RowOrder, ValueOrder};
use super::decimal::{parse_i128, small_text, Decimal, DecimalSum};
use super::double::{format_double, NOT_FIXED_DEC};
use super::{Aggregate, AggregateKind, Average, ColumnInfo, MergeError, Row};

/// One aggregate column, with what combining it needs.
struct Combiner {
    column: usize,
    kind: AggregateKind,
    order: ValueOrder,
    decimals: u8,
}

/// Groups `rows` by `group_by` (all rows are one group when it is empty) and combines `aggregates` in each group.
///
/// With an empty `group_by` the result is exactly one row even when there are no rows at all: COUNT columns are
/// `0` and every other column NULL, as a server answers an aggregate over an empty table.
pub(crate) fn group(
    columns: &[ColumnInfo],
    mut rows: Vec<Row>,
    group_by: &[usize],
    aggregates: &[Aggregate],
) -> Result<Vec<Row>, MergeError> {
    let combiners: Vec<Combiner> = aggregates
        .iter()
        .map(|a| Combiner {
            column: a.column,
            kind: a.kind,
            order: ValueOrder::of(&columns[a.column]),
            decimals: columns[a.column].decimals,
        })
        .collect();
    if group_by.is_empty() {
        if rows.is_empty() {
            let mut row: Row = vec![None; columns.len()];
            for c in combiners.iter().filter(|c| c.kind == AggregateKind::Count) {
                row[c.column] = Some(b"0".to_vec());
            }
            return Ok(vec![row]);
        }
        let members: Vec<usize> = (0..rows.len()).collect();
        return Ok(vec![combine(&mut rows, &members, &combiners)?]);
    }
    let key = RowOrder::ascending(columns, group_by.iter().copied());
    let mut order: Vec<usize> = (0..rows.len()).collect();
    // Stable: rows with equal keys stay in shard order, so the first of a run is the first seen.
    order.sort_by(|&a, &b| key.compare(&rows[a], &rows[b]));
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && key.compare(&rows[order[start]], &rows[order[end]]).is_eq() {
            end += 1;
        }
        out.push(combine(&mut rows, &order[start..end], &combiners)?);
        start = end;
    }
    Ok(out)
}

/// Combines the rows `members` (indices into `rows`, first seen first) into one; takes the rows' values out.
fn combine(rows: &mut [Row], members: &[usize], combiners: &[Combiner]) -> Result<Row, MergeError> {
    if members.len() == 1 {
        // A single partial is already the final value, byte for byte as the server printed it.
        return Ok(std::mem::take(&mut rows[members[0]]));
    }
    let mut results = Vec::with_capacity(combiners.len());
    for c in combiners {
        let values = members.iter().map(|&m| rows[m][c.column].as_deref());
        let value = match c.kind {
            AggregateKind::Count => Some(sum_counts(values, c.column)?),
            AggregateKind::Sum if c.order == ValueOrder::Float => sum_doubles(values, c.column, c.decimals)?,
            AggregateKind::Sum => sum_decimals(values, c.column)?,
            AggregateKind::Min | AggregateKind::Max => {
                let want = if c.kind == AggregateKind::Min {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                // NULL partials (shards with no non-NULL value) are skipped; ties keep the first seen.
                values
                    .flatten()
                    .fold(None::<&[u8]>, |best, v| match best {
                        Some(b) if c.order.compare_present(v, b) != want => Some(b),
                        _ => Some(v),
                    })
                    .map(<[u8]>::to_vec)
            }
        };
        results.push(value);
    }
    let mut row = std::mem::take(&mut rows[members[0]]);
    for (c, value) in combiners.iter().zip(results) {
        row[c.column] = value;
    }
    Ok(row)
}

/// COUNT partials add up as integers (a NULL partial counts as 0).
fn sum_counts<'a>(values: impl Iterator<Item = Option<&'a [u8]>>, column: usize) -> Result<Vec<u8>, MergeError> {
    let mut total: i128 = 0;
    for v in values.flatten() {
        let n = parse_i128(v).ok_or_else(|| not_a_number(column, v, "COUNT"))?;
        total = total.checked_add(n).ok_or_else(|| not_a_number(column, v, "COUNT"))?;
    }
    Ok(small_text(total, 0))
}

/// SUM partials of integer and DECIMAL columns add exactly, keeping the largest scale; NULL when all are NULL.
fn sum_decimals<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    column: usize,
) -> Result<Option<Vec<u8>>, MergeError> {
    let mut total = DecimalSum::Empty;
    for v in values.flatten() {
        total.add_text(v).ok_or_else(|| not_a_number(column, v, "SUM"))?;
    }
    Ok(total.finish())
}

/// SUM partials of FLOAT/DOUBLE columns add as `f64`, printed as MariaDB prints a double; NULL when all are NULL.
fn sum_doubles<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    column: usize,
    decimals: u8,
) -> Result<Option<Vec<u8>>, MergeError> {
    let mut total: Option<f64> = None;
    for v in values.flatten() {
        let x = super::compare::parse_f64(v).ok_or_else(|| not_a_number(column, v, "SUM"))?;
        total = Some(total.unwrap_or(0.0) + x);
    }
    match total {
        Some(t) if !t.is_finite() => Err(MergeError::OutOfRange { column }),
        Some(t) => Ok(Some(format_double(t, decimals))),
        None => Ok(None),
    }
}

/// Writes each AVG into its output column: `sum / count`, NULL when the count is 0 or the sum NULL.
///
/// Integer and DECIMAL sums divide exactly, rounded half away from zero to `decimals` places (MariaDB's decimal
/// division); DOUBLE sums divide as `f64` and print as a double (`decimals` ≥ 31 meaning "not fixed").
pub(crate) fn apply_averages(rows: &mut [Row], averages: &[Average]) -> Result<(), MergeError> {
    let mut results = Vec::with_capacity(averages.len());
    for row in rows.iter_mut() {
        results.clear();
        for avg in averages {
            results.push(average(row, avg)?);
        }
        for (avg, value) in averages.iter().zip(results.drain(..)) {
            row[avg.output] = value;
        }
    }
    Ok(())
}

fn average(row: &Row, avg: &Average) -> Result<Option<Vec<u8>>, MergeError> {
    let count = match row[avg.count].as_deref() {
        None => 0,
        Some(v) => parse_i128(v)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| not_a_number(avg.count, v, "AVG count"))?,
    };
    let Some(sum) = row[avg.sum].as_deref() else {
        return Ok(None);
    };
    if count == 0 {
        return Ok(None);
    }
    if avg.is_double {
        let s = super::compare::parse_f64(sum).ok_or_else(|| not_a_number(avg.sum, sum, "AVG sum"))?;
        let value = s / count as f64;
        if !value.is_finite() {
            return Err(MergeError::OutOfRange { column: avg.output });
        }
        return Ok(Some(format_double(value, avg.decimals.min(NOT_FIXED_DEC))));
    }
    let s = Decimal::parse(sum).ok_or_else(|| not_a_number(avg.sum, sum, "AVG sum"))?;
    Ok(Some(s.div_round(count, usize::from(avg.decimals)).to_text()))
}

fn not_a_number(column: usize, value: &[u8], aggregate: &'static str) -> MergeError {
    MergeError::NotANumber {
        column,
        value: String::from_utf8_lossy(value).into_owned(),
        aggregate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::test_columns::{DOUBLE, LONG, VARCHAR};

    const NEWDECIMAL: ColumnInfo = ColumnInfo {
        column_type: 0xf6,
        flags: 0,
        collation: 63,
        decimals: 2,
    };

    fn row(values: &[Option<&str>]) -> Row {
        values.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()
    }

    fn text(rows: &[Row]) -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect()
            })
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn agg(column: usize, kind: AggregateKind) -> Aggregate {
        Aggregate { column, kind }
    }

    #[test]
    fn groups_across_shards_by_collation() {
        let columns = [VARCHAR, LONG, NEWDECIMAL];
        let rows = vec![
            row(&[Some("b"), Some("2"), Some("1.50")]),
            row(&[Some("a"), Some("1"), Some("0.25")]),
            row(&[Some("A "), Some("3"), Some("-1.00")]),
            row(&[Some("B"), Some("4"), None]),
            row(&[Some("c"), Some("5"), None]),
        ];
        let out = group(
            &columns,
            rows,
            &[0],
            &[agg(1, AggregateKind::Count), agg(2, AggregateKind::Sum)],
        )
        .unwrap();
        assert_eq!(
            text(&out),
            vec![
                vec![s("a"), s("4"), s("-0.75")],
                vec![s("b"), s("6"), s("1.50")],
                vec![s("c"), s("5"), None],
            ]
        );
    }

    #[test]
    fn min_and_max_ignore_null_and_use_the_column_order() {
        let columns = [LONG, LONG, VARCHAR, VARCHAR];
        let rows = vec![
            row(&[Some("1"), Some("9"), Some("b"), None]),
            row(&[Some("1"), Some("10"), Some("B"), None]),
            row(&[Some("1"), None, Some("a"), None]),
        ];
        let aggs = [
            agg(1, AggregateKind::Max),
            agg(2, AggregateKind::Max),
            agg(3, AggregateKind::Min),
        ];
        let out = group(&columns, rows, &[0], &aggs).unwrap();
        assert_eq!(
            text(&out),
            vec![vec![s("1"), s("10"), s("b"), None]],
            "ties keep the first seen ('b')"
        );
        let rows = vec![
            row(&[Some("1"), Some("-5"), None, None]),
            row(&[Some("1"), Some("-50"), None, None]),
        ];
        let out = group(&columns, rows, &[0], &[agg(1, AggregateKind::Min)]).unwrap();
        assert_eq!(text(&out)[0][1], s("-50"));
    }

    #[test]
    fn aggregate_all_without_rows_is_one_row() {
        let columns = [LONG, NEWDECIMAL, LONG];
        let aggs = [
            agg(0, AggregateKind::Count),
            agg(1, AggregateKind::Sum),
            agg(2, AggregateKind::Max),
        ];
        let out = group(&columns, Vec::new(), &[], &aggs).unwrap();
        assert_eq!(text(&out), vec![vec![s("0"), None, None]]);
    }

    #[test]
    fn aggregate_all_combines_every_shard_row() {
        let columns = [LONG, NEWDECIMAL, LONG];
        let aggs = [
            agg(0, AggregateKind::Count),
            agg(1, AggregateKind::Sum),
            agg(2, AggregateKind::Min),
        ];
        let rows = vec![
            row(&[Some("0"), None, None]),
            row(&[Some("3"), Some("10.10"), Some("-2")]),
            row(&[Some("2"), Some("0.90"), Some("7")]),
        ];
        let out = group(&columns, rows, &[], &aggs).unwrap();
        assert_eq!(text(&out), vec![vec![s("5"), s("11.00"), s("-2")]]);
        let all_null = vec![row(&[Some("0"), None, None]), row(&[Some("0"), None, None])];
        assert_eq!(
            text(&group(&columns, all_null, &[], &aggs).unwrap()),
            vec![vec![s("0"), None, None]]
        );
    }

    #[test]
    fn double_sums_print_like_mariadb() {
        let columns = [DOUBLE];
        let rows = vec![row(&[Some("0.1")]), row(&[Some("0.2")])];
        let out = group(&columns, rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap();
        assert_eq!(text(&out), vec![vec![s("0.30000000000000004")]]);
        let rows = vec![row(&[Some("1.5")]), row(&[Some("1.5")])];
        assert_eq!(
            text(&group(&columns, rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap()),
            vec![vec![s("3")]]
        );
        let rows = vec![row(&[Some("1e20")]), row(&[Some("1e20")])];
        assert_eq!(
            text(&group(&columns, rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap()),
            vec![vec![s("2e20")]]
        );
        let fixed = [ColumnInfo { decimals: 2, ..DOUBLE }];
        let rows = vec![row(&[Some("1.25")]), row(&[Some("1.00")])];
        assert_eq!(
            text(&group(&fixed, rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap()),
            vec![vec![s("2.25")]]
        );
    }

    #[test]
    fn unparseable_partials_are_errors() {
        let rows = vec![row(&[Some("x")]), row(&[Some("1")])];
        let err = group(&[LONG], rows, &[], &[agg(0, AggregateKind::Count)]).unwrap_err();
        assert!(
            matches!(
                err,
                MergeError::NotANumber {
                    column: 0,
                    aggregate: "COUNT",
                    ..
                }
            ),
            "{err:?}"
        );
        let rows = vec![row(&[Some("1.5.5")]), row(&[Some("1")])];
        let err = group(&[NEWDECIMAL], rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap_err();
        assert!(
            matches!(
                err,
                MergeError::NotANumber {
                    column: 0,
                    aggregate: "SUM",
                    ..
                }
            ),
            "{err:?}"
        );
        let rows = vec![row(&[Some("1e308")]), row(&[Some("1e308")])];
        let err = group(&[DOUBLE], rows, &[], &[agg(0, AggregateKind::Sum)]).unwrap_err();
        assert_eq!(err, MergeError::OutOfRange { column: 0 });
    }

    #[test]
    fn averages_divide_exactly_and_round_half_up() {
        let avg = |sum: Option<&str>, count: Option<&str>, decimals: u8, is_double: bool| {
            let mut rows = vec![row(&[sum, count, None])];
            apply_averages(
                &mut rows,
                &[Average {
                    sum: 0,
                    count: 1,
                    output: 2,
                    decimals,
                    is_double,
                }],
            )
            .unwrap();
            text(&rows)[0][2].clone()
        };
        assert_eq!(avg(Some("3"), Some("2"), 4, false), s("1.5000"));
        assert_eq!(avg(Some("2"), Some("3"), 4, false), s("0.6667"));
        assert_eq!(avg(Some("-2"), Some("3"), 4, false), s("-0.6667"));
        assert_eq!(avg(Some("10.25"), Some("4"), 6, false), s("2.562500"));
        assert_eq!(avg(None, Some("0"), 4, false), None);
        assert_eq!(avg(Some("0"), Some("0"), 4, false), None);
        assert_eq!(avg(Some("1"), Some("3"), 31, true), s("0.3333333333333333"));
        assert_eq!(avg(Some("5"), Some("2"), 31, true), s("2.5"));
        assert_eq!(avg(Some("5"), Some("2"), 6, true), s("2.500000"));
    }

    #[test]
    fn average_output_may_overwrite_its_sum() {
        let mut rows = vec![row(&[Some("7"), Some("2")])];
        apply_averages(
            &mut rows,
            &[Average {
                sum: 0,
                count: 1,
                output: 0,
                decimals: 4,
                is_double: false,
            }],
        )
        .unwrap();
        assert_eq!(text(&rows)[0], vec![s("3.5000"), s("2")]);
    }
}
