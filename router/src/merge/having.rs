//! HAVING on merged rows: comparisons of a column with a literal, AND/OR/NOT and IS [NOT] NULL in SQL's
//! three-valued logic.
//!
//! A column compares with a literal the way MariaDB compares the two types: an integer or DECIMAL column exactly
//! with an integer or decimal literal; as doubles when either side is floating-point or a string meets a number;
//! strings by the column's collation; TIME as a duration; DATE/DATETIME/TIMESTAMP as dates (a date literal equals
//! midnight of that day). NULL on either side makes the comparison unknown (except `<=>`).

use std::cmp::Ordering;

use super::compare::{parse_time, ValueOrder};
use super::{decimal, ColumnInfo, CompareOp, HavingExpr, Row};
use crate::value::SqlValue;

/// The value of a condition in SQL's three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// Evaluates `expr` on one merged row; the row is kept only when the result is [`Truth::True`].
pub(crate) fn evaluate(expr: &HavingExpr, columns: &[ColumnInfo], row: &Row) -> Truth {
    match expr {
        HavingExpr::Compare { column, op, value } => compare(&columns[*column], row[*column].as_deref(), *op, value),
        HavingExpr::IsNull { column, negated } => Truth::from_bool(row[*column].is_none() != *negated),
        HavingExpr::Not(inner) => match evaluate(inner, columns, row) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
        },
        HavingExpr::And(a, b) => match (evaluate(a, columns, row), evaluate(b, columns, row)) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Unknown,
        },
        HavingExpr::Or(a, b) => match (evaluate(a, columns, row), evaluate(b, columns, row)) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::Unknown,
        },
    }
}

fn compare(col: &ColumnInfo, cell: Option<&[u8]>, op: CompareOp, value: &SqlValue<'static>) -> Truth {
    let ordering = match (cell, value) {
        (None, SqlValue::Null) if op == CompareOp::NullSafeEq => return Truth::True,
        (None, _) | (_, SqlValue::Null) if op == CompareOp::NullSafeEq => return Truth::False,
        (None, _) | (_, SqlValue::Null) => return Truth::Unknown,
        (Some(cell), value) => compare_with_literal(col, cell, value),
    };
    Truth::from_bool(match op {
        CompareOp::Eq | CompareOp::NullSafeEq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::LtEq => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::GtEq => ordering != Ordering::Less,
    })
}

/// Compares a non-NULL cell of `col` with a non-NULL literal.
fn compare_with_literal(col: &ColumnInfo, cell: &[u8], value: &SqlValue<'static>) -> Ordering {
    let order = ValueOrder::of(col);
    let as_doubles = || f64_cmp(lenient_f64(cell), literal_f64(value));
    match (order, value) {
        (ValueOrder::Exact, SqlValue::Int(_) | SqlValue::UInt(_) | SqlValue::Decimal(_)) => {
            let text = match value {
                SqlValue::Int(i) => i.to_string(),
                SqlValue::UInt(u) => u.to_string(),
                SqlValue::Decimal(d) => d.to_string(),
                _ => unreachable!("matched above"),
            };
            decimal::compare_text(cell, text.as_bytes()).unwrap_or_else(as_doubles)
        }
        (ValueOrder::Text(collation), SqlValue::Bytes(b)) => collation.compare(cell, b),
        (ValueOrder::Time, SqlValue::Bytes(b)) => match (parse_time(cell), parse_time(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => cell.cmp(b),
        },
        (ValueOrder::Bytes, SqlValue::Bytes(b)) if is_temporal(col.column_type) => {
            match (parse_datetime(cell), parse_datetime(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => cell.cmp(b),
            }
        }
        (ValueOrder::Bytes, SqlValue::Bytes(b)) => cell.cmp(b),
        // A float on either side, or a string meeting a number: MariaDB compares as doubles.
        _ => as_doubles(),
    }
}

fn f64_cmp(x: f64, y: f64) -> Ordering {
    x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y))
}

/// The literal as a double (strings read leniently, like MariaDB's string-to-number conversion).
fn literal_f64(value: &SqlValue<'static>) -> f64 {
    match value {
        SqlValue::Null => 0.0,
        SqlValue::Int(i) => *i as f64,
        SqlValue::UInt(u) => *u as f64,
        SqlValue::Decimal(d) => lenient_f64(d.as_bytes()),
        SqlValue::Float(f) => *f,
        SqlValue::Bytes(b) => lenient_f64(b),
    }
}

/// MariaDB's reading of a string as a number: leading spaces skipped, the longest numeric prefix
/// (`[+-]digits[.digits][e[+-]digits]`) used, `0` when there is none (`'12abc'` is 12, `'abc'` is 0).
fn lenient_f64(text: &[u8]) -> f64 {
    let start = text.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(text.len());
    let s = &text[start..];
    let digits_from = |mut i: usize| {
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut end = if matches!(s.first(), Some(b'+' | b'-')) { 1 } else { 0 };
    let int_end = digits_from(end);
    let mut mantissa_digits = int_end - end;
    end = int_end;
    if s.get(end) == Some(&b'.') {
        let frac_end = digits_from(end + 1);
        mantissa_digits += frac_end - end - 1;
        end = frac_end;
    }
    if mantissa_digits == 0 {
        return 0.0;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(s.get(end + 1), Some(b'+' | b'-')));
        let exp_end = digits_from(end + 1 + sign);
        if exp_end > end + 1 + sign {
            end = exp_end;
        }
    }
    std::str::from_utf8(&s[..end])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

/// DATE, DATETIME, TIMESTAMP and NEWDATE (and their `2` forms).
fn is_temporal(column_type: u8) -> bool {
    matches!(column_type, 0x07 | 0x0a | 0x0c | 0x0e | 0x11 | 0x12)
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.fraction]]` into comparable fields (missing time fields are zero).
fn parse_datetime(text: &[u8]) -> Option<[u64; 7]> {
    let s = std::str::from_utf8(text).ok()?.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let number = |t: &str| -> Option<u64> {
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let mut fields = [0u64; 7];
    let mut date_parts = date.split('-');
    for field in fields.iter_mut().take(3) {
        *field = number(date_parts.next()?)?;
    }
    if date_parts.next().is_some() {
        return None;
    }
    if let Some(time) = time {
        let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut clock_parts = clock.split(':');
        for field in fields.iter_mut().skip(3).take(3) {
            *field = number(clock_parts.next()?)?;
        }
        if clock_parts.next().is_some() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        fields[6] = (0..9).fold(0, |n, i| {
            n * 10 + frac.as_bytes().get(i).map_or(0, |&d| u64::from(d - b'0'))
        });
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn col(column_type: u8, collation: u16) -> ColumnInfo {
        ColumnInfo {
            column_type,
            flags: 0,
            collation,
            decimals: 0,
        }
    }

    fn cmp(column: usize, op: CompareOp, value: SqlValue<'static>) -> HavingExpr {
        HavingExpr::Compare { column, op, value }
    }

    fn bytes(s: &str) -> SqlValue<'static> {
        SqlValue::Bytes(Cow::Owned(s.as_bytes().to_vec()))
    }

    fn dec(s: &str) -> SqlValue<'static> {
        SqlValue::Decimal(Cow::Owned(s.to_string()))
    }

    fn row(values: &[Option<&str>]) -> Row {
        values.iter().map(|v| v.map(|s| s.as_bytes().to_vec())).collect()
    }

    fn eval(expr: &HavingExpr, columns: &[ColumnInfo], values: &[Option<&str>]) -> Truth {
        evaluate(expr, columns, &row(values))
    }

    #[test]
    fn integer_and_decimal_columns_compare_exactly() {
        let cols = [col(0x08, 63), col(0xf6, 63)];
        assert_eq!(
            eval(&cmp(0, CompareOp::Gt, SqlValue::Int(5)), &cols, &[Some("10"), None]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::Gt, SqlValue::Int(50)), &cols, &[Some("10"), None]),
            Truth::False
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::LtEq, SqlValue::Int(-3)), &cols, &[Some("-3"), None]),
            Truth::True
        );
        assert_eq!(
            eval(
                &cmp(0, CompareOp::Eq, SqlValue::UInt(u64::MAX)),
                &cols,
                &[Some("18446744073709551615"), None]
            ),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(1, CompareOp::Eq, dec("1.5")), &cols, &[None, Some("1.5000")]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(1, CompareOp::Gt, SqlValue::Int(1)), &cols, &[None, Some("1.0001")]),
            Truth::True
        );
        assert_eq!(
            eval(
                &cmp(1, CompareOp::NotEq, SqlValue::Int(2)),
                &cols,
                &[None, Some("2.00")]
            ),
            Truth::False
        );
        assert_eq!(
            eval(
                &cmp(1, CompareOp::GtEq, SqlValue::Float(2.5)),
                &cols,
                &[None, Some("2.50")]
            ),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::Eq, bytes("10abc")), &cols, &[Some("10"), None]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::Eq, bytes("abc")), &cols, &[Some("0"), None]),
            Truth::True
        );
    }

    #[test]
    fn string_columns_use_the_collation() {
        let cols = [col(0xfd, 45)];
        assert_eq!(
            eval(&cmp(0, CompareOp::Eq, bytes("ABC")), &cols, &[Some("abc ")]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::Lt, bytes("b")), &cols, &[Some("A")]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::Eq, SqlValue::Int(12)), &cols, &[Some("12.0")]),
            Truth::True
        );
    }

    #[test]
    fn temporal_columns() {
        let cols = [col(0x0c, 63), col(0x0b, 63)];
        let dt = |op, v: &str, cell: &str| eval(&cmp(0, op, bytes(v)), &cols, &[Some(cell), None]);
        assert_eq!(dt(CompareOp::Eq, "2024-01-01", "2024-01-01 00:00:00"), Truth::True);
        assert_eq!(dt(CompareOp::Gt, "2024-01-01", "2024-01-01 00:00:01"), Truth::True);
        assert_eq!(dt(CompareOp::Lt, "2024-01-02", "2024-01-01 23:59:59.5"), Truth::True);
        let t = |op, v: &str, cell: &str| eval(&cmp(1, op, bytes(v)), &cols, &[None, Some(cell)]);
        assert_eq!(t(CompareOp::Gt, "99:00:00", "100:00:00"), Truth::True);
        assert_eq!(t(CompareOp::Lt, "00:00:00", "-00:00:01"), Truth::True);
    }

    #[test]
    fn null_makes_comparisons_unknown() {
        let cols = [col(0x08, 63)];
        assert_eq!(
            eval(&cmp(0, CompareOp::Eq, SqlValue::Int(1)), &cols, &[None]),
            Truth::Unknown
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::NotEq, SqlValue::Null), &cols, &[Some("1")]),
            Truth::Unknown
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::NullSafeEq, SqlValue::Null), &cols, &[None]),
            Truth::True
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::NullSafeEq, SqlValue::Int(1)), &cols, &[None]),
            Truth::False
        );
        assert_eq!(
            eval(&cmp(0, CompareOp::NullSafeEq, SqlValue::Int(1)), &cols, &[Some("1")]),
            Truth::True
        );
        let is_null = HavingExpr::IsNull {
            column: 0,
            negated: false,
        };
        let not_null = HavingExpr::IsNull {
            column: 0,
            negated: true,
        };
        assert_eq!(eval(&is_null, &cols, &[None]), Truth::True);
        assert_eq!(eval(&not_null, &cols, &[None]), Truth::False);
        assert_eq!(eval(&not_null, &cols, &[Some("0")]), Truth::True);
    }

    #[test]
    fn three_valued_logic() {
        let cols = [col(0x08, 63), col(0x08, 63)];
        let unknown = || Box::new(cmp(0, CompareOp::Eq, SqlValue::Int(1)));
        let truth = || Box::new(cmp(1, CompareOp::Eq, SqlValue::Int(1)));
        let falsity = || Box::new(cmp(1, CompareOp::Eq, SqlValue::Int(2)));
        let values = [None, Some("1")];
        assert_eq!(
            eval(&HavingExpr::And(unknown(), falsity()), &cols, &values),
            Truth::False
        );
        assert_eq!(
            eval(&HavingExpr::And(unknown(), truth()), &cols, &values),
            Truth::Unknown
        );
        assert_eq!(eval(&HavingExpr::And(truth(), truth()), &cols, &values), Truth::True);
        assert_eq!(eval(&HavingExpr::Or(unknown(), truth()), &cols, &values), Truth::True);
        assert_eq!(
            eval(&HavingExpr::Or(unknown(), falsity()), &cols, &values),
            Truth::Unknown
        );
        assert_eq!(
            eval(&HavingExpr::Or(falsity(), falsity()), &cols, &values),
            Truth::False
        );
        assert_eq!(eval(&HavingExpr::Not(unknown()), &cols, &values), Truth::Unknown);
        assert_eq!(eval(&HavingExpr::Not(falsity()), &cols, &values), Truth::True);
    }

    #[test]
    fn lenient_number_reading() {
        assert_eq!(lenient_f64(b"  12abc"), 12.0);
        assert_eq!(lenient_f64(b"-1.5e3x"), -1500.0);
        assert_eq!(lenient_f64(b"1e"), 1.0);
        assert_eq!(lenient_f64(b".5"), 0.5);
        assert_eq!(lenient_f64(b"abc"), 0.0);
        assert_eq!(lenient_f64(b"-"), 0.0);
        assert_eq!(lenient_f64(b""), 0.0);
    }

    #[test]
    fn parses_datetimes() {
        assert_eq!(parse_datetime(b"2024-02-03"), Some([2024, 2, 3, 0, 0, 0, 0]));
        assert_eq!(
            parse_datetime(b"2024-02-03 04:05:06.7"),
            Some([2024, 2, 3, 4, 5, 6, 700_000_000])
        );
        assert_eq!(parse_datetime(b"2024-02"), None);
        assert_eq!(parse_datetime(b"2024-02-03 04:05"), None);
    }
}
