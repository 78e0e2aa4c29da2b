//! Exact decimal arithmetic on the text MariaDB prints for integers and DECIMAL values: compare, add, divide.
//!
//! Numbers are arbitrary length (`DECIMAL(65,30)` sums, unsigned BIGINT sums), so nothing here goes through `f64`
//! or a fixed-width integer. Accepted text: an optional sign, digits, optionally `.` and more digits (at least one
//! digit in all); no exponent, no spaces.

use std::cmp::Ordering;

/// A decimal number written in text, borrowed: sign, integer digits without leading zeros, fraction digits without
/// trailing zeros (so equal numbers have equal parts, apart from the sign of zero).
#[derive(Debug, Clone, Copy)]
struct Parts<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
}

/// Splits decimal text into sign, integer digits and fraction digits as written.
fn split(text: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (negative, rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (int, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(dot) => (&rest[..dot], &rest[dot + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    Some((negative, int, frac))
}

fn parts(text: &[u8]) -> Option<Parts<'_>> {
    let (negative, int, frac) = split(text)?;
    let lead = int.iter().take_while(|&&c| c == b'0').count();
    let trail = frac.iter().rev().take_while(|&&c| c == b'0').count();
    let (int, frac) = (&int[lead..], &frac[..frac.len() - trail]);
    let zero = int.is_empty() && frac.is_empty();
    Some(Parts {
        negative: negative && !zero,
        int,
        frac,
    })
}

/// Compares two numbers written as decimal text exactly (`"1.50" = "1.5"`, `"-0" = "0"`, `"007" = "7"`); `None` when
/// either is not plain decimal text.
pub(crate) fn compare_text(a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (a, b) = (parts(a)?, parts(b)?);
    let magnitude = |x: Parts, y: Parts| {
        x.int
            .len()
            .cmp(&y.int.len())
            .then_with(|| x.int.cmp(y.int))
            .then_with(|| x.frac.cmp(y.frac))
    };
    Some(match (a.negative, b.negative) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => magnitude(a, b),
        (true, true) => magnitude(b, a),
    })
}

/// An exact decimal number: `(-1)^negative × digits × 10^-scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    negative: bool,
    /// The magnitude times `10^scale`, as base-10 digits, least significant first, without high zeros (zero is
    /// empty).
    digits: Vec<u8>,
    /// Digits after the decimal point.
    scale: usize,
}

impl Decimal {
    /// Parses decimal text, keeping the number of fraction digits as written (`"1.50"` has scale 2).
    pub(crate) fn parse(text: &[u8]) -> Option<Decimal> {
        let (negative, int, frac) = split(text)?;
        let mut digits: Vec<u8> = frac.iter().rev().chain(int.iter().rev()).map(|c| c - b'0').collect();
        trim(&mut digits);
        Some(Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            scale: frac.len(),
        })
    }

    /// Adds `other` to `self`; the result has the larger of the two scales.
    pub(crate) fn add(&mut self, other: &Decimal) {
        let scale = self.scale.max(other.scale);
        self.rescale(scale);
        let shift = scale - other.scale;
        let other_digits = |i: usize| {
            if i < shift {
                0
            } else {
                other.digits.get(i - shift).copied().unwrap_or(0)
            }
        };
        let other_len = if other.digits.is_empty() {
            0
        } else {
            other.digits.len() + shift
        };
        if self.negative == other.negative || other.digits.is_empty() {
            let len = self.digits.len().max(other_len);
            self.digits.resize(len, 0);
            let mut carry = 0;
            for i in 0..len {
                let sum = self.digits[i] + other_digits(i) + carry;
                self.digits[i] = sum % 10;
                carry = sum / 10;
            }
            if carry > 0 {
                self.digits.push(carry);
            }
        } else {
            // Opposite signs: subtract the smaller magnitude from the larger; the larger one's sign wins.
            let self_larger = match self.digits.len().cmp(&other_len) {
                Ordering::Equal => {
                    (0..other_len)
                        .rev()
                        .map(|i| self.digits[i].cmp(&other_digits(i)))
                        .find(|o| o.is_ne())
                        != Some(Ordering::Less)
                }
                o => o == Ordering::Greater,
            };
            let len = self.digits.len().max(other_len);
            self.digits.resize(len, 0);
            let mut borrow = 0;
            for i in 0..len {
                let (big, small) = if self_larger {
                    (self.digits[i], other_digits(i))
                } else {
                    (other_digits(i), self.digits[i])
                };
                let (d, b) = if big >= small + borrow {
                    (big - small - borrow, 0)
                } else {
                    (big + 10 - small - borrow, 1)
                };
                self.digits[i] = d;
                borrow = b;
            }
            if !self_larger {
                self.negative = other.negative;
            }
            trim(&mut self.digits);
        }
        if self.digits.is_empty() {
            self.negative = false;
        }
    }

    /// `self / divisor`, rounded half away from zero (MariaDB's `HALF_UP`) to `scale` fraction digits.
    pub(crate) fn div_round(&self, divisor: u64, scale: usize) -> Decimal {
        assert!(divisor > 0, "division by zero");
        // floor(|self| × 10^(scale+1)): one guard digit decides the rounding; the digits dropped below it cannot.
        let wanted = scale + 1;
        let numerator: Vec<u8> = if wanted >= self.scale {
            std::iter::repeat_n(0, wanted - self.scale)
                .chain(self.digits.iter().copied())
                .collect()
        } else {
            self.digits.get(self.scale - wanted..).unwrap_or(&[]).to_vec()
        };
        let divisor = u128::from(divisor);
        let mut quotient = Vec::with_capacity(numerator.len());
        let mut rem: u128 = 0;
        for &d in numerator.iter().rev() {
            rem = rem * 10 + u128::from(d);
            quotient.push((rem / divisor) as u8);
            rem %= divisor;
        }
        quotient.reverse();
        let guard = if quotient.is_empty() { 0 } else { quotient.remove(0) };
        if guard >= 5 {
            increment(&mut quotient);
        }
        trim(&mut quotient);
        Decimal {
            negative: self.negative && !quotient.is_empty(),
            digits: quotient,
            scale,
        }
    }

    /// The number as MariaDB prints a DECIMAL: `-`, integer digits (at least one), and exactly `scale` fraction
    /// digits.
    pub(crate) fn to_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.digits.len().max(self.scale) + 3);
        if self.negative {
            out.push(b'-');
        }
        if self.digits.len() > self.scale {
            out.extend(self.digits[self.scale..].iter().rev().map(|d| d + b'0'));
        } else {
            out.push(b'0');
        }
        if self.scale > 0 {
            out.push(b'.');
            out.extend(
                (0..self.scale)
                    .rev()
                    .map(|i| self.digits.get(i).copied().unwrap_or(0) + b'0'),
            );
        }
        out
    }

    /// Multiplies the digits by `10^(scale - self.scale)` so the value is unchanged at the larger scale.
    fn rescale(&mut self, scale: usize) {
        if scale > self.scale && !self.digits.is_empty() {
            self.digits.splice(0..0, std::iter::repeat_n(0, scale - self.scale));
        }
        self.scale = self.scale.max(scale);
    }
}

/// A running SUM of decimal text: `i128` arithmetic while the digits fit (the common case, no allocation), an
/// arbitrary-length [`Decimal`] once they do not. The result keeps the largest scale of the values added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecimalSum {
    /// Nothing added yet (the SUM of no values is NULL).
    Empty,
    /// `value × 10^-scale`.
    Small { value: i128, scale: usize },
    /// Too many digits for `i128`.
    Big(Decimal),
}

/// The most digits an `i128` mantissa is trusted with (10^36 < 2^127 / 100, so a rescale or a sum can be checked).
const SMALL_DIGITS: usize = 36;

impl DecimalSum {
    /// Adds one value written as decimal text; `None` (and no change) when it is not decimal text.
    pub(crate) fn add_text(&mut self, text: &[u8]) -> Option<()> {
        let (negative, int, frac) = split(text)?;
        let small = (int.len() + frac.len() <= SMALL_DIGITS).then(|| {
            let magnitude = int
                .iter()
                .chain(frac)
                .fold(0i128, |n, &d| n * 10 + i128::from(d - b'0'));
            (if negative { -magnitude } else { magnitude }, frac.len())
        });
        match (&mut *self, small) {
            (DecimalSum::Empty, Some((value, scale))) => *self = DecimalSum::Small { value, scale },
            (DecimalSum::Small { value, scale }, Some((v, s))) => {
                let target = (*scale).max(s);
                let sum = rescale_i128(*value, *scale, target)
                    .zip(rescale_i128(v, s, target))
                    .and_then(|(a, b)| a.checked_add(b));
                match sum {
                    Some(sum) => {
                        *self = DecimalSum::Small {
                            value: sum,
                            scale: target,
                        }
                    }
                    None => {
                        let mut big = self.to_big();
                        big.add(&Decimal::parse(text)?);
                        *self = DecimalSum::Big(big);
                    }
                }
            }
            _ => {
                let mut big = self.to_big();
                big.add(&Decimal::parse(text)?);
                *self = DecimalSum::Big(big);
            }
        }
        Some(())
    }

    /// The sum as MariaDB prints a DECIMAL, or `None` when nothing was added.
    pub(crate) fn finish(&self) -> Option<Vec<u8>> {
        match self {
            DecimalSum::Empty => None,
            DecimalSum::Small { value, scale } => Some(small_text(*value, *scale)),
            DecimalSum::Big(d) => Some(d.to_text()),
        }
    }

    fn to_big(&self) -> Decimal {
        match self {
            DecimalSum::Empty => Decimal {
                negative: false,
                digits: Vec::new(),
                scale: 0,
            },
            DecimalSum::Small { value, scale } => Decimal::parse(&small_text(*value, *scale)).expect("printed decimal"),
            DecimalSum::Big(d) => d.clone(),
        }
    }
}

/// `value × 10^(to - from)` (with `to ≥ from`), `None` on overflow.
fn rescale_i128(value: i128, from: usize, to: usize) -> Option<i128> {
    let shift = u32::try_from(to - from).ok()?;
    value.checked_mul(10i128.checked_pow(shift)?)
}

/// Prints `value × 10^-scale` with exactly `scale` fraction digits (at least one integer digit, no sign on zero).
pub(crate) fn small_text(value: i128, scale: usize) -> Vec<u8> {
    // Digits least significant first: at most 39 for an i128, plus zeros up to the scale.
    let mut magnitude = value.unsigned_abs();
    let mut digits = [0u8; 40];
    let mut n = 0;
    while magnitude > 0 {
        digits[n] = (magnitude % 10) as u8;
        magnitude /= 10;
        n += 1;
    }
    let total = n.max(scale + 1);
    let mut out = Vec::with_capacity(total + 2);
    if value < 0 {
        out.push(b'-');
    }
    for i in (0..total).rev() {
        out.push(b'0' + if i < n { digits[i] } else { 0 });
        if i == scale && scale > 0 {
            out.push(b'.');
        }
    }
    out
}

/// Parses an optionally signed integer written in decimal digits (no spaces); `None` if it is not one or does not
/// fit an `i128`.
pub(crate) fn parse_i128(text: &[u8]) -> Option<i128> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// Removes high zero digits (least-significant-first order).
fn trim(digits: &mut Vec<u8>) {
    while digits.last() == Some(&0) {
        digits.pop();
    }
}

/// Adds one to a least-significant-first digit string.
fn increment(digits: &mut Vec<u8>) {
    for d in digits.iter_mut() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    digits.push(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    fn dec(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap_or_else(|| panic!("{s:?} parses"))
    }

    fn text(d: &Decimal) -> String {
        String::from_utf8(d.to_text()).unwrap()
    }

    fn sum(values: &[&str]) -> String {
        let mut acc = dec(values[0]);
        for v in &values[1..] {
            acc.add(&dec(v));
        }
        text(&acc)
    }

    #[test]
    fn compares_exactly() {
        let c = |a: &str, b: &str| compare_text(a.as_bytes(), b.as_bytes()).unwrap();
        assert_eq!(c("1.50", "1.5"), Equal);
        assert_eq!(c("-0", "0.000"), Equal);
        assert_eq!(c("007", "7"), Equal);
        assert_eq!(c("10", "9"), Greater);
        assert_eq!(c("-10", "-9"), Less);
        assert_eq!(c("-1", "0"), Less);
        assert_eq!(c("0.1", "0.09"), Greater);
        assert_eq!(c("-0.1", "-0.09"), Less);
        assert_eq!(
            c("12345678901234567890123456789.1", "12345678901234567890123456789.10000"),
            Equal
        );
        assert_eq!(c("18446744073709551615", "9223372036854775807"), Greater);
        assert_eq!(c("-9223372036854775808", "-9223372036854775807"), Less);
        assert_eq!(c(".5", "0.5"), Equal);
        assert_eq!(c("+2", "2."), Equal);
        // 0.1 + 0.2 as doubles would say these are equal to 0.3 but they are not.
        assert_eq!(c("0.30000000000000001", "0.3"), Greater);
    }

    #[test]
    fn rejects_non_decimal_text() {
        for bad in ["", "-", ".", "1e5", "abc", " 1", "1 ", "1.2.3", "--1", "0x10"] {
            assert!(compare_text(bad.as_bytes(), b"1").is_none(), "{bad:?}");
            assert!(Decimal::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn adds_with_the_larger_scale() {
        assert_eq!(sum(&["1", "2", "3"]), "6");
        assert_eq!(sum(&["1.50", "2.00"]), "3.50");
        assert_eq!(sum(&["1.5", "2.25"]), "3.75");
        assert_eq!(sum(&["0.1", "0.2"]), "0.3");
        assert_eq!(sum(&["999", "1"]), "1000");
        assert_eq!(sum(&["99.99", "0.01"]), "100.00");
        assert_eq!(
            sum(&["18446744073709551615", "18446744073709551615"]),
            "36893488147419103230"
        );
    }

    #[test]
    fn adds_negative_numbers() {
        assert_eq!(sum(&["-5", "3"]), "-2");
        assert_eq!(sum(&["5", "-3"]), "2");
        assert_eq!(sum(&["-5", "-3"]), "-8");
        assert_eq!(sum(&["-1.50", "1.50"]), "0.00", "zero has no sign");
        assert_eq!(sum(&["1000", "-0.001"]), "999.999");
        assert_eq!(sum(&["-0.001", "1000"]), "999.999");
        assert_eq!(sum(&["0.001", "-1000"]), "-999.999");
        assert_eq!(sum(&["-10", "10", "-3"]), "-3");
        assert_eq!(sum(&["0", "-7.25"]), "-7.25");
        assert_eq!(sum(&["-7.25", "0"]), "-7.25");
        assert_eq!(sum(&["-0", "0"]), "0");
    }

    /// Sums with [`DecimalSum`] and, independently, with [`Decimal`]; both must print the same.
    fn running_sum(values: &[&str]) -> String {
        let mut acc = DecimalSum::Empty;
        for v in values {
            acc.add_text(v.as_bytes()).unwrap();
        }
        let fast = String::from_utf8(acc.finish().unwrap()).unwrap();
        assert_eq!(fast, sum(values), "{values:?}");
        fast
    }

    #[test]
    fn running_sum_matches_exact_addition() {
        assert_eq!(running_sum(&["1", "2", "3"]), "6");
        assert_eq!(running_sum(&["1.50", "-2.25"]), "-0.75");
        assert_eq!(running_sum(&["-1.50", "1.5"]), "0.00");
        assert_eq!(running_sum(&["0.001", "5"]), "5.001");
        assert_eq!(running_sum(&["-0.05"]), "-0.05");
        assert_eq!(running_sum(&["007.10"]), "7.10");
        // Past i128: the sum moves to arbitrary length and keeps going.
        let big = "99999999999999999999999999999999999999";
        assert_eq!(running_sum(&[big, big, "1"]), "199999999999999999999999999999999999999");
        assert_eq!(
            running_sum(&["170141183460469231731687303715884105727", "1"]),
            "170141183460469231731687303715884105728"
        );
        let tiny = format!("1.{}1", "0".repeat(35));
        assert_eq!(
            running_sum(&[&tiny, "99999999"]),
            format!("100000000.{}1", "0".repeat(35))
        );
        assert_eq!(
            running_sum(&[
                "-99999999999999999999999999999999999",
                "-99999999999999999999999999999999999"
            ]),
            "-199999999999999999999999999999999998"
        );
        let mut acc = DecimalSum::Empty;
        assert_eq!(acc.finish(), None);
        assert_eq!(acc.add_text(b"x"), None);
        assert_eq!(acc, DecimalSum::Empty);
    }

    #[test]
    fn prints_and_parses_i128() {
        let t = |v: i128, scale: usize| String::from_utf8(small_text(v, scale)).unwrap();
        assert_eq!(t(0, 0), "0");
        assert_eq!(t(0, 2), "0.00");
        assert_eq!(t(5, 2), "0.05");
        assert_eq!(t(-5, 2), "-0.05");
        assert_eq!(t(12345, 2), "123.45");
        assert_eq!(t(-7, 0), "-7");
        assert_eq!(t(i128::MIN, 0), i128::MIN.to_string());
        assert_eq!(t(i128::MAX, 3), "170141183460469231731687303715884105.727");
        assert_eq!(parse_i128(b"-42"), Some(-42));
        assert_eq!(parse_i128(b"+7"), Some(7));
        assert_eq!(parse_i128(b"0042"), Some(42));
        assert_eq!(parse_i128(b"18446744073709551615"), Some(18446744073709551615));
        for bad in [
            "",
            "-",
            "1.5",
            " 1",
            "1e3",
            "999999999999999999999999999999999999999999",
        ] {
            assert_eq!(parse_i128(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn prints_like_mariadb() {
        assert_eq!(text(&dec("0.05")), "0.05");
        assert_eq!(text(&dec("-0.05")), "-0.05");
        assert_eq!(text(&dec("007.10")), "7.10");
        assert_eq!(text(&dec("-0.00")), "0.00");
        assert_eq!(text(&dec(".5")), "0.5");
        assert_eq!(text(&dec("5.")), "5");
    }

    #[test]
    fn divides_rounding_half_up() {
        let div = |s: &str, by: u64, scale: usize| text(&dec(s).div_round(by, scale));
        assert_eq!(div("3", 2, 4), "1.5000");
        assert_eq!(div("2", 3, 4), "0.6667");
        assert_eq!(div("1", 3, 4), "0.3333");
        assert_eq!(div("-2", 3, 4), "-0.6667", "half-up rounds away from zero");
        assert_eq!(div("1", 8, 2), "0.13", "0.125 rounds up");
        assert_eq!(div("-1", 8, 2), "-0.13");
        assert_eq!(div("-1", 1000, 2), "0.00", "no negative zero");
        assert_eq!(div("10.50", 4, 6), "2.625000");
        assert_eq!(div("0", 5, 4), "0.0000");
        assert_eq!(div("7", 7, 0), "1");
        assert_eq!(div("1.23456789", 1, 2), "1.23");
        assert_eq!(div("1.235", 1, 2), "1.24");
        assert_eq!(div("36893488147419103230", 18446744073709551615, 4), "2.0000");
        assert_eq!(
            div("99999999999999999999999999999999999999", 7, 4),
            "14285714285714285714285714285714285714.1429"
        );
    }
}
