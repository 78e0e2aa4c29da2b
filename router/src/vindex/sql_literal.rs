//! Writing values and identifiers into SQL text: escaped MySQL literals and backtick-quoted names.
//!
//! Used where the proxy must build a statement itself (lookup-table queries) rather than bind parameters. The
//! string escaping is MySQL's backslash style, so it assumes the backend session does not have the
//! `NO_BACKSLASH_ESCAPES` SQL mode.

use std::fmt::Write;

use crate::value::SqlValue;

/// Appends `v` to `out` as a MySQL literal.
///
/// - `Null` → `NULL`; `Int`/`UInt` → their decimal digits.
/// - `Decimal` → its text when it is a plain number (`[+-]digits[.digits][e[+-]digits]`), otherwise the text as a
///   quoted string (never raw SQL).
/// - `Float` → the shortest round-trip form with an exponent (`1e-1`, a DOUBLE literal); NaN and infinities → `NULL`.
/// - `Bytes` that are valid UTF-8 → `'…'` with `\0`, `\n`, `\r`, `\\`, `\'`, `\"` and `\Z` (0x1a) escaped;
///   other bytes → a hex literal `X'…'`, which MySQL reads as exactly those bytes.
pub fn push_literal(out: &mut String, v: &SqlValue<'_>) {
    match v {
        SqlValue::Null => out.push_str("NULL"),
        SqlValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        SqlValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        SqlValue::Decimal(text) if is_number(text.as_bytes()) => out.push_str(text),
        SqlValue::Decimal(text) => push_string(out, text),
        SqlValue::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:e}");
        }
        SqlValue::Float(_) => out.push_str("NULL"),
        SqlValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => push_string(out, s),
            Err(_) => {
                out.push_str("X'");
                for byte in b.iter() {
                    let _ = write!(out, "{byte:02X}");
                }
                out.push('\'');
            }
        },
    }
}

/// Appends `s` as a single-quoted string literal with MySQL backslash escapes.
fn push_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Appends `name` as a backtick-quoted identifier (a backtick inside is doubled).
pub fn push_identifier(out: &mut String, name: &str) {
    out.reserve(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push('`');
        }
        out.push(c);
    }
    out.push('`');
}

/// True when `s` is `[+-]digits[.digits][(e|E)[+-]digits]` with at least one mantissa digit.
fn is_number(s: &[u8]) -> bool {
    let mut i = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    let int = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    i += int;
    let mut frac = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        frac = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac;
    }
    if int + frac == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(s.get(i), Some(b'+' | b'-')));
        let exp = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == s.len()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn lit(v: SqlValue<'_>) -> String {
        let mut out = String::new();
        push_literal(&mut out, &v);
        out
    }

    fn s(t: &str) -> SqlValue<'_> {
        SqlValue::Bytes(Cow::Borrowed(t.as_bytes()))
    }

    #[test]
    fn numbers_and_null() {
        assert_eq!(lit(SqlValue::Null), "NULL");
        assert_eq!(lit(SqlValue::Int(-42)), "-42");
        assert_eq!(lit(SqlValue::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(lit(SqlValue::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(lit(SqlValue::Decimal("-12.50".into())), "-12.50");
        assert_eq!(lit(SqlValue::Decimal("1.5E-3".into())), "1.5E-3");
        assert_eq!(lit(SqlValue::Float(0.1)), "1e-1");
        assert_eq!(lit(SqlValue::Float(-2.5)), "-2.5e0");
        assert_eq!(lit(SqlValue::Float(f64::NAN)), "NULL");
    }

    #[test]
    fn decimals_that_are_not_numbers_become_strings() {
        assert_eq!(lit(SqlValue::Decimal("1; DROP TABLE t".into())), "'1; DROP TABLE t'");
        assert_eq!(lit(SqlValue::Decimal("1-2".into())), "'1-2'");
        assert_eq!(lit(SqlValue::Decimal("".into())), "''");
        assert_eq!(lit(SqlValue::Decimal(".".into())), "'.'");
        assert_eq!(lit(SqlValue::Decimal("1e".into())), "'1e'");
        assert_eq!(lit(SqlValue::Decimal(".5".into())), ".5");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(lit(s("abc")), "'abc'");
        assert_eq!(lit(s("")), "''");
        assert_eq!(lit(s("O'Brien")), "'O\\'Brien'");
        assert_eq!(lit(s("a\\b")), "'a\\\\b'");
        assert_eq!(lit(s("\\'")), "'\\\\\\''");
        assert_eq!(lit(s("x\0y\nz\r\x1a\"")), "'x\\0y\\nz\\r\\Z\\\"'");
        assert_eq!(lit(s("héllo ✓")), "'héllo ✓'");
        // A quote can never end the literal early: every ' in the output is escaped or a delimiter.
        let out = lit(s("'); DROP TABLE t; --"));
        assert_eq!(out, "'\\'); DROP TABLE t; --'");
    }

    #[test]
    fn invalid_utf8_is_hex() {
        assert_eq!(lit(SqlValue::Bytes(Cow::Borrowed(&[0xff, 0x00, b'\'']))), "X'FF0027'");
    }

    #[test]
    fn identifiers_are_backtick_quoted() {
        let mut out = String::new();
        push_identifier(&mut out, "a`b");
        out.push('.');
        push_identifier(&mut out, "email idx");
        assert_eq!(out, "`a``b`.`email idx`");
    }
}
