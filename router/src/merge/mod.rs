//! Merging the result sets of several shards into the one result a single MariaDB server would return.
//!
//! A multi-shard SELECT is rewritten per shard (LIMIT `offset + limit`, AVG → SUM + COUNT, extra hidden columns for
//! ORDER BY/GROUP BY keys), run on every shard, decoded into text-protocol rows and handed to [`merge`] with a
//! [`MergeSpec`] that says how to put them together. The stages run in SQL's order:
//!
//! 1. **GROUP BY** / aggregate without GROUP BY: rows with equal group keys (compared in the keys' collations) become
//!    one, partial COUNT/SUM/MIN/MAX combine (`aggregate` module); groups come out sorted by key, as MariaDB
//!    returns them.
//! 2. **AVG** from the combined SUM and COUNT, exactly for integer and DECIMAL arguments.
//! 3. **HAVING** on the merged groups (`having` module).
//! 4. **DISTINCT** over the visible columns (`distinct` module).
//! 5. **ORDER BY**, a stable sort, or a streaming k-way merge ([`KWayMerge`]) when the shards' rows arrive sorted
//!    and nothing above applies.
//! 6. **OFFSET/LIMIT**, then the hidden helper columns are dropped.
//!
//! Values compare by their column's type ([`compare_values`]): integers and DECIMAL exactly, FLOAT/DOUBLE as `f64`,
//! TIME as a duration, dates bytewise, strings by collation (`collation` module). The module is pure: no I/O, no
//! clock, no allocation beyond the rows it builds.
//!
//! Known differences from a single server: ENUM/SET columns sort by their text, where MariaDB sorts them by index;
//! `utf8mb4_unicode_ci` and other UCA collations are compared as `general_ci`; the collation id of a column
//! definition names the connection's character set, so a non-binary column in a collation other than the result
//! set's default (e.g. `latin1_swedish_ci` read over utf8mb4) is compared in the default one; DOUBLE sums add the
//! shards' printed partial sums, so the last digit can differ from a server's single running sum; GROUP BY ties
//! under ORDER BY come out in group-key order, where a server's order is unspecified.

mod aggregate;
mod collation;
mod compare;
mod decimal;
mod distinct;
mod double;
mod having;
mod kway;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod test_columns;

pub use compare::compare_values;
pub use kway::KWayMerge;

use crate::value::SqlValue;

/// What the merge needs to know about one result column (taken from the backend's column definition packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ColumnInfo {
    /// MySQL type code, e.g. 0x03 LONG, 0x08 LONGLONG, 0xf6 NEWDECIMAL, 0x05 DOUBLE, 0xfd VAR_STRING, 0xfe STRING,
    /// 0xfc BLOB, 0x0c DATETIME, 0x0a DATE, 0x0b TIME.
    pub column_type: u8,
    /// Column flags: [`ColumnInfo::UNSIGNED_FLAG`], [`ColumnInfo::BINARY_FLAG`], …
    pub flags: u16,
    /// Collation id: 63 binary, 45 utf8mb4_general_ci, 46 utf8mb4_bin, 224 utf8mb4_unicode_ci, 8 latin1_swedish_ci,
    /// 47 latin1_bin, 33 utf8mb3_general_ci, … (ids ≥ 1024 are MariaDB's NO PAD variants).
    pub collation: u16,
    /// Digits after the decimal point (31 for "not fixed" FLOAT/DOUBLE).
    pub decimals: u8,
}

impl ColumnInfo {
    /// The UNSIGNED column flag.
    pub const UNSIGNED_FLAG: u16 = 0x20;
    /// The BINARY column flag (binary strings and `*_bin` collations).
    pub const BINARY_FLAG: u16 = collation::BINARY_FLAG;
}

/// One row in text protocol form: each value is its text bytes, `None` for SQL NULL.
pub type Row = Vec<Option<Vec<u8>>>;

/// One ORDER BY item: a result column (possibly a hidden one) and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// Index of the result column.
    pub column: usize,
    /// DESC: largest first and NULL last (ascending puts NULL first).
    pub descending: bool,
}

/// How a column of partial aggregates combines across shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// COUNT partials are summed (a NULL partial counts as 0).
    Count,
    /// SUM partials are added: exactly for integer/DECIMAL columns (the result keeps the largest scale), as `f64`
    /// for FLOAT/DOUBLE columns; NULL when every partial is NULL.
    Sum,
    /// The smallest non-NULL partial in the column's order (NULL when all are NULL).
    Min,
    /// The largest non-NULL partial in the column's order (NULL when all are NULL).
    Max,
}

/// A column holding partial aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregate {
    /// Index of the result column.
    pub column: usize,
    /// How its partials combine.
    pub kind: AggregateKind,
}

/// AVG(x) is sent to shards as SUM(x) and COUNT(x); the merged AVG = sum/count (NULL when count is 0), written into
/// `output` column with `decimals` digits after the point (MySQL: integer/decimal AVG has scale of the argument + 4;
/// DOUBLE stays double).
///
/// The `sum` and `count` columns are combined as [`AggregateKind::Sum`] and [`AggregateKind::Count`] whether or not
/// they are also listed in [`MergeSpec::aggregates`]. `output` may be the `sum` column itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Average {
    /// Column of the SUM(x) partials.
    pub sum: usize,
    /// Column of the COUNT(x) partials.
    pub count: usize,
    /// Column that receives the average.
    pub output: usize,
    /// Digits after the point: the argument's scale + 4 for integer/DECIMAL; for DOUBLE, 31 prints the shortest
    /// form and less prints exactly that many digits.
    pub decimals: u8,
    /// The argument is FLOAT/DOUBLE: divide as `f64` instead of exactly.
    pub is_double: bool,
}

/// A comparison operator in HAVING.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `<=>`: equality that treats NULL as a value (never unknown).
    NullSafeEq,
}

/// A HAVING condition over merged rows; a row is kept when the condition is TRUE (not FALSE, not unknown).
#[derive(Debug, Clone, PartialEq)]
pub enum HavingExpr {
    /// `column op value`; unknown when either side is NULL (except [`CompareOp::NullSafeEq`]).
    Compare {
        /// Index of the result column.
        column: usize,
        /// The operator.
        op: CompareOp,
        /// The literal on the right-hand side.
        value: SqlValue<'static>,
    },
    /// Both hold.
    And(Box<HavingExpr>, Box<HavingExpr>),
    /// Either holds.
    Or(Box<HavingExpr>, Box<HavingExpr>),
    /// The negation (unknown stays unknown).
    Not(Box<HavingExpr>),
    /// `column IS NULL`, or `IS NOT NULL` when `negated`.
    IsNull {
        /// Index of the result column.
        column: usize,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

/// How to merge the shards' results of one rewritten SELECT. Column indices refer to the shards' result columns,
/// hidden helper columns included.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSpec {
    /// Group key columns (compared in their collation; a group with equal keys from several shards is one group).
    pub group_by: Vec<usize>,
    /// Partial aggregate columns to combine within a group (or over all rows when `group_by` is empty and
    /// `aggregate_all` is set).
    pub aggregates: Vec<Aggregate>,
    /// SELECT with aggregates and no GROUP BY: always exactly one output row (even if every shard returned its one
    /// row; COUNT 0 / SUM NULL).
    pub aggregate_all: bool,
    /// AVG columns computed from combined SUM and COUNT columns.
    pub averages: Vec<Average>,
    /// Evaluated on merged groups (after averages).
    pub having: Option<HavingExpr>,
    /// Remove duplicate rows (over the visible columns, compared by collation), keeping the first seen.
    pub distinct: bool,
    /// Final order; shard streams arrive sorted by this when `shards_sorted` is true.
    pub order_by: Vec<SortKey>,
    /// Each shard's rows are already in `order_by` order: use a k-way merge (binary heap), don't re-sort.
    pub shards_sorted: bool,
    /// Rows to skip, applied after everything else (shards were asked for `offset + limit` rows).
    pub offset: u64,
    /// Rows to return at most, applied after everything else.
    pub limit: Option<u64>,
    /// The output keeps only the first N columns (the rest are hidden helper columns the rewrite added).
    pub visible_columns: usize,
}

impl MergeSpec {
    /// A spec that concatenates the shards' rows unchanged, with `visible_columns` columns shown.
    pub fn new(visible_columns: usize) -> MergeSpec {
        MergeSpec {
            group_by: Vec::new(),
            aggregates: Vec::new(),
            aggregate_all: false,
            averages: Vec::new(),
            having: None,
            distinct: false,
            order_by: Vec::new(),
            shards_sorted: false,
            offset: 0,
            limit: None,
            visible_columns,
        }
    }

    fn is_grouped(&self) -> bool {
        !self.group_by.is_empty() || self.aggregate_all
    }
}

/// Why shard results could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A shard returned a row with a different number of columns than the result has.
    #[error("shard {shard} row {row} has {found} columns but the result has {expected}")]
    RowWidth {
        /// Index of the shard in the input.
        shard: usize,
        /// Index of the row within the shard.
        row: usize,
        /// The number of result columns.
        expected: usize,
        /// The row's number of values.
        found: usize,
    },
    /// The spec names a column the result does not have.
    #[error("the merge spec names column {column} for {role}, but the result has {columns} columns")]
    ColumnOutOfRange {
        /// What the column was named for (GROUP BY, ORDER BY, …).
        role: &'static str,
        /// The column index named.
        column: usize,
        /// The number of result columns.
        columns: usize,
    },
    /// The spec is inconsistent (e.g. aggregates without GROUP BY or `aggregate_all`).
    #[error("invalid merge spec: {0}")]
    InvalidSpec(&'static str),
    /// A partial aggregate is not a number.
    #[error("column {column}: {aggregate} partial {value:?} is not a number")]
    NotANumber {
        /// The column index.
        column: usize,
        /// The value as text (lossy).
        value: String,
        /// The aggregate that needed a number.
        aggregate: &'static str,
    },
    /// A combined floating-point aggregate overflowed.
    #[error("column {column}: the combined DOUBLE value is out of range")]
    OutOfRange {
        /// The column index.
        column: usize,
    },
}

/// Merges the text-protocol result sets that `shards` returned for the same (rewritten) SELECT into the rows one
/// server would return, as `spec` describes: group and combine aggregates, AVG, HAVING, DISTINCT, ORDER BY,
/// OFFSET/LIMIT, and finally drop the hidden columns.
///
/// Fails when a row has the wrong number of columns, the spec names a missing column or is inconsistent, or a
/// partial aggregate is not a number.
pub fn merge(columns: &[ColumnInfo], shards: Vec<Vec<Row>>, spec: &MergeSpec) -> Result<Vec<Row>, MergeError> {
    let aggregates = validate_spec(columns.len(), spec)?;
    validate_rows(columns.len(), &shards)?;
    let grouped = spec.is_grouped();
    let visible = spec.visible_columns;

    if !grouped && !spec.distinct && spec.having.is_none() && spec.shards_sorted && !spec.order_by.is_empty() {
        let merged = KWayMerge::new_validated(columns, shards, &spec.order_by, spec.offset, spec.limit);
        return Ok(merged.map(|row| truncated(row, visible)).collect());
    }

    let mut rows: Vec<Row> = Vec::with_capacity(shards.iter().map(Vec::len).sum());
    for shard in shards {
        rows.extend(shard);
    }
    if grouped {
        rows = aggregate::group(columns, rows, &spec.group_by, &aggregates)?;
        aggregate::apply_averages(&mut rows, &spec.averages)?;
    }
    if let Some(expr) = &spec.having {
        rows.retain(|row| having::evaluate(expr, columns, row) == having::Truth::True);
    }
    if spec.distinct {
        rows = distinct::distinct(columns, rows, visible);
    }
    if !spec.order_by.is_empty() {
        let order = compare::RowOrder::by_keys(columns, &spec.order_by);
        rows.sort_by(|a, b| order.compare(a, b));
    }
    let start = usize::try_from(spec.offset).unwrap_or(usize::MAX).min(rows.len());
    rows.drain(..start);
    if let Some(limit) = spec.limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(rows.into_iter().map(|row| truncated(row, visible)).collect())
}

fn truncated(mut row: Row, visible: usize) -> Row {
    row.truncate(visible);
    row
}

/// Checks that every row of every shard has `width` values.
pub(crate) fn validate_rows(width: usize, shards: &[Vec<Row>]) -> Result<(), MergeError> {
    for (shard, rows) in shards.iter().enumerate() {
        if let Some((row, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
            return Err(MergeError::RowWidth {
                shard,
                row,
                expected: width,
                found: r.len(),
            });
        }
    }
    Ok(())
}

/// Checks the spec against the result width and returns the aggregates to combine: the listed ones plus each
/// average's SUM and COUNT columns.
fn validate_spec(width: usize, spec: &MergeSpec) -> Result<Vec<Aggregate>, MergeError> {
    let check = |role: &'static str, column: usize| {
        if column < width {
            Ok(())
        } else {
            Err(MergeError::ColumnOutOfRange {
                role,
                column,
                columns: width,
            })
        }
    };
    if spec.visible_columns == 0 || spec.visible_columns > width {
        return Err(MergeError::InvalidSpec(
            "visible_columns must be between 1 and the number of result columns",
        ));
    }
    for &c in &spec.group_by {
        check("GROUP BY", c)?;
    }
    for k in &spec.order_by {
        check("ORDER BY", k.column)?;
    }
    let mut aggregates: Vec<Aggregate> = Vec::with_capacity(spec.aggregates.len() + 2 * spec.averages.len());
    let implied = spec.averages.iter().flat_map(|a| {
        [
            Aggregate {
                column: a.sum,
                kind: AggregateKind::Sum,
            },
            Aggregate {
                column: a.count,
                kind: AggregateKind::Count,
            },
        ]
    });
    for a in spec.aggregates.iter().copied().chain(implied) {
        check("an aggregate", a.column)?;
        if spec.group_by.contains(&a.column) {
            return Err(MergeError::InvalidSpec(
                "a column cannot be both a group key and an aggregate",
            ));
        }
        match aggregates.iter().find(|b| b.column == a.column) {
            Some(b) if b.kind != a.kind => {
                return Err(MergeError::InvalidSpec(
                    "a column is combined as two different aggregates",
                ))
            }
            Some(_) => {}
            None => aggregates.push(a),
        }
    }
    for a in &spec.averages {
        check("AVG output", a.output)?;
    }
    if !spec.is_grouped() && !aggregates.is_empty() {
        return Err(MergeError::InvalidSpec(
            "aggregates or averages need group_by or aggregate_all",
        ));
    }
    if let Some(expr) = &spec.having {
        check_having(expr, &check)?;
    }
    Ok(aggregates)
}

fn check_having(
    expr: &HavingExpr,
    check: &impl Fn(&'static str, usize) -> Result<(), MergeError>,
) -> Result<(), MergeError> {
    match expr {
        HavingExpr::Compare { column, .. } | HavingExpr::IsNull { column, .. } => check("HAVING", *column),
        HavingExpr::And(a, b) | HavingExpr::Or(a, b) => {
            check_having(a, check)?;
            check_having(b, check)
        }
        HavingExpr::Not(a) => check_having(a, check),
    }
}

#[cfg(test)]
mod tests {
    use super::test_columns::{DOUBLE, LONG, LONGLONG, NEWDECIMAL, VARCHAR};
    use super::*;
    use std::borrow::Cow;

    fn row(values: &[Option<&str>]) -> Row {
        values.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()
    }

    fn rows(values: &[&[Option<&str>]]) -> Vec<Row> {
        values.iter().map(|r| row(r)).collect()
    }

    fn text(rows: &[Row]) -> Vec<Vec<Option<&str>>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.as_deref().map(|b| std::str::from_utf8(b).unwrap()))
                    .collect()
            })
            .collect()
    }

    fn asc(column: usize) -> SortKey {
        SortKey {
            column,
            descending: false,
        }
    }

    fn desc(column: usize) -> SortKey {
        SortKey {
            column,
            descending: true,
        }
    }

    #[test]
    fn concatenates_without_order() {
        let shards = vec![rows(&[&[Some("1")], &[Some("2")]]), vec![], rows(&[&[Some("3")]])];
        let out = merge(&[LONG], shards, &MergeSpec::new(1)).unwrap();
        assert_eq!(text(&out), vec![vec![Some("1")], vec![Some("2")], vec![Some("3")]]);
    }

    #[test]
    fn order_by_with_limit_sorted_and_unsorted_agree() {
        let shards = vec![
            rows(&[&[Some("5"), Some("x")], &[Some("1"), Some("y")]]),
            rows(&[&[None, Some("z")], &[Some("3"), Some("w")], &[Some("-2"), Some("v")]]),
        ];
        let spec = MergeSpec {
            order_by: vec![desc(0)],
            offset: 1,
            limit: Some(3),
            ..MergeSpec::new(2)
        };
        let unsorted = merge(&[LONG, VARCHAR], shards.clone(), &spec).unwrap();
        assert_eq!(
            text(&unsorted),
            vec![
                vec![Some("3"), Some("w")],
                vec![Some("1"), Some("y")],
                vec![Some("-2"), Some("v")]
            ]
        );
        let mut sorted_shards = shards;
        let order = compare::RowOrder::by_keys(&[LONG, VARCHAR], &spec.order_by);
        for s in &mut sorted_shards {
            s.sort_by(|a, b| order.compare(a, b));
        }
        let sorted = merge(
            &[LONG, VARCHAR],
            sorted_shards,
            &MergeSpec {
                shards_sorted: true,
                ..spec
            },
        )
        .unwrap();
        assert_eq!(sorted, unsorted);
    }

    #[test]
    fn null_first_ascending_last_descending() {
        let shards = vec![rows(&[&[Some("2")], &[None]]), rows(&[&[Some("-1")]])];
        let up = merge(
            &[LONG],
            shards.clone(),
            &MergeSpec {
                order_by: vec![asc(0)],
                ..MergeSpec::new(1)
            },
        )
        .unwrap();
        assert_eq!(text(&up), vec![vec![None], vec![Some("-1")], vec![Some("2")]]);
        let down = merge(
            &[LONG],
            shards,
            &MergeSpec {
                order_by: vec![desc(0)],
                ..MergeSpec::new(1)
            },
        )
        .unwrap();
        assert_eq!(text(&down), vec![vec![Some("2")], vec![Some("-1")], vec![None]]);
    }

    #[test]
    fn hidden_sort_column_is_dropped_last() {
        // SELECT name FROM t ORDER BY id: the rewrite added `id` as hidden column 1.
        let shards = vec![
            rows(&[&[Some("b"), Some("2")], &[Some("d"), Some("10")]]),
            rows(&[&[Some("a"), Some("1")], &[Some("c"), Some("3")]]),
        ];
        let spec = MergeSpec {
            order_by: vec![asc(1)],
            shards_sorted: true,
            limit: Some(3),
            ..MergeSpec::new(1)
        };
        let out = merge(&[VARCHAR, LONG], shards, &spec).unwrap();
        assert_eq!(text(&out), vec![vec![Some("a")], vec![Some("b")], vec![Some("c")]]);
    }

    #[test]
    fn offset_beyond_the_end() {
        let shards = vec![rows(&[&[Some("1")]]), rows(&[&[Some("2")]])];
        for shards_sorted in [false, true] {
            let spec = MergeSpec {
                order_by: vec![asc(0)],
                shards_sorted,
                offset: 5,
                limit: Some(2),
                ..MergeSpec::new(1)
            };
            assert!(merge(&[LONG], shards.clone(), &spec).unwrap().is_empty());
        }
        let spec = MergeSpec {
            offset: 2,
            ..MergeSpec::new(1)
        };
        assert!(merge(&[LONG], shards, &spec).unwrap().is_empty());
    }

    #[test]
    fn group_by_merges_groups_from_several_shards_sorted_by_key() {
        // SELECT name, COUNT(*), SUM(amount), MIN(amount), MAX(amount) FROM t GROUP BY name
        let columns = [VARCHAR, LONGLONG, NEWDECIMAL, LONG, LONG];
        let shards = vec![
            rows(&[
                &[Some("bob"), Some("2"), Some("30"), Some("10"), Some("20")],
                &[Some("Carol"), Some("1"), None, None, None],
            ]),
            rows(&[
                &[Some("alice"), Some("1"), Some("-5"), Some("-5"), Some("-5")],
                &[Some("BOB "), Some("3"), Some("7"), Some("-1"), Some("5")],
            ]),
            vec![],
        ];
        let spec = MergeSpec {
            group_by: vec![0],
            aggregates: vec![
                Aggregate {
                    column: 1,
                    kind: AggregateKind::Count,
                },
                Aggregate {
                    column: 2,
                    kind: AggregateKind::Sum,
                },
                Aggregate {
                    column: 3,
                    kind: AggregateKind::Min,
                },
                Aggregate {
                    column: 4,
                    kind: AggregateKind::Max,
                },
            ],
            ..MergeSpec::new(5)
        };
        let out = merge(&columns, shards, &spec).unwrap();
        assert_eq!(
            text(&out),
            vec![
                vec![Some("alice"), Some("1"), Some("-5"), Some("-5"), Some("-5")],
                vec![Some("bob"), Some("5"), Some("37"), Some("-1"), Some("20")],
                vec![Some("Carol"), Some("1"), None, None, None],
            ]
        );
    }

    #[test]
    fn avg_having_order_limit_together() {
        // SELECT dept, AVG(salary) a FROM emp GROUP BY dept HAVING a > 100 ORDER BY a DESC LIMIT 2
        // rewritten as SELECT dept, SUM(salary), COUNT(salary) …; AVG lands in column 1.
        let columns = [VARCHAR, NEWDECIMAL, LONGLONG];
        let shards = vec![
            rows(&[
                &[Some("eng"), Some("300"), Some("2")],
                &[Some("ops"), Some("100"), Some("1")],
            ]),
            rows(&[
                &[Some("eng"), Some("101"), Some("1")],
                &[Some("hr"), Some("500"), Some("4")],
                &[Some("ops"), Some("150"), Some("1")],
                &[Some("qa"), None, Some("0")],
            ]),
        ];
        let spec = MergeSpec {
            group_by: vec![0],
            averages: vec![Average {
                sum: 1,
                count: 2,
                output: 1,
                decimals: 4,
                is_double: false,
            }],
            having: Some(HavingExpr::Compare {
                column: 1,
                op: CompareOp::Gt,
                value: SqlValue::Int(100),
            }),
            order_by: vec![desc(1)],
            limit: Some(2),
            ..MergeSpec::new(2)
        };
        let out = merge(&columns, shards, &spec).unwrap();
        // eng 401/3 = 133.6667, hr 125.0000, ops 125.0000, qa NULL (dropped by HAVING).
        assert_eq!(
            text(&out),
            vec![vec![Some("eng"), Some("133.6667")], vec![Some("hr"), Some("125.0000")]]
        );
    }

    #[test]
    fn aggregate_all_returns_exactly_one_row() {
        // SELECT COUNT(*), SUM(x), AVG(x) FROM t  →  COUNT(*), SUM(x), SUM(x), COUNT(x)
        let columns = [LONGLONG, NEWDECIMAL, NEWDECIMAL, LONGLONG];
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
            ],
            averages: vec![Average {
                sum: 2,
                count: 3,
                output: 2,
                decimals: 4,
                is_double: false,
            }],
            ..MergeSpec::new(3)
        };
        let empty = vec![
            rows(&[&[Some("0"), None, None, Some("0")]]),
            rows(&[&[Some("0"), None, None, Some("0")]]),
        ];
        assert_eq!(
            text(&merge(&columns, empty, &spec).unwrap()),
            vec![vec![Some("0"), None, None]]
        );
        assert_eq!(
            text(&merge(&columns, vec![vec![], vec![]], &spec).unwrap()),
            vec![vec![Some("0"), None, None]]
        );
        let some = vec![
            rows(&[&[Some("2"), Some("3"), Some("3"), Some("2")]]),
            rows(&[&[Some("1"), Some("4"), Some("4"), Some("1")]]),
            rows(&[&[Some("0"), None, None, Some("0")]]),
        ];
        assert_eq!(
            text(&merge(&columns, some, &spec).unwrap()),
            vec![vec![Some("3"), Some("7"), Some("2.3333")]]
        );
    }

    #[test]
    fn having_can_remove_the_aggregate_all_row() {
        let spec = MergeSpec {
            aggregate_all: true,
            aggregates: vec![Aggregate {
                column: 0,
                kind: AggregateKind::Count,
            }],
            having: Some(HavingExpr::Compare {
                column: 0,
                op: CompareOp::Gt,
                value: SqlValue::Int(5),
            }),
            ..MergeSpec::new(1)
        };
        let shards = vec![rows(&[&[Some("2")]]), rows(&[&[Some("3")]])];
        assert!(merge(&[LONGLONG], shards, &spec).unwrap().is_empty());
    }

    #[test]
    fn distinct_before_order_and_limit() {
        let shards = vec![
            rows(&[&[Some("b"), Some("9")], &[Some("a"), Some("8")]]),
            rows(&[
                &[Some("A"), Some("1")],
                &[Some("c"), Some("2")],
                &[Some("B "), Some("3")],
            ]),
        ];
        // SELECT DISTINCT name FROM t ORDER BY name LIMIT 2 (column 1 hidden).
        let spec = MergeSpec {
            distinct: true,
            order_by: vec![asc(0)],
            limit: Some(2),
            ..MergeSpec::new(1)
        };
        let out = merge(&[VARCHAR, LONG], shards.clone(), &spec).unwrap();
        assert_eq!(text(&out), vec![vec![Some("a")], vec![Some("b")]]);
        let spec = MergeSpec {
            distinct: true,
            offset: 2,
            ..MergeSpec::new(1)
        };
        assert_eq!(
            text(&merge(&[VARCHAR, LONG], shards, &spec).unwrap()),
            vec![vec![Some("c")]]
        );
    }

    #[test]
    fn group_by_hidden_key_column() {
        // SELECT COUNT(*) FROM t GROUP BY k, with k added as hidden column 1.
        let shards = vec![
            rows(&[&[Some("2"), Some("x")], &[Some("1"), Some("y")]]),
            rows(&[&[Some("4"), Some("X")]]),
        ];
        let spec = MergeSpec {
            group_by: vec![1],
            aggregates: vec![Aggregate {
                column: 0,
                kind: AggregateKind::Count,
            }],
            ..MergeSpec::new(1)
        };
        let out = merge(&[LONGLONG, VARCHAR], shards, &spec).unwrap();
        assert_eq!(text(&out), vec![vec![Some("6")], vec![Some("1")]]);
    }

    #[test]
    fn double_sum_and_avg() {
        let columns = [DOUBLE, LONGLONG];
        let spec = MergeSpec {
            aggregate_all: true,
            averages: vec![Average {
                sum: 0,
                count: 1,
                output: 0,
                decimals: 31,
                is_double: true,
            }],
            ..MergeSpec::new(1)
        };
        let shards = vec![rows(&[&[Some("0.5"), Some("1")]]), rows(&[&[Some("2.5"), Some("1")]])];
        assert_eq!(text(&merge(&columns, shards, &spec).unwrap()), vec![vec![Some("1.5")]]);
    }

    #[test]
    fn rejects_bad_specs_and_rows() {
        let shards = || vec![rows(&[&[Some("1"), Some("2")]])];
        let cols = [LONG, LONG];
        let bad = |spec: MergeSpec| merge(&cols, shards(), &spec).unwrap_err();
        assert!(matches!(bad(MergeSpec::new(0)), MergeError::InvalidSpec(_)));
        assert!(matches!(bad(MergeSpec::new(3)), MergeError::InvalidSpec(_)));
        assert_eq!(
            bad(MergeSpec {
                order_by: vec![asc(2)],
                ..MergeSpec::new(2)
            }),
            MergeError::ColumnOutOfRange {
                role: "ORDER BY",
                column: 2,
                columns: 2
            }
        );
        assert!(matches!(
            bad(MergeSpec {
                group_by: vec![5],
                ..MergeSpec::new(2)
            }),
            MergeError::ColumnOutOfRange { .. }
        ));
        let count = Aggregate {
            column: 1,
            kind: AggregateKind::Count,
        };
        assert!(matches!(
            bad(MergeSpec {
                aggregates: vec![count],
                ..MergeSpec::new(2)
            }),
            MergeError::InvalidSpec(_)
        ));
        let both = MergeSpec {
            group_by: vec![1],
            aggregates: vec![count],
            ..MergeSpec::new(2)
        };
        assert!(matches!(bad(both), MergeError::InvalidSpec(_)));
        let clash = MergeSpec {
            aggregate_all: true,
            aggregates: vec![
                count,
                Aggregate {
                    column: 1,
                    kind: AggregateKind::Sum,
                },
            ],
            ..MergeSpec::new(2)
        };
        assert!(matches!(bad(clash), MergeError::InvalidSpec(_)));
        let having = MergeSpec {
            having: Some(HavingExpr::Not(Box::new(HavingExpr::IsNull {
                column: 9,
                negated: false,
            }))),
            ..MergeSpec::new(2)
        };
        assert!(matches!(
            bad(having),
            MergeError::ColumnOutOfRange {
                role: "HAVING",
                column: 9,
                ..
            }
        ));
        let err = merge(&cols, vec![vec![], rows(&[&[Some("1")]])], &MergeSpec::new(2)).unwrap_err();
        assert_eq!(
            err,
            MergeError::RowWidth {
                shard: 1,
                row: 0,
                expected: 2,
                found: 1
            }
        );
        assert!(err.to_string().contains("shard 1 row 0 has 1 columns"));
    }

    #[test]
    fn having_without_group_by_filters_rows() {
        let spec = MergeSpec {
            having: Some(HavingExpr::Compare {
                column: 0,
                op: CompareOp::Eq,
                value: SqlValue::Bytes(Cow::Borrowed(b"A")),
            }),
            ..MergeSpec::new(1)
        };
        let shards = vec![rows(&[&[Some("a")], &[Some("b")]]), rows(&[&[Some("A ")]])];
        assert_eq!(
            text(&merge(&[VARCHAR], shards, &spec).unwrap()),
            vec![vec![Some("a")], vec![Some("A ")]]
        );
    }
}
