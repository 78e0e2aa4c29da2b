//! The `hash` vindex: a fixed, documented function from a value to a keyspace id that never changes between releases.
//!
//! Spec: `{ type: hash }` (no other keys). Rows already stored on shards were placed with this function, so changing
//! it would strand them: the test vectors at the bottom of this file pin it.
//!
//! # The function
//!
//! All arithmetic is on unsigned 64-bit integers, wrapping on overflow.
//!
//! ```text
//! fmix64(n):                       // the MurmurHash3 64-bit finalizer; a bijection on u64
//!     n ^= n >> 33
//!     n *= 0xff51afd7ed558ccd
//!     n ^= n >> 33
//!     n *= 0xc4ceb9fe1a85ec53
//!     n ^= n >> 33
//!     return n
//!
//! fnv1a64(bytes):                  // FNV-1a, 64-bit
//!     h = 0xcbf29ce484222325
//!     for b in bytes: h ^= b; h *= 0x00000100000001b3
//!     return h
//!
//! hash_u64(n)   = fmix64(n)
//! hash_bytes(b) = fmix64(fnv1a64(b))
//! ```
//!
//! A value maps to a keyspace id as follows:
//!
//! 1. `NULL` maps to no keyspace id ([`Destination::None`]).
//! 2. An **integer** `v` in `[-2^63, 2^64)` maps to `hash_u64(v mod 2^64)` (negative values by their two's-complement
//!    bits). Integers are: `Int`, `UInt`, and strings holding exactly the canonical decimal digits of one (optional
//!    `-`, no `+`, no leading zeros, no spaces: `"42"`), and strings that are a number once surrounding white space
//!    is removed (`"042"`, `" 42"`, `"+42"`, `"42.0"`, `"4.2e1"`: what MySQL compares a numeric column with) map like
//!    that number under rule 3, so values equal to the server never land on different shards. Because `fmix64` is a
//!    bijection, two integers of the same signedness never share a keyspace id; the only shared ids are `-n` and
//!    `2^64 - n` (the same 64 bits).
//! 3. A **decimal** (`Decimal` text, `[+-]digits[.digits][e[+-]digits]`) or **floating-point** value (`Float`,
//!    written first as its shortest decimal text that reads back as the same double, without exponent; NaN and
//!    infinities are errors) is reduced to its exact value: sign, digits with leading and trailing zeros removed,
//!    exponent applied. A whole number in the integer range above maps like that integer (`42.0`, `4.2e1` and
//!    `42` are the same key). Any other number maps to `hash_bytes` of its canonical text: an optional `-`, the
//!    integer digits without leading zeros (`0` when there are none), and for a fraction a `.` followed by the
//!    fraction digits without trailing zeros, never an exponent (`+0042.50` → `"42.5"`, `-.5` → `"-0.5"`,
//!    `1e20` → `"100000000000000000000"`). Exponents beyond ±1000 are errors.
//! 4. Any other **string** maps to `hash_bytes` of its bytes exactly as given (no trimming, no case folding, no
//!    collation): `"abc"` and `"ABC"` are different keys.

use std::borrow::Cow;

use serde_yaml_ng::Mapping;

use super::{check_keys, single, Destination, SpecError, Vindex, VindexError};
use crate::value::SqlValue;

/// The `hash` vindex: keyspace id = the documented hash of the value (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashVindex;

impl HashVindex {
    /// Builds the vindex from its spec, which has no keys besides `type`.
    pub(crate) fn from_spec(spec: &Mapping) -> Result<Self, SpecError> {
        check_keys(spec, &["type"], "", "a hash vindex")?;
        Ok(HashVindex)
    }
}

impl Vindex for HashVindex {
    fn kind(&self) -> &'static str {
        "hash"
    }

    fn map(&self, values: &[SqlValue<'_>]) -> Result<Destination, VindexError> {
        Ok(match hash_value(single("hash", values)?)? {
            Some(id) => Destination::KeyspaceId(id),
            None => Destination::None,
        })
    }

    fn is_functional(&self) -> bool {
        true
    }
}

/// The MurmurHash3 `fmix64` finalizer of an integer: a bijection on `u64`, so distinct integers never collide.
#[inline]
pub fn hash_u64(mut n: u64) -> u64 {
    n ^= n >> 33;
    n = n.wrapping_mul(0xff51_afd7_ed55_8ccd);
    n ^= n >> 33;
    n = n.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    n ^= n >> 33;
    n
}

/// `fmix64(fnv1a64(b))`: the keyspace id of a byte string that is not a canonical integer. Allocation-free.
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in b {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash_u64(h)
}

/// A value reduced to what the hash (and range) vindexes look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Canonical<'a> {
    /// SQL NULL.
    Null,
    /// An integer in `[-2^63, 2^64)`.
    Int(i128),
    /// A non-integer: a string's bytes as given, or a number's canonical text.
    Bytes(Cow<'a, [u8]>),
}

/// Reduces `v` to an integer or the bytes to hash (rules 2–4 of the module documentation).
pub(crate) fn canonical<'a>(v: &'a SqlValue<'_>) -> Result<Canonical<'a>, VindexError> {
    Ok(match v {
        SqlValue::Null => Canonical::Null,
        SqlValue::Int(i) => Canonical::Int(i128::from(*i)),
        SqlValue::UInt(u) => Canonical::Int(i128::from(*u)),
        SqlValue::Bytes(b) => match v.as_u64() {
            Some(n) if b.first() == Some(&b'-') => Canonical::Int(i128::from(n as i64)),
            Some(n) => Canonical::Int(i128::from(n)),
            // A string MySQL would compare as a number with a numeric column ('042', ' 42', '4.2e1') maps like
            // that number: equal values must never land on different shards.
            None => match numeric_text(b) {
                Some(t) => canonical_decimal(t).unwrap_or(Canonical::Bytes(Cow::Borrowed(b))),
                None => Canonical::Bytes(Cow::Borrowed(b)),
            },
        },
        SqlValue::Decimal(text) => canonical_decimal(text)?,
        SqlValue::Float(f) => {
            if !f.is_finite() {
                return Err(VindexError::new(format!("{f} cannot be a shard key value")));
            }
            canonical_decimal(&f.to_string())?
        }
    })
}

/// The keyspace id the hash vindex gives `v`, or `None` for NULL.
pub(crate) fn hash_value(v: &SqlValue<'_>) -> Result<Option<u64>, VindexError> {
    Ok(match v {
        // The two hot cases first, without going through `canonical`.
        SqlValue::Int(i) => Some(hash_u64(*i as u64)),
        SqlValue::Bytes(b) => Some(match v.as_u64() {
            Some(n) => hash_u64(n),
            None if numeric_text(b).is_none() => hash_bytes(b),
            None => match canonical(v)? {
                Canonical::Int(i) => hash_u64(i as u64),
                Canonical::Bytes(c) => hash_bytes(&c),
                Canonical::Null => return Ok(None),
            },
        }),
        _ => match canonical(v)? {
            Canonical::Null => None,
            Canonical::Int(i) => Some(hash_u64(i as u64)),
            Canonical::Bytes(b) => Some(hash_bytes(&b)),
        },
    })
}

/// The text of a string that is a number once surrounding ASCII white space is removed (`[+-]digits[.digits][e±n]`
/// or `[+-].digits…`), as MySQL reads it when comparing with a numeric column.
fn numeric_text(b: &[u8]) -> Option<&str> {
    let t = std::str::from_utf8(b)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let mantissa = body.split(['e', 'E']).next().unwrap_or("");
    let looks = !mantissa.is_empty()
        && mantissa.bytes().any(|c| c.is_ascii_digit())
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    looks.then_some(t)
}

/// Largest exponent magnitude accepted in decimal text (keeps the canonical text bounded).
const MAX_EXPONENT: i64 = 1000;

/// Parses decimal text (`[+-]digits[.digits][(e|E)[+-]digits]`, at least one mantissa digit) to its exact value.
fn canonical_decimal(text: &str) -> Result<Canonical<'static>, VindexError> {
    let bad = || VindexError::new(format!("{text:?} is not a decimal number"));
    let s = text.as_bytes();
    let (neg, mut i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut digits: Vec<u8> = Vec::with_capacity(s.len());
    // Number of digits before the decimal point.
    let mut point: i64 = 0;
    let mut seen_point = false;
    while i < s.len() {
        match s[i] {
            d @ b'0'..=b'9' => {
                digits.push(d);
                if !seen_point {
                    point += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(bad()),
        }
        i += 1;
    }
    if digits.is_empty() {
        return Err(bad());
    }
    if i < s.len() {
        // Exponent.
        i += 1;
        let (eneg, start) = match s.get(i) {
            Some(b'-') => (true, i + 1),
            Some(b'+') => (false, i + 1),
            _ => (false, i),
        };
        let exp_digits = &s[start..];
        if exp_digits.is_empty() || !exp_digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let mut e: i64 = 0;
        for d in exp_digits {
            e = e * 10 + i64::from(d - b'0');
            if e > MAX_EXPONENT {
                return Err(VindexError::new(format!(
                    "{text:?}: exponent out of range for a shard key value (at most ±{MAX_EXPONENT})"
                )));
            }
        }
        point += if eneg { -e } else { e };
    }
    // Strip leading zeros (each moves the point left) and trailing zeros.
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    point -= lead as i64;
    let trail = digits.iter().rev().take_while(|&&d| d == b'0').count();
    if lead == digits.len() {
        return Ok(Canonical::Int(0));
    }
    let digits = &digits[lead..digits.len() - trail];
    let len = digits.len() as i64;
    if point >= len && point <= 20 {
        // A whole number of at most 20 digits: try the integer range.
        let mut m: u128 = 0;
        for d in digits {
            m = m * 10 + u128::from(d - b'0');
        }
        for _ in len..point {
            m *= 10;
        }
        if !neg && m <= u128::from(u64::MAX) {
            return Ok(Canonical::Int(m as i128));
        }
        if neg && m <= 1 << 63 {
            return Ok(Canonical::Int(-(m as i128)));
        }
    }
    let mut out = Vec::with_capacity(digits.len() + point.unsigned_abs() as usize + 3);
    if neg {
        out.push(b'-');
    }
    if point >= len {
        out.extend_from_slice(digits);
        out.resize(out.len() + (point - len) as usize, b'0');
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(digits);
    } else {
        let p = point as usize;
        out.extend_from_slice(&digits[..p]);
        out.push(b'.');
        out.extend_from_slice(&digits[p..]);
    }
    Ok(Canonical::Bytes(Cow::Owned(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> SqlValue<'_> {
        SqlValue::Bytes(Cow::Borrowed(t.as_bytes()))
    }

    fn d(t: &str) -> SqlValue<'_> {
        SqlValue::Decimal(Cow::Borrowed(t))
    }

    fn id(v: SqlValue<'_>) -> u64 {
        match HashVindex.map(&[v]).unwrap() {
            Destination::KeyspaceId(id) => id,
            other => panic!("{other:?}"),
        }
    }

    /// Test vectors of the hash vindex. Rows already stored on shards were placed with these ids:
    /// THESE VALUES MUST NEVER CHANGE. A failure here means the function changed, not that the table is stale.
    /// (Computed once, and cross-checked against an independent implementation of the module documentation.)
    #[test]
    fn test_vectors() {
        let vectors: &[(SqlValue<'_>, u64)] = &[
            (SqlValue::Int(0), 0x0000_0000_0000_0000),
            (SqlValue::Int(1), 0xb456_bcfc_34c2_cb2c),
            (SqlValue::Int(2), 0x3abf_2a20_6506_83e7),
            (SqlValue::Int(-1), 0x64b5_720b_4b82_5f21),
            (SqlValue::Int(42), 0x8108_7960_8e42_59cc),
            (SqlValue::Int(i64::MAX), 0xabb9_3df0_a930_edea),
            (SqlValue::Int(i64::MIN), 0x8f78_0810_af31_a493),
            (SqlValue::UInt(u64::MAX), 0x64b5_720b_4b82_5f21),
            (s("1"), 0xb456_bcfc_34c2_cb2c),
            (s("-1"), 0x64b5_720b_4b82_5f21),
            (s(""), 0xefd0_1f60_ba99_2926),
            (s("abc"), 0x33eb_af99_27cb_c5bd),
            (s("ABC"), 0xc25f_c3f8_37eb_7e45),
            // "01" is the number 1 (as MySQL compares it with a numeric column): hash_u64(1).
            (s("01"), 0xb456_bcfc_34c2_cb2c),
            (s("héllo wörld ✓"), 0x2106_0d84_c6f7_5fc6),
            (s("user@example.com"), 0x98e1_0665_127c_c93e),
            (d("42.0"), 0x8108_7960_8e42_59cc),
            (d("42.5"), 0x6c4f_75d9_c703_f19c),
            (SqlValue::Float(0.1), 0x2a50_362d_ebc7_3409),
        ];
        for (v, want) in vectors {
            assert_eq!(id(v.clone()), *want, "{v:?}: got {:#018x}", id(v.clone()));
        }
        // The raw functions, pinned too.
        assert_eq!(hash_u64(1), 0xb456_bcfc_34c2_cb2c);
        assert_eq!(hash_bytes(b"abc"), 0x33eb_af99_27cb_c5bd);
    }

    #[test]
    fn integers_and_their_decimal_forms_agree() {
        for n in [0i64, 1, -1, 7, 42, -42, 1_000_000, i64::MAX, i64::MIN] {
            let want = id(SqlValue::Int(n));
            assert_eq!(id(s(&n.to_string())), want, "{n}");
            assert_eq!(id(d(&n.to_string())), want, "{n}");
            assert_eq!(id(d(&format!("{n}.000"))), want, "{n}");
            assert_eq!(want, hash_u64(n as u64));
        }
        assert_eq!(id(SqlValue::UInt(u64::MAX)), id(s("18446744073709551615")));
        assert_eq!(id(d("18446744073709551615.0")), id(SqlValue::UInt(u64::MAX)));
        assert_eq!(id(d("4.2e1")), id(SqlValue::Int(42)));
        assert_eq!(id(d("4200E-2")), id(SqlValue::Int(42)));
        assert_eq!(id(d("+0042")), id(SqlValue::Int(42)));
        assert_eq!(id(d("-0.0")), id(SqlValue::Int(0)));
        assert_eq!(id(SqlValue::Float(42.0)), id(SqlValue::Int(42)));
        assert_eq!(id(SqlValue::Float(-3.0)), id(SqlValue::Int(-3)));
        assert_eq!(id(SqlValue::Float(-0.0)), id(SqlValue::Int(0)));
        // Strings that are numbers as MySQL compares them with a numeric column map like the number.
        for text in ["042", " 42", "42 ", "+42", "42.0", "4.2e1", "0042.000"] {
            assert_eq!(id(s(text)), id(SqlValue::Int(42)), "{text:?}");
        }
        assert_eq!(id(s("42.5")), id(d("42.5")));
        // Other strings are strings.
        assert_eq!(id(s("42abc")), hash_bytes(b"42abc"));
        assert_eq!(id(s("4 2")), hash_bytes(b"4 2"));
        assert_eq!(id(s("-")), hash_bytes(b"-"));
    }

    #[test]
    fn other_numbers_hash_their_canonical_text() {
        let cases = [
            ("42.5", "42.5"),
            ("+0042.50", "42.5"),
            ("-.5", "-0.5"),
            ("0.001", "0.001"),
            ("1.5e-3", "0.0015"),
            ("1e20", "100000000000000000000"),
            ("-9223372036854775809", "-9223372036854775809"),
            ("18446744073709551616", "18446744073709551616"),
            ("123.456e1", "1234.56"),
        ];
        for (text, canon) in cases {
            assert_eq!(id(d(text)), hash_bytes(canon.as_bytes()), "{text}");
        }
        assert_eq!(id(SqlValue::Float(0.1)), hash_bytes(b"0.1"));
        assert_eq!(id(SqlValue::Float(1e20)), hash_bytes(b"100000000000000000000"));
        assert_eq!(id(SqlValue::Float(-2.5)), id(d("-2.50")));
        assert_eq!(id(s("42.5")), id(d("42.50")));
    }

    #[test]
    fn bad_numbers_are_errors() {
        for text in ["", ".", "-", "1.2.3", "1e", "1e+", "abc", "1 ", "1e5000", "0x10"] {
            assert!(HashVindex.map(&[d(text)]).is_err(), "{text:?}");
        }
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(HashVindex.map(&[SqlValue::Float(f)]).is_err(), "{f}");
        }
    }

    #[test]
    fn null_goes_nowhere() {
        assert_eq!(HashVindex.map(&[SqlValue::Null]).unwrap(), Destination::None);
    }

    #[test]
    fn distinct_integers_get_distinct_ids() {
        let mut ids: Vec<u64> = (0..10_000i64)
            .map(|n| id(SqlValue::Int(n * 7919 - 5_000_000)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10_000);
        // And they spread: each of 16 top-nibble buckets gets a fair share of consecutive integers.
        let mut buckets = [0u32; 16];
        for n in 0..16_000u64 {
            buckets[(hash_u64(n) >> 60) as usize] += 1;
        }
        assert!(buckets.iter().all(|&c| (800..1200).contains(&c)), "{buckets:?}");
    }

    #[test]
    fn map_is_deterministic_over_generated_values() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = match x >> 62 {
                0 => SqlValue::Int(x as i64),
                1 => SqlValue::UInt(x),
                2 => SqlValue::Bytes(Cow::Owned(x.to_le_bytes()[..(x % 9) as usize].to_vec())),
                _ => SqlValue::Decimal(Cow::Owned(format!("{}.{}", x as i32, x % 1000))),
            };
            let a = HashVindex.map(std::slice::from_ref(&v)).unwrap();
            let b = HashVindex.map(&[v.clone().into_owned()]).unwrap();
            assert_eq!(a, b, "{v:?}");
        }
    }

    #[test]
    fn spec_takes_no_keys() {
        let spec: Mapping = serde_yaml_ng::from_str("{ type: hash, column: id }").unwrap();
        assert_eq!(HashVindex::from_spec(&spec).unwrap_err().0, "column");
    }
}
