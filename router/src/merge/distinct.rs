//! SELECT DISTINCT across shards: drop rows equal (column by column, in each column's collation) to an earlier one.

use super::compare::RowOrder;
use super::{ColumnInfo, Row};

/// Keeps the first row of each set of equal rows, comparing the first `visible` columns; the kept rows stay in their
/// original order and keep their own bytes (`'a'` survives and `'A '` goes when both are in a general_ci column).
pub(crate) fn distinct(columns: &[ColumnInfo], rows: Vec<Row>, visible: usize) -> Vec<Row> {
    if rows.len() < 2 {
        return rows;
    }
    let order = RowOrder::ascending(columns, 0..visible);
    let mut sorted: Vec<usize> = (0..rows.len()).collect();
    // Stable, so the first index of each run of equal rows is the first seen.
    sorted.sort_by(|&a, &b| order.compare(&rows[a], &rows[b]));
    let mut keep = vec![false; rows.len()];
    keep[sorted[0]] = true;
    for pair in sorted.windows(2) {
        if order.compare(&rows[pair[0]], &rows[pair[1]]).is_ne() {
            keep[pair[1]] = true;
        }
    }
    rows.into_iter()
        .zip(keep)
        .filter_map(|(row, k)| k.then_some(row))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::test_columns::{LONG, VARCHAR};

    fn row(values: &[Option<&str>]) -> Row {
        values.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()
    }

    #[test]
    fn keeps_first_of_each_equal_set_in_order() {
        let rows = vec![
            row(&[Some("b"), Some("1")]),
            row(&[Some("a"), Some("1")]),
            row(&[Some("B "), Some("1")]),
            row(&[Some("A"), Some("01")]),
            row(&[None, Some("1")]),
            row(&[None, Some("1")]),
            row(&[Some("a"), None]),
        ];
        let out = distinct(&[VARCHAR, LONG], rows, 2);
        assert_eq!(
            out,
            vec![
                row(&[Some("b"), Some("1")]),
                row(&[Some("a"), Some("1")]),
                row(&[None, Some("1")]),
                row(&[Some("a"), None])
            ]
        );
    }

    #[test]
    fn compares_only_visible_columns() {
        let rows = vec![row(&[Some("x"), Some("1")]), row(&[Some("X"), Some("2")])];
        assert_eq!(distinct(&[VARCHAR, LONG], rows, 1), vec![row(&[Some("x"), Some("1")])]);
    }

    #[test]
    fn small_inputs_pass_through() {
        assert!(distinct(&[LONG], Vec::new(), 1).is_empty());
        assert_eq!(distinct(&[LONG], vec![row(&[None])], 1), vec![row(&[None])]);
    }
}
