//! The streaming k-way merge of shard results that each arrive sorted: ORDER BY … LIMIT without aggregation.
//!
//! A binary min-heap holds the next row of every shard; each step pops the smallest and refills from the same
//! shard, so producing `n` rows from `k` shards costs `O(n log k)` comparisons and nothing is sorted or copied.
//! Ties go to the lower shard index, which makes the output identical to a stable sort of the shards'
//! concatenation.

use std::cmp::Ordering;

use super::compare::RowOrder;
use super::{validate_rows, ColumnInfo, MergeError, Row, SortKey};

/// A row waiting in the heap, with the shard it came from.
struct Entry {
    row: Row,
    shard: usize,
}

/// Yields the rows of several sorted shard results in merged order, skipping `offset` rows and stopping after
/// `limit` (shards were asked for `offset + limit` rows each).
///
/// Each shard's rows must already be in `keys` order (as the server sorted them for the same ORDER BY); rows with
/// equal keys come out in shard order, shard 0 first. Rows keep all their columns (hidden ones included).
pub struct KWayMerge {
    order: RowOrder,
    sources: Vec<std::vec::IntoIter<Row>>,
    heap: Vec<Entry>,
    to_skip: u64,
    remaining: Option<u64>,
}

impl KWayMerge {
    /// Prepares the merge of `shards` (each sorted by `keys`) over result columns `columns`.
    ///
    /// Fails when a sort key names a column the result does not have or a row has the wrong number of columns.
    pub fn new(
        columns: &[ColumnInfo],
        shards: Vec<Vec<Row>>,
        keys: &[SortKey],
        offset: u64,
        limit: Option<u64>,
    ) -> Result<KWayMerge, MergeError> {
        if let Some(k) = keys.iter().find(|k| k.column >= columns.len()) {
            return Err(MergeError::ColumnOutOfRange {
                role: "ORDER BY",
                column: k.column,
                columns: columns.len(),
            });
        }
        validate_rows(columns.len(), &shards)?;
        Ok(KWayMerge::new_validated(columns, shards, keys, offset, limit))
    }

    /// [`KWayMerge::new`] for input whose sort keys and row widths were already checked.
    pub(crate) fn new_validated(
        columns: &[ColumnInfo],
        shards: Vec<Vec<Row>>,
        keys: &[SortKey],
        offset: u64,
        limit: Option<u64>,
    ) -> KWayMerge {
        let mut sources: Vec<_> = shards.into_iter().map(Vec::into_iter).collect();
        let heap = sources
            .iter_mut()
            .enumerate()
            .filter_map(|(shard, rows)| rows.next().map(|row| Entry { row, shard }))
            .collect();
        let mut merge = KWayMerge {
            order: RowOrder::by_keys(columns, keys),
            sources,
            heap,
            to_skip: offset,
            remaining: limit,
        };
        for i in (0..merge.heap.len() / 2).rev() {
            merge.sift_down(i);
        }
        merge
    }

    /// True when the heap entry `a` comes before `b`.
    fn before(&self, a: usize, b: usize) -> bool {
        let (a, b) = (&self.heap[a], &self.heap[b]);
        self.order.compare(&a.row, &b.row).then(a.shard.cmp(&b.shard)) == Ordering::Less
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (left, right) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if left < self.heap.len() && self.before(left, smallest) {
                smallest = left;
            }
            if right < self.heap.len() && self.before(right, smallest) {
                smallest = right;
            }
            if smallest == i {
                return;
            }
            self.heap.swap(i, smallest);
            i = smallest;
        }
    }

    /// Removes the smallest row and refills the heap from its shard.
    fn pop(&mut self) -> Option<Row> {
        let shard = self.heap.first()?.shard;
        let row = match self.sources[shard].next() {
            Some(next) => std::mem::replace(&mut self.heap[0], Entry { row: next, shard }).row,
            None => {
                let last = self.heap.pop().expect("heap is not empty");
                if self.heap.is_empty() {
                    return Some(last.row);
                }
                std::mem::replace(&mut self.heap[0], last).row
            }
        };
        self.sift_down(0);
        Some(row)
    }

    fn rows_left(&self) -> usize {
        self.heap.len() + self.sources.iter().map(ExactSizeIterator::len).sum::<usize>()
    }
}

impl Iterator for KWayMerge {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.remaining == Some(0) {
            return None;
        }
        while self.to_skip > 0 {
            self.pop()?;
            self.to_skip -= 1;
        }
        let row = self.pop()?;
        if let Some(r) = &mut self.remaining {
            *r -= 1;
        }
        Some(row)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let available = self
            .rows_left()
            .saturating_sub(usize::try_from(self.to_skip).unwrap_or(usize::MAX));
        let n = match self.remaining {
            Some(r) => available.min(usize::try_from(r).unwrap_or(usize::MAX)),
            None => available,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for KWayMerge {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::test_columns::{LONG, VARCHAR};

    fn ints(values: &[i64]) -> Vec<Row> {
        values.iter().map(|v| vec![Some(v.to_string().into_bytes())]).collect()
    }

    fn values(rows: impl Iterator<Item = Row>) -> Vec<i64> {
        rows.map(|r| String::from_utf8(r[0].clone().unwrap()).unwrap().parse().unwrap())
            .collect()
    }

    const ASC: [SortKey; 1] = [SortKey {
        column: 0,
        descending: false,
    }];
    const DESC: [SortKey; 1] = [SortKey {
        column: 0,
        descending: true,
    }];

    #[test]
    fn merges_sorted_shards() {
        let shards = vec![ints(&[1, 4, 9]), ints(&[2, 3, 10, 11]), ints(&[]), ints(&[-5, 5])];
        let merged = KWayMerge::new(&[LONG], shards, &ASC, 0, None).unwrap();
        assert_eq!(merged.len(), 9);
        assert_eq!(values(merged), vec![-5, 1, 2, 3, 4, 5, 9, 10, 11]);
    }

    #[test]
    fn descending_with_offset_and_limit() {
        let shards = vec![ints(&[9, 4, 1]), ints(&[11, 10, 3, 2])];
        let merged = KWayMerge::new(&[LONG], shards, &DESC, 2, Some(3)).unwrap();
        assert_eq!(merged.size_hint(), (3, Some(3)));
        assert_eq!(values(merged), vec![9, 4, 3]);
    }

    #[test]
    fn offset_beyond_the_end_is_empty() {
        let merged = KWayMerge::new(&[LONG], vec![ints(&[1, 2]), ints(&[3])], &ASC, 5, Some(10)).unwrap();
        assert_eq!(merged.len(), 0);
        assert_eq!(values(merged), Vec::<i64>::new());
        let merged = KWayMerge::new(&[LONG], vec![ints(&[1, 2])], &ASC, 0, Some(0)).unwrap();
        assert_eq!(values(merged), Vec::<i64>::new());
        let merged = KWayMerge::new(&[LONG], Vec::new(), &ASC, 0, None).unwrap();
        assert_eq!(values(merged), Vec::<i64>::new());
    }

    #[test]
    fn ties_keep_shard_order() {
        let row = |k: &str, tag: &str| vec![Some(k.as_bytes().to_vec()), Some(tag.as_bytes().to_vec())];
        let shards = vec![
            vec![row("a", "s0-1"), row("b", "s0-2")],
            vec![row("A", "s1-1"), row("B ", "s1-2")],
            vec![row("a ", "s2-1")],
        ];
        let merged: Vec<Row> = KWayMerge::new(&[VARCHAR, VARCHAR], shards, &ASC, 0, None)
            .unwrap()
            .collect();
        let tags: Vec<_> = merged
            .iter()
            .map(|r| String::from_utf8(r[1].clone().unwrap()).unwrap())
            .collect();
        assert_eq!(tags, ["s0-1", "s1-1", "s2-1", "s0-2", "s1-2"]);
    }

    #[test]
    fn equals_sort_then_take() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            seed >> 33
        };
        for _ in 0..200 {
            let k = (next() % 5) as usize;
            let mut shards: Vec<Vec<i64>> = (0..k)
                .map(|_| (0..next() % 8).map(|_| (next() % 20) as i64 - 10).collect())
                .collect();
            for s in &mut shards {
                s.sort();
            }
            let (offset, limit) = (next() % 6, if next() % 3 == 0 { None } else { Some(next() % 10) });
            let mut expected: Vec<i64> = shards.concat();
            expected.sort();
            let expected: Vec<i64> = expected
                .into_iter()
                .skip(offset as usize)
                .take(limit.map_or(usize::MAX, |l| l as usize))
                .collect();
            let rows = shards.iter().map(|s| ints(s)).collect();
            let merged = KWayMerge::new(&[LONG], rows, &ASC, offset, limit).unwrap();
            assert_eq!(merged.len(), expected.len());
            assert_eq!(values(merged), expected);
        }
    }

    #[test]
    fn rejects_bad_input() {
        let err = KWayMerge::new(
            &[LONG],
            vec![ints(&[1])],
            &[SortKey {
                column: 3,
                descending: false,
            }],
            0,
            None,
        );
        assert!(matches!(err, Err(MergeError::ColumnOutOfRange { column: 3, .. })));
        let err = KWayMerge::new(&[LONG, LONG], vec![ints(&[1])], &ASC, 0, None);
        assert!(matches!(
            err,
            Err(MergeError::RowWidth {
                shard: 0,
                row: 0,
                expected: 2,
                found: 1
            })
        ));
    }
}
