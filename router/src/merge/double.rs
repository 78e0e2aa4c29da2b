//! Printing a DOUBLE the way MariaDB's text protocol does (for merged `SUM`/`AVG` of floating-point columns).
//!
//! MariaDB prints a double whose column has `decimals < 31` with exactly that many fraction digits (`my_fcvt`), and
//! otherwise (`decimals = 31`, "not fixed") with `my_gcvt` over a wide field: the shortest digit string that reads
//! back as the same double, in positional notation when the decimal exponent is moderate and in `e` notation
//! otherwise. Precisely, with the shortest digits `d₁…dₙ` and the value `0.d₁…dₙ × 10^p`:
//! positional when `-14 ≤ p` and (`p ≤ 15` or `n > p`), else `d₁.d₂…dₙe<p-1>` with no `+` and no zero padding.
//! So `3`, `2.5`, `0.30000000000000004`, `0.00001`, `100000000000000` (1e14), `1e15`, `1.2345678901234568e17`,
//! `1e-15` is `0.000000000000001` and `1e-16` is `1e-16`.

/// MariaDB's "not fixed" decimals value for floating-point columns.
pub(crate) const NOT_FIXED_DEC: u8 = 31;

/// The largest decimal exponent printed positionally (MariaDB's `MAX_DECPT_FOR_F_FORMAT`, `DBL_DIG`).
const MAX_DECPT_FOR_F_FORMAT: i32 = 15;

/// Prints `x` as MariaDB prints a DOUBLE column value with `decimals` fraction digits (31: shortest form).
pub(crate) fn format_double(x: f64, decimals: u8) -> Vec<u8> {
    if decimals < NOT_FIXED_DEC {
        return format!("{:.*}", usize::from(decimals), x).into_bytes();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e17", "3e0", "5e-1".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    let len = digits.len() as i32;
    let decpt = exp + 1;
    let mut out = String::with_capacity(digits.len() + 24);
    if x.is_sign_negative() {
        out.push('-');
    }
    if decpt >= 1 - MAX_DECPT_FOR_F_FORMAT && (decpt <= MAX_DECPT_FOR_F_FORMAT || len > decpt) {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-decpt) as usize));
            out.push_str(&digits);
        } else if decpt < len {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - len) as usize));
        }
    } else {
        out.push_str(&digits[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push_str(&(decpt - 1).to_string());
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shortest(x: f64) -> String {
        String::from_utf8(format_double(x, NOT_FIXED_DEC)).unwrap()
    }

    #[test]
    fn shortest_positional() {
        assert_eq!(shortest(3.0), "3");
        assert_eq!(shortest(2.5), "2.5");
        assert_eq!(shortest(-2.5), "-2.5");
        assert_eq!(shortest(0.0), "0");
        assert_eq!(shortest(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(shortest(0.00001), "0.00001");
        assert_eq!(shortest(1e14), "100000000000000");
        assert_eq!(shortest(123456789012345.6), "123456789012345.6");
        assert_eq!(shortest(1e-15), "0.000000000000001");
        assert_eq!(shortest(1.5e-15), "0.0000000000000015");
        assert_eq!(shortest(1234.5678), "1234.5678");
    }

    #[test]
    fn shortest_exponent_form() {
        assert_eq!(shortest(1e15), "1e15");
        assert_eq!(shortest(1e20), "1e20");
        assert_eq!(shortest(-1e20), "-1e20");
        assert_eq!(shortest(1.5e20), "1.5e20");
        assert_eq!(shortest(123456789012345678.0), "1.2345678901234568e17");
        assert_eq!(shortest(1e-16), "1e-16");
        assert_eq!(shortest(2.5e-300), "2.5e-300");
        assert_eq!(shortest(1.7976931348623157e308), "1.7976931348623157e308");
        // Long mantissas past 10^15 stay positional while they have a fraction.
        assert_eq!(shortest(1234567890123456.7), "1234567890123456.8");
    }

    #[test]
    fn fixed_decimals() {
        let fixed = |x: f64, d: u8| String::from_utf8(format_double(x, d)).unwrap();
        assert_eq!(fixed(2.5, 2), "2.50");
        assert_eq!(fixed(-1.0 / 3.0, 4), "-0.3333");
        assert_eq!(fixed(3.0, 0), "3");
        assert_eq!(fixed(1e20, 1), "100000000000000000000.0");
    }
}
