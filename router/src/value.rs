//! SQL values as the router sees them: literals pulled out of a statement or parameters bound to a prepared one.

use std::borrow::Cow;

/// One literal or bound parameter value.
///
/// Strings are kept as bytes (already unescaped) because a shard key may be any byte string; borrowed from the
/// statement where no unescaping was needed.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue<'a> {
    /// SQL `NULL`.
    Null,
    /// A signed integer (a literal that fits `i64`, or a signed integer parameter).
    Int(i64),
    /// An unsigned integer larger than `i64::MAX`.
    UInt(u64),
    /// A decimal or floating point number, kept as its text.
    Decimal(Cow<'a, str>),
    /// A floating point parameter.
    Float(f64),
    /// A string or binary value.
    Bytes(Cow<'a, [u8]>),
}

impl SqlValue<'_> {
    /// The value as an unsigned 64-bit integer when it is an integer, or a string holding exactly the decimal digits
    /// of one (`"42"`, not `"042"` or `" 42"`). Negative integers map to their two's-complement bits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            SqlValue::Int(i) => Some(*i as u64),
            SqlValue::UInt(u) => Some(*u),
            SqlValue::Bytes(b) => canonical_integer(b),
            _ => None,
        }
    }

    /// Copies borrowed data so the value outlives the statement it came from.
    pub fn into_owned(self) -> SqlValue<'static> {
        match self {
            SqlValue::Null => SqlValue::Null,
            SqlValue::Int(i) => SqlValue::Int(i),
            SqlValue::UInt(u) => SqlValue::UInt(u),
            SqlValue::Decimal(d) => SqlValue::Decimal(Cow::Owned(d.into_owned())),
            SqlValue::Float(f) => SqlValue::Float(f),
            SqlValue::Bytes(b) => SqlValue::Bytes(Cow::Owned(b.into_owned())),
        }
    }
}

/// Parses `b` as an integer written canonically in decimal (optional `-`, no leading zeros, no spaces).
fn canonical_integer(b: &[u8]) -> Option<u64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut m: u64 = 0;
    for d in digits {
        m = m.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if !neg {
        return Some(m);
    }
    if m == 0 || m > 1 << 63 {
        return None;
    }
    Some(m.wrapping_neg())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_their_decimal_strings_agree() {
        let s = |t: &'static str| SqlValue::Bytes(Cow::Borrowed(t.as_bytes()));
        assert_eq!(s("42").as_u64(), SqlValue::Int(42).as_u64());
        assert_eq!(s("-7").as_u64(), SqlValue::Int(-7).as_u64());
        assert_eq!(s("18446744073709551615").as_u64(), SqlValue::UInt(u64::MAX).as_u64());
        for bad in ["042", " 42", "4 2", "", "-", "-0", "1e3", "0x10"] {
            assert_eq!(s(bad).as_u64(), None, "{bad:?}");
        }
        assert_eq!(s("0").as_u64(), Some(0));
    }
}
