//! HAVING on merged rows: comparisons of a column with a literal, AND/OR/NOT and IS [NOT] NULL in SQL's
//! three-valued logic.
//!
//! A column compares with a literal the way MariaDB compares the two types: an integer or DECIMAL column exactly
//! with an integer or decimal literal; as doubles when either side is floating-point or a string meets a number;
//! strings by the column's collation; TIME as a duration; DATE/DATETIME/TIMESTAMP as dates (a date literal equals
//! midnight of that day). A number or string literal meeting a temporal column is read as that type, as MariaDB does
//! (`20240101` and `'20240101'` are a date, `50000` and `'5:00'` are 05:00:00). NULL on either side makes the
//! comparison unknown (except `<=>`).

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
        (ValueOrder::Time, _) => match (parse_time(cell), time_literal(value)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => match value {
                SqlValue::Bytes(b) => cell.cmp(b),
                _ => as_doubles(),
            },
        },
        (ValueOrder::Bytes, _) if is_temporal(col.column_type) => {
            match (parse_datetime(cell), datetime_literal(value)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => match value {
                    SqlValue::Bytes(b) => cell.cmp(b),
                    _ => as_doubles(),
                },
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

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// The digits of `frac` (after the point) as nanoseconds; `None` unless all are digits.
fn fraction_nanos(frac: &str) -> Option<u64> {
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((0..9).fold(0, |n, i| {
        n * 10 + frac.as_bytes().get(i).map_or(0, |&d| u64::from(d - b'0'))
    }))
}

/// Splits `[-]digits[.digits]` into sign, integer part and fraction nanoseconds.
fn split_number(text: &str) -> Option<(bool, u64, u64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((negative, int.parse().ok()?, fraction_nanos(frac)?))
}

/// A literal compared with a TIME column, as signed nanoseconds: `[-][D ]H[:MM[:SS[.f]]]` strings (`'5:00'` is five
/// hours), `[-]HHMMSS[.f]` numbers and digit strings (`500` is five minutes); `None` when it is not a valid time.
fn time_literal(value: &SqlValue<'static>) -> Option<i128> {
    match value {
        SqlValue::Bytes(b) => parse_time(b).or_else(|| time_from_text(std::str::from_utf8(b).ok()?.trim())),
        SqlValue::Int(i) => number_to_time(&i.to_string()),
        SqlValue::UInt(u) => number_to_time(&u.to_string()),
        SqlValue::Decimal(d) => number_to_time(d),
        SqlValue::Float(f) if f.is_finite() => number_to_time(&f.to_string()),
        _ => None,
    }
}

/// MariaDB's number-to-TIME reading: `[-]HHMMSS[.f]`, minutes and seconds below 60, at most 838 hours.
fn number_to_time(text: &str) -> Option<i128> {
    let (negative, n, nanos) = split_number(text)?;
    let (hours, minutes, seconds) = (n / 10_000, n / 100 % 100, n % 100);
    if minutes > 59 || seconds > 59 || hours > 838 {
        return None;
    }
    let total = i128::from((hours * 60 + minutes) * 60 + seconds) * NANOS_PER_SECOND + i128::from(nanos);
    Some(if negative { -total } else { total })
}

/// TIME strings other than `H:MM:SS`: `[-]D H[:MM[:SS]]`, `[-]H:MM`, and digits (read as a number).
fn time_from_text(s: &str) -> Option<i128> {
    let (negative, unsigned) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (days, clock) = match unsigned.split_once(' ') {
        Some((d, c)) => (Some(d), c.trim_start()),
        None if !unsigned.contains(':') => return number_to_time(s),
        None => (None, unsigned),
    };
    let field = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.len() <= 9 && t.bytes().all(|c| c.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (clock, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = clock.split(':').collect();
    // Hours alone only after a day count; a fraction only after seconds.
    if parts.len() > 3 || (parts.len() == 1 && days.is_none()) || (parts.len() < 3 && !frac.is_empty()) {
        return None;
    }
    let days = match days {
        Some(d) => field(d)?,
        None => 0,
    };
    let hours = field(parts[0])?;
    let minutes = parts.get(1).map_or(Some(0), |m| field(m))?;
    let seconds = parts.get(2).map_or(Some(0), |m| field(m))?;
    if minutes > 59 || seconds > 59 {
        return None;
    }
    let total = i128::from(((days * 24 + hours) * 60 + minutes) * 60 + seconds) * NANOS_PER_SECOND
        + i128::from(fraction_nanos(frac)?);
    Some(if negative { -total } else { total })
}

/// A literal compared with a DATE/DATETIME/TIMESTAMP column: date strings, and numbers or digit strings in MariaDB's
/// `YYMMDD`, `YYYYMMDD`, `YYMMDDhhmmss`, `YYYYMMDDhhmmss[.f]` forms; `None` when it is not a valid date.
fn datetime_literal(value: &SqlValue<'static>) -> Option<[u64; 7]> {
    match value {
        SqlValue::Bytes(b) => parse_datetime(b).or_else(|| number_to_datetime(std::str::from_utf8(b).ok()?.trim())),
        SqlValue::Int(i) => number_to_datetime(&i.to_string()),
        SqlValue::UInt(u) => number_to_datetime(&u.to_string()),
        SqlValue::Decimal(d) => number_to_datetime(d),
        SqlValue::Float(f) if f.is_finite() => number_to_datetime(&f.to_string()),
        _ => None,
    }
}

/// MariaDB's number-to-DATETIME reading (`number_to_datetime`): two-digit years 00–69 are 20xx, 70–99 are 19xx.
fn number_to_datetime(text: &str) -> Option<[u64; 7]> {
    let (negative, n, nanos) = split_number(text)?;
    if negative {
        return None;
    }
    let full = match n {
        0..=100 => return None,
        101..=691_231 => (n + 20_000_000) * 1_000_000,
        691_232..=700_100 => return None,
        700_101..=991_231 => (n + 19_000_000) * 1_000_000,
        991_232..=10_000_100 => return None,
        10_000_101..=99_991_231 => n * 1_000_000,
        99_991_232..=100_999_999 => return None,
        101_000_000..=691_231_235_959 => n + 20_000_000_000_000,
        691_231_235_960..=700_100_999_999 => return None,
        700_101_000_000..=991_231_235_959 => n + 19_000_000_000_000,
        _ if n <= 99_991_231_235_959 => n,
        _ => return None,
    };
    let fields = [
        full / 10_000_000_000,
        full / 100_000_000 % 100,
        full / 1_000_000 % 100,
        full / 10_000 % 100,
        full / 100 % 100,
        full % 100,
        nanos,
    ];
    let valid = (1..=12).contains(&fields[1])
        && (1..=31).contains(&fields[2])
        && fields[3] <= 23
        && fields[4] <= 59
        && fields[5] <= 59;
    valid.then_some(fields)
}

/// Parses `YYYY-MM-DD[ HH[:MM[:SS[.fraction]]]]` (any punctuation between the date's fields) into comparable
/// fields (missing time fields are zero).
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
    let mut date_parts = date.split(|c: char| c.is_ascii_punctuation());
    for field in fields.iter_mut().take(3) {
        *field = number(date_parts.next()?)?;
    }
    if date_parts.next().is_some() {
        return None;
    }
    if let Some(time) = time {
        let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
        let clock_parts: Vec<&str> = clock.split(':').collect();
        if clock_parts.len() > 3 || (clock_parts.len() < 3 && !frac.is_empty()) {
            return None;
        }
        for (field, part) in fields.iter_mut().skip(3).zip(&clock_parts) {
            *field = number(part)?;
        }
        fields[6] = fraction_nanos(frac)?;
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
        assert_eq!(parse_datetime(b"2024-02-03 04:05"), Some([2024, 2, 3, 4, 5, 0, 0]));
        assert_eq!(parse_datetime(b"2024/2/3"), Some([2024, 2, 3, 0, 0, 0, 0]));
        assert_eq!(parse_datetime(b"2024-02-03 04:05.5"), None);
    }

    /// Found by the sharding differential test: numbers and short TIME strings compared with a temporal aggregate
    /// were read as doubles (`'2029-08-27'` as 2029) or bytes, so `HAVING MAX(dt) > 20120101` dropped every group.
    /// Each expectation below is what MariaDB 10.11 answers.
    #[test]
    fn numbers_and_short_strings_compare_with_temporal_columns_as_mariadb_reads_them() {
        let cols = [col(0x0a, 63), col(0x0c, 63), col(0x0b, 63)];
        let date = |op, v: SqlValue<'static>, cell: &str| eval(&cmp(0, op, v), &cols, &[Some(cell), None, None]);
        assert_eq!(date(CompareOp::Gt, SqlValue::Int(20120101), "2029-08-27"), Truth::True);
        assert_eq!(date(CompareOp::Eq, SqlValue::Int(20120101), "2012-01-01"), Truth::True);
        assert_eq!(date(CompareOp::Eq, SqlValue::Int(120101), "2012-01-01"), Truth::True);
        assert_eq!(date(CompareOp::Gt, SqlValue::Int(700101), "2000-01-01"), Truth::True);
        assert_eq!(date(CompareOp::Eq, dec("20120101.0"), "2012-01-01"), Truth::True);
        assert_eq!(date(CompareOp::Gt, bytes("20120101"), "2012-05-01"), Truth::True);
        assert_eq!(date(CompareOp::Lt, bytes("1999-1-5"), "1998-12-31"), Truth::True);
        let dt = |op, v: SqlValue<'static>, cell: &str| eval(&cmp(1, op, v), &cols, &[None, Some(cell), None]);
        assert_eq!(
            dt(CompareOp::Eq, SqlValue::UInt(20211201000000), "2021-12-01 00:00:00"),
            Truth::True
        );
        assert_eq!(
            dt(CompareOp::Eq, SqlValue::Int(211201000000), "2021-12-01 00:00:00"),
            Truth::True
        );
        assert_eq!(
            dt(CompareOp::Eq, dec("20211201000000.5"), "2021-12-01 00:00:00.5"),
            Truth::True
        );
        assert_eq!(
            dt(CompareOp::Gt, SqlValue::Int(20211201000000), "2021-12-17 03:30:23"),
            Truth::True
        );
        assert_eq!(
            dt(CompareOp::Eq, bytes("2021-12-01 10:30"), "2021-12-01 10:30:00"),
            Truth::True
        );
        let time = |op, v: SqlValue<'static>, cell: &str| eval(&cmp(2, op, v), &cols, &[None, None, Some(cell)]);
        assert_eq!(time(CompareOp::Gt, SqlValue::Int(50000), "09:45:17"), Truth::True);
        assert_eq!(time(CompareOp::Eq, SqlValue::Int(50000), "05:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Eq, dec("5.5"), "00:00:05.5"), Truth::True);
        assert_eq!(time(CompareOp::Eq, SqlValue::Int(-100), "-00:01:00"), Truth::True);
        assert_eq!(time(CompareOp::Eq, SqlValue::Float(50000.0), "05:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Gt, bytes("5:00"), "05:00:00"), Truth::False);
        assert_eq!(time(CompareOp::Gt, bytes("5:00"), "09:45:17"), Truth::True);
        assert_eq!(time(CompareOp::Eq, bytes("500"), "00:05:00"), Truth::True);
        assert_eq!(time(CompareOp::Eq, bytes("5"), "00:00:05"), Truth::True);
        assert_eq!(time(CompareOp::Eq, bytes("1 02:00"), "26:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Eq, bytes("1 02"), "26:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Eq, bytes("-5:00"), "-05:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Lt, bytes("10:00:00.5"), "10:00:00"), Truth::True);
        assert_eq!(time(CompareOp::Lt, dec("100000.5"), "10:00:00"), Truth::True);
    }
}
