//! Ordering of text-protocol values by their column's type: numbers as numbers, TIME as a signed duration, strings
//! by collation, everything else by bytes; NULL lowest.

use std::cmp::Ordering;

use super::collation::Collation;
use super::{decimal, ColumnInfo, Row, SortKey};

/// How the values of one column compare (decided once per column, used for every comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueOrder {
    /// Integers and DECIMAL: exact decimal comparison of the text (any length; UNSIGNED needs nothing special
    /// because the text carries no sign).
    Exact,
    /// FLOAT and DOUBLE: as `f64`.
    Float,
    /// TIME: `[-]H+:MM:SS[.f]` as a signed duration (`-01:00:00 < 00:00:00 < 838:59:59`).
    Time,
    /// DATE, DATETIME, TIMESTAMP, BIT, GEOMETRY and unknown types: bytewise (fixed-width temporal text sorts
    /// chronologically).
    Bytes,
    /// Strings, BLOBs, JSON, ENUM, SET: by collation.
    Text(Collation),
}

impl ValueOrder {
    /// The order of a column's values, from its MySQL type code, flags and collation.
    pub(crate) fn of(col: &ColumnInfo) -> ValueOrder {
        match col.column_type {
            // DECIMAL, TINY, SHORT, LONG, LONGLONG, INT24, YEAR, NEWDECIMAL.
            0x00 | 0x01 | 0x02 | 0x03 | 0x08 | 0x09 | 0x0d | 0xf6 => ValueOrder::Exact,
            // FLOAT, DOUBLE.
            0x04 | 0x05 => ValueOrder::Float,
            // TIME, TIME2.
            0x0b | 0x13 => ValueOrder::Time,
            // VARCHAR, JSON, ENUM, SET, TINY/MEDIUM/LONG BLOB, BLOB, VAR_STRING, STRING.
            0x0f | 0xf5 | 0xf7 | 0xf8 | 0xf9 | 0xfa | 0xfb | 0xfc | 0xfd | 0xfe => {
                ValueOrder::Text(Collation::of(col.collation, col.flags))
            }
            // TIMESTAMP, DATE, DATETIME, NEWDATE, TIMESTAMP2, DATETIME2, BIT, GEOMETRY, NULL and the unknown.
            _ => ValueOrder::Bytes,
        }
    }

    /// Compares two values of the column; NULL is lower than every value and equal to NULL.
    pub(crate) fn compare(self, a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => self.compare_present(a, b),
        }
    }

    /// Compares two non-NULL values. Text that does not parse as the column's type (never sent by a server) falls
    /// back to a looser reading and finally to bytes, so the order is total.
    pub(crate) fn compare_present(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            ValueOrder::Exact => decimal::compare_text(a, b)
                .or_else(|| compare_f64(a, b))
                .unwrap_or_else(|| a.cmp(b)),
            ValueOrder::Float => compare_f64(a, b)
                .or_else(|| decimal::compare_text(a, b))
                .unwrap_or_else(|| a.cmp(b)),
            ValueOrder::Time => match (parse_time(a), parse_time(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.cmp(b),
            },
            ValueOrder::Bytes => a.cmp(b),
            ValueOrder::Text(collation) => collation.compare(a, b),
        }
    }
}

/// Compares two values of column `col` as MariaDB orders them: numbers numerically (exactly for integers and
/// DECIMAL), TIME as a signed duration, DATE/DATETIME/TIMESTAMP bytewise, strings by the column's collation
/// (see the `collation` module for the collations understood and the approximations), BIT and unknown types
/// bytewise. `None` (SQL NULL) sorts first: it is lower than every value and equal to itself.
///
/// For many comparisons on one column, the merge decides the comparison once per column instead of per call.
pub fn compare_values(col: &ColumnInfo, a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    ValueOrder::of(col).compare(a, b)
}

/// Parses both as `f64` and compares them (`None` if either does not parse).
fn compare_f64(a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (x, y) = (parse_f64(a)?, parse_f64(b)?);
    Some(x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y)))
}

/// Parses text that is entirely a floating-point number.
pub(crate) fn parse_f64(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parses a TIME value `[-]H+:MM:SS[.fraction]` into signed nanoseconds.
pub(crate) fn parse_time(text: &[u8]) -> Option<i128> {
    let (negative, rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (clock, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(dot) => (&rest[..dot], &rest[dot + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let mut fields = clock.split(|&c| c == b':');
    let number = |s: &[u8]| -> Option<i128> {
        if s.is_empty() || s.len() > 30 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(s.iter().fold(0i128, |n, &d| n * 10 + i128::from(d - b'0')))
    };
    let hours = number(fields.next()?)?;
    let minutes = number(fields.next()?)?;
    let seconds = number(fields.next()?)?;
    if fields.next().is_some() || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let nanos = (0..9).fold(0i128, |n, i| n * 10 + frac.get(i).map_or(0, |&d| i128::from(d - b'0')));
    let total = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + nanos;
    Some(if negative { -total } else { total })
}

/// The comparison of whole rows by a list of sort keys, each ascending or descending.
#[derive(Debug, Clone)]
pub(crate) struct RowOrder {
    keys: Vec<(usize, bool, ValueOrder)>,
}

impl RowOrder {
    /// An ascending order over `columns` (indices into `infos`).
    pub(crate) fn ascending(infos: &[ColumnInfo], columns: impl IntoIterator<Item = usize>) -> RowOrder {
        RowOrder {
            keys: columns
                .into_iter()
                .map(|c| (c, false, ValueOrder::of(&infos[c])))
                .collect(),
        }
    }

    /// The order of an ORDER BY list.
    pub(crate) fn by_keys(infos: &[ColumnInfo], keys: &[SortKey]) -> RowOrder {
        RowOrder {
            keys: keys
                .iter()
                .map(|k| (k.column, k.descending, ValueOrder::of(&infos[k.column])))
                .collect(),
        }
    }

    /// Compares two rows key by key; a descending key reverses its comparison (so NULL sorts last).
    pub(crate) fn compare(&self, a: &Row, b: &Row) -> Ordering {
        for &(col, descending, order) in &self.keys {
            let o = order.compare(a[col].as_deref(), b[col].as_deref());
            if o.is_ne() {
                return if descending { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn col(column_type: u8, flags: u16, collation: u16) -> ColumnInfo {
        ColumnInfo {
            column_type,
            flags,
            collation,
            decimals: 0,
        }
    }

    fn cmp(c: &ColumnInfo, a: &str, b: &str) -> Ordering {
        compare_values(c, Some(a.as_bytes()), Some(b.as_bytes()))
    }

    #[test]
    fn null_is_lowest() {
        for c in [col(3, 0, 63), col(0xfd, 0, 45), col(0x0c, 0, 63), col(5, 0, 63)] {
            assert_eq!(compare_values(&c, None, None), Equal);
            assert_eq!(compare_values(&c, None, Some(b"-99999")), Less);
            assert_eq!(compare_values(&c, Some(b""), None), Greater);
        }
    }

    #[test]
    fn integers_compare_numerically() {
        for t in [1, 2, 3, 8, 9, 13] {
            let c = col(t, 0, 63);
            assert_eq!(cmp(&c, "9", "10"), Less, "type {t}");
            assert_eq!(cmp(&c, "-10", "-9"), Less);
            assert_eq!(cmp(&c, "-1", "0"), Less);
            assert_eq!(cmp(&c, "42", "42"), Equal);
        }
        let unsigned = col(8, ColumnInfo::UNSIGNED_FLAG, 63);
        assert_eq!(cmp(&unsigned, "18446744073709551615", "9223372036854775808"), Greater);
        assert_eq!(cmp(&unsigned, "18446744073709551615", "18446744073709551614"), Greater);
        let long = col(8, 0, 63);
        assert_eq!(cmp(&long, "-9223372036854775808", "9223372036854775807"), Less);
        assert_eq!(cmp(&col(3, 0x40, 63), "00042", "00100"), Less, "ZEROFILL text");
        assert_eq!(cmp(&col(13, 0, 63), "0000", "1999"), Less, "YEAR");
    }

    #[test]
    fn decimals_compare_exactly_across_scales() {
        for t in [0, 0xf6] {
            let c = col(t, 0, 63);
            assert_eq!(cmp(&c, "1.50", "1.5"), Equal);
            assert_eq!(cmp(&c, "1.05", "1.5"), Less);
            assert_eq!(cmp(&c, "-1.5", "-1.05"), Less);
            assert_eq!(cmp(&c, "10.0", "9.99"), Greater);
            assert_eq!(cmp(&c, "0.10000000000000000001", "0.1"), Greater);
            assert_eq!(cmp(&c, "-0.00", "0"), Equal);
        }
    }

    #[test]
    fn doubles_compare_as_f64() {
        let c = col(5, 0, 63);
        assert_eq!(cmp(&c, "1e20", "99999"), Greater);
        assert_eq!(cmp(&c, "-2.5", "1"), Less);
        assert_eq!(cmp(&c, "0.1", "0.10"), Equal);
        assert_eq!(cmp(&c, "-0", "0"), Equal);
        assert_eq!(cmp(&col(4, 0, 63), "3.4e38", "1.5"), Greater);
    }

    #[test]
    fn time_compares_as_signed_duration() {
        let c = col(0x0b, 0, 63);
        assert_eq!(cmp(&c, "-01:00:00", "00:00:00"), Less);
        assert_eq!(cmp(&c, "-01:00:00", "-00:59:59"), Less);
        assert_eq!(cmp(&c, "838:59:59", "23:59:59"), Greater);
        assert_eq!(cmp(&c, "100:00:00", "99:59:59"), Greater, "bytewise would say less");
        assert_eq!(cmp(&c, "10:00:00.5", "10:00:00.25"), Greater);
        assert_eq!(cmp(&c, "10:00:00.500000", "10:00:00.5"), Equal);
        assert_eq!(cmp(&c, "-838:59:59", "-00:00:00.000001"), Less);
    }

    #[test]
    fn dates_compare_bytewise() {
        for t in [7, 10, 12] {
            let c = col(t, 0, 63);
            assert_eq!(cmp(&c, "2023-12-31", "2024-01-01"), Less);
            assert_eq!(cmp(&c, "2024-01-01 10:00:00", "2024-01-01 09:59:59.999999"), Greater);
            assert_eq!(cmp(&c, "0000-00-00", "1000-01-01"), Less);
        }
    }

    #[test]
    fn strings_compare_by_collation() {
        let general = col(0xfd, 0, 45);
        assert_eq!(cmp(&general, "a", "A "), Equal);
        assert_eq!(cmp(&general, "apple", "Banana"), Less);
        let bin = col(0xfd, ColumnInfo::BINARY_FLAG, 46);
        assert_eq!(cmp(&bin, "apple", "Banana"), Greater);
        assert_eq!(cmp(&bin, "a", "a "), Equal);
        let binary = col(0xfc, ColumnInfo::BINARY_FLAG, 63);
        assert_eq!(cmp(&binary, "a", "a "), Less);
        let json = col(0xf5, 0, 45);
        assert_eq!(cmp(&json, "{\"a\": 1}", "{\"A\": 1}"), Equal);
        for t in [0x0f, 0xf9, 0xfa, 0xfb, 0xfc, 0xfe] {
            assert_eq!(cmp(&col(t, 0, 45), "x", "X"), Equal, "type {t}");
        }
    }

    #[test]
    fn bit_and_unknown_compare_bytewise() {
        assert_eq!(cmp(&col(0x10, 0, 63), "\x01", "\x00\x02"), Greater);
        assert_eq!(cmp(&col(0xff, 0, 63), "b", "a"), Greater);
    }

    #[test]
    fn malformed_numbers_still_order_totally() {
        let c = col(0xf6, 0, 63);
        assert_eq!(cmp(&c, "1e3", "999"), Greater, "falls back to f64");
        assert_eq!(cmp(&c, "abc", "abd"), Less, "falls back to bytes");
        assert_eq!(cmp(&col(0x0b, 0, 63), "x", "y"), Less);
    }

    #[test]
    fn parses_time() {
        assert_eq!(parse_time(b"00:00:01"), Some(1_000_000_000));
        assert_eq!(parse_time(b"-00:00:00.000001"), Some(-1_000));
        assert_eq!(
            parse_time(b"838:59:59"),
            Some(((838 * 60 + 59) * 60 + 59) * 1_000_000_000)
        );
        assert_eq!(parse_time(b"1:2"), None);
        assert_eq!(parse_time(b"1:2:3:4"), None);
        assert_eq!(parse_time(b"a:00:00"), None);
    }

    #[test]
    fn row_order_handles_descending_and_ties() {
        let infos = [col(3, 0, 63), col(0xfd, 0, 45)];
        let row = |a: Option<&str>, b: &str| -> Row { vec![a.map(|s| s.as_bytes().to_vec()), Some(b.into())] };
        let order = RowOrder::by_keys(
            &infos,
            &[
                SortKey {
                    column: 0,
                    descending: true,
                },
                SortKey {
                    column: 1,
                    descending: false,
                },
            ],
        );
        assert_eq!(order.compare(&row(Some("2"), "a"), &row(Some("10"), "a")), Greater);
        assert_eq!(
            order.compare(&row(None, "a"), &row(Some("1"), "a")),
            Greater,
            "NULL last when descending"
        );
        assert_eq!(order.compare(&row(Some("1"), "a"), &row(Some("1"), "B")), Less);
        assert_eq!(order.compare(&row(Some("1"), "b"), &row(Some("1"), "B ")), Equal);
        let asc = RowOrder::ascending(&infos, [0]);
        assert_eq!(asc.compare(&row(None, "a"), &row(Some("1"), "a")), Less);
    }
}
