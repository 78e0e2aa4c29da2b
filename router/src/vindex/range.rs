//! The `range` vindex: explicit integer intervals of the key value, each mapped to one keyspace id.
//!
//! Spec:
//!
//! ```yaml
//! type: range
//! ranges:
//!   - { from: 0, to: 1000000, keyspace_id: "00" }   # [0, 1000000)
//!   - { from: 1000000, keyspace_id: "80" }          # [1000000, +inf)
//! ```
//!
//! Each interval is half-open `[from, to)` over the signed 64-bit value; a missing `from` is unbounded below, a
//! missing `to` unbounded above. Intervals must not overlap; they need not cover every value (a value outside all of
//! them is an error when mapped). `keyspace_id` is an even-length hex prefix of 2 to 16 digits, left-aligned into the
//! 64-bit id like a key-range bound (`"80"` = `0x8000000000000000`); quote it so YAML keeps it a string.
//!
//! Values are integers as the hash vindex sees them (`Int`, `UInt`, canonical decimal-digit strings, whole decimals
//! and floats); anything else is an error.

use std::fmt;

use serde_yaml_ng::{Mapping, Value};

use super::hash::{canonical, Canonical};
use super::{check_keys, describe, single, spec_err, Destination, SpecError, Vindex, VindexError};
use crate::value::SqlValue;

/// One interval `[lo, hi)` of values and its keyspace id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    /// Inclusive lower bound (`i128::MIN` when unbounded).
    lo: i128,
    /// Exclusive upper bound (`i128::MAX` when unbounded).
    hi: i128,
    /// The keyspace id every value of the interval maps to.
    keyspace_id: u64,
}

/// The `range` vindex: integer intervals `[from, to)` mapped to keyspace ids (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
pub struct RangeVindex {
    /// Sorted by `lo`, non-overlapping.
    intervals: Vec<Interval>,
}

impl fmt::Debug for RangeVindex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RangeVindex ")?;
        let mut list = f.debug_list();
        for iv in &self.intervals {
            list.entry(&format_args!(
                "[{}, {}) -> {:016x}",
                bound(iv.lo, i128::MIN),
                bound(iv.hi, i128::MAX),
                iv.keyspace_id
            ));
        }
        list.finish()
    }
}

/// A bound for display: `-inf`/`+inf` for the unbounded sentinel.
fn bound(v: i128, unbounded: i128) -> String {
    if v != unbounded {
        v.to_string()
    } else if unbounded < 0 {
        "-inf".into()
    } else {
        "+inf".into()
    }
}

impl RangeVindex {
    /// Builds the vindex from its spec (`type`, `ranges`).
    pub(crate) fn from_spec(spec: &Mapping) -> Result<Self, SpecError> {
        check_keys(spec, &["type", "ranges"], "", "a range vindex")?;
        const EXAMPLE: &str = "ranges: [ { from: 0, to: 1000000, keyspace_id: \"00\" } ]";
        let list = match spec.get("ranges") {
            Some(Value::Sequence(list)) if !list.is_empty() => list,
            None => return Err(spec_err("ranges", format!("missing; add `{EXAMPLE}`"))),
            Some(Value::Sequence(_)) => {
                return Err(spec_err(
                    "ranges",
                    format!("must list at least one range, e.g. `{EXAMPLE}`"),
                ))
            }
            Some(other) => {
                return Err(spec_err(
                    "ranges",
                    format!("must be a list, found {}; write `{EXAMPLE}`", describe(other)),
                ))
            }
        };
        // (document index, interval)
        let mut intervals: Vec<(usize, Interval)> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let path = format!("ranges[{i}]");
            let Value::Mapping(entry) = item else {
                return Err(spec_err(
                    path,
                    format!(
                        "each range must be a mapping, found {}; write `{{ from: 0, to: 1000000, keyspace_id: \"00\" }}`",
                        describe(item)
                    ),
                ));
            };
            check_keys(entry, &["from", "to", "keyspace_id"], &path, "a range")?;
            let lo = int_bound(entry, "from", &path)?.unwrap_or(i128::MIN);
            let hi = int_bound(entry, "to", &path)?.unwrap_or(i128::MAX);
            if lo >= hi {
                return Err(spec_err(
                    path,
                    format!("empty interval: `to` ({hi}) must be greater than `from` ({lo})"),
                ));
            }
            let keyspace_id = keyspace_id(entry, &path)?;
            intervals.push((i, Interval { lo, hi, keyspace_id }));
        }
        intervals.sort_by_key(|(_, iv)| iv.lo);
        for pair in intervals.windows(2) {
            let ((ia, a), (ib, b)) = (pair[0], pair[1]);
            if b.lo < a.hi {
                let (first, second) = if ia < ib { (ia, ib) } else { (ib, ia) };
                return Err(spec_err(
                    format!("ranges[{second}]"),
                    format!(
                        "overlaps ranges[{first}]; intervals are [from, to) and must not overlap (a range ending at \
                         `to: N` and the next starting at `from: N` is fine)"
                    ),
                ));
            }
        }
        Ok(RangeVindex {
            intervals: intervals.into_iter().map(|(_, iv)| iv).collect(),
        })
    }

    /// The keyspace id of an integer value, if an interval holds it.
    fn lookup(&self, v: i128) -> Option<u64> {
        let after = self.intervals.partition_point(|iv| iv.lo <= v);
        let iv = self.intervals.get(after.checked_sub(1)?)?;
        (v < iv.hi).then_some(iv.keyspace_id)
    }
}

/// The optional integer bound `key` of a range entry.
fn int_bound(entry: &Mapping, key: &str, path: &str) -> Result<Option<i128>, SpecError> {
    match entry.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().map(i128::from)),
        Some(other) => Err(spec_err(
            format!("{path}.{key}"),
            format!(
                "must be an integer between {} and {}, found {}; leave `{key}` out for an unbounded side",
                i64::MIN,
                i64::MAX,
                match other {
                    Value::Number(n) => n.to_string(),
                    v => describe(v).to_string(),
                }
            ),
        )),
    }
}

/// The `keyspace_id` hex prefix of a range entry, left-aligned into 64 bits.
fn keyspace_id(entry: &Mapping, path: &str) -> Result<u64, SpecError> {
    let p = format!("{path}.keyspace_id");
    let hex = match entry.get("keyspace_id") {
        Some(Value::String(s)) => s.as_str(),
        None => return Err(spec_err(p, "missing; add `keyspace_id: \"80\"` (a hex prefix, quoted)")),
        Some(Value::Number(n)) => {
            return Err(spec_err(
                p,
                format!(
                    "found the number {n}; quote the hex prefix so YAML keeps it a string, e.g. `keyspace_id: \"{n}\"`"
                ),
            ))
        }
        Some(other) => {
            return Err(spec_err(
                p,
                format!("must be a quoted hex prefix like \"80\", found {}", describe(other)),
            ))
        }
    };
    if hex.is_empty() || hex.len() > 16 || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(spec_err(
            p,
            format!("{hex:?} is not an even number (2 to 16) of hex digits; write e.g. \"80\" or \"c0\""),
        ));
    }
    let v = u64::from_str_radix(hex, 16).map_err(|e| spec_err(path, e.to_string()))?;
    Ok(if hex.len() == 16 {
        v
    } else {
        v << (64 - 4 * hex.len() as u32)
    })
}

impl Vindex for RangeVindex {
    fn kind(&self) -> &'static str {
        "range"
    }

    fn map(&self, values: &[SqlValue<'_>]) -> Result<Destination, VindexError> {
        let v = single("range", values)?;
        match canonical(v)? {
            Canonical::Null => Ok(Destination::None),
            Canonical::Int(n) => match self.lookup(n) {
                Some(id) => Ok(Destination::KeyspaceId(id)),
                None => Err(VindexError::new(format!(
                    "no range holds value {n}; add a range covering it to the range vindex"
                ))),
            },
            Canonical::Bytes(b) => Err(VindexError::new(format!(
                "a range vindex maps integers, not {:?}",
                String::from_utf8_lossy(&b)
            ))),
        }
    }

    fn is_functional(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::vindex::tests::{build_err, spec};

    fn vindex(yaml: &str) -> RangeVindex {
        RangeVindex::from_spec(&spec(yaml)).unwrap()
    }

    fn two() -> RangeVindex {
        vindex(
            "{ type: range, ranges: [ { from: 1000000, keyspace_id: \"80\" }, \
             { from: 0, to: 1000000, keyspace_id: \"00\" } ] }",
        )
    }

    fn map(v: &RangeVindex, x: SqlValue<'_>) -> Result<Destination, VindexError> {
        v.map(&[x])
    }

    #[test]
    fn boundaries_are_from_inclusive_to_exclusive() {
        let v = two();
        let k = |n: i64| map(&v, SqlValue::Int(n));
        assert_eq!(k(0).unwrap(), Destination::KeyspaceId(0));
        assert_eq!(k(999_999).unwrap(), Destination::KeyspaceId(0));
        assert_eq!(k(1_000_000).unwrap(), Destination::KeyspaceId(0x8000_0000_0000_0000));
        assert_eq!(k(i64::MAX).unwrap(), Destination::KeyspaceId(0x8000_0000_0000_0000));
        assert_eq!(
            map(&v, SqlValue::UInt(u64::MAX)).unwrap(),
            Destination::KeyspaceId(0x8000_0000_0000_0000)
        );
        let e = k(-1).unwrap_err();
        assert!(e.message.contains("no range holds value -1"), "{e}");
        assert_eq!(map(&v, SqlValue::Null).unwrap(), Destination::None);
    }

    #[test]
    fn integer_forms_agree_and_others_are_errors() {
        let v = two();
        let want = Destination::KeyspaceId(0x8000_0000_0000_0000);
        let s = |t: &'static str| SqlValue::Bytes(Cow::Borrowed(t.as_bytes()));
        assert_eq!(map(&v, s("1000000")).unwrap(), want);
        assert_eq!(map(&v, SqlValue::Decimal("1000000.00".into())).unwrap(), want);
        assert_eq!(map(&v, SqlValue::Float(1e6)).unwrap(), want);
        assert!(map(&v, s("-1")).is_err());
        assert_eq!(
            map(&v, s(" 01000000")).unwrap(),
            want,
            "numeric strings read as MySQL reads them"
        );
        for bad in [s("abc"), SqlValue::Decimal("1.5".into()), SqlValue::Float(0.5)] {
            assert!(map(&v, bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unbounded_below_and_gaps() {
        let v = vindex(
            "{ type: range, ranges: [ { to: -10, keyspace_id: \"0102\" }, { from: 10, to: 20, keyspace_id: \
             \"0123456789abcdef\" } ] }",
        );
        assert_eq!(
            map(&v, SqlValue::Int(i64::MIN)).unwrap(),
            Destination::KeyspaceId(0x0102 << 48)
        );
        assert_eq!(
            map(&v, SqlValue::Int(-11)).unwrap(),
            Destination::KeyspaceId(0x0102 << 48)
        );
        assert!(map(&v, SqlValue::Int(-10)).is_err());
        assert!(map(&v, SqlValue::Int(0)).is_err());
        assert_eq!(
            map(&v, SqlValue::Int(19)).unwrap(),
            Destination::KeyspaceId(0x0123_4567_89ab_cdef)
        );
        assert!(map(&v, SqlValue::Int(20)).is_err());
        assert!(format!("{v:?}").contains("[-inf, -10) -> 0102000000000000"), "{v:?}");
    }

    #[test]
    fn overlaps_are_rejected() {
        let (path, msg) = build_err(
            "{ type: range, ranges: [ { from: 0, to: 100, keyspace_id: \"00\" }, { from: 200, keyspace_id: \"c0\" }, \
             { from: 99, to: 150, keyspace_id: \"80\" } ] }",
        );
        assert_eq!(path, "ranges[2]");
        assert!(msg.contains("overlaps ranges[0]"), "{msg}");
        let (path, _) =
            build_err("{ type: range, ranges: [ { keyspace_id: \"00\" }, { from: 5, to: 6, keyspace_id: \"80\" } ] }");
        assert_eq!(path, "ranges[1]");
        // Touching is fine.
        vindex("{ type: range, ranges: [ { to: 5, keyspace_id: \"00\" }, { from: 5, keyspace_id: \"80\" } ] }");
    }

    #[test]
    fn spec_errors_name_the_place() {
        let cases = [
            ("{ type: range }", "ranges"),
            ("{ type: range, ranges: [] }", "ranges"),
            ("{ type: range, ranges: { a: 1 } }", "ranges"),
            ("{ type: range, ranges: [ 5 ] }", "ranges[0]"),
            (
                "{ type: range, ranges: [ { from: 5, to: 5, keyspace_id: \"00\" } ] }",
                "ranges[0]",
            ),
            (
                "{ type: range, ranges: [ { from: x, keyspace_id: \"00\" } ] }",
                "ranges[0].from",
            ),
            (
                "{ type: range, ranges: [ { from: 1.5, keyspace_id: \"00\" } ] }",
                "ranges[0].from",
            ),
            (
                "{ type: range, ranges: [ { to: 18446744073709551615, keyspace_id: \"00\" } ] }",
                "ranges[0].to",
            ),
            ("{ type: range, ranges: [ { from: 0 } ] }", "ranges[0].keyspace_id"),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: 80 } ] }",
                "ranges[0].keyspace_id",
            ),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: \"8\" } ] }",
                "ranges[0].keyspace_id",
            ),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: \"xy\" } ] }",
                "ranges[0].keyspace_id",
            ),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: \"\" } ] }",
                "ranges[0].keyspace_id",
            ),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: \"0123456789abcdef01\" } ] }",
                "ranges[0].keyspace_id",
            ),
            (
                "{ type: range, ranges: [ { from: 0, keyspace_id: \"00\" } ], extra: 1 }",
                "extra",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(build_err(yaml).0, want, "{yaml}");
        }
        let (_, msg) = build_err("{ type: range, ranges: [ { from: 0, keyspace_id: 80 } ] }");
        assert!(msg.contains("quote"), "{msg}");
    }

    #[test]
    fn generated_values_land_in_their_interval() {
        // Ten intervals of width 1000 starting at -5000, keyspace ids 00, 10, ..., 90.
        let mut yaml = String::from("{ type: range, ranges: [");
        for i in 0..10 {
            let from = -5000 + 1000 * i;
            yaml.push_str(&format!(
                "{{ from: {from}, to: {}, keyspace_id: \"{:02x}\" }},",
                from + 1000,
                i * 16
            ));
        }
        yaml.push_str("] }");
        let v = vindex(&yaml);
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let n = (x >> 33) as i64 % 6000 - 5500; // -5500..500: some below the first interval
            let got = map(&v, SqlValue::Int(n));
            assert_eq!(got, map(&v, SqlValue::Int(n)), "deterministic");
            if (-5000..5000).contains(&n) {
                let i = (n + 5000) / 1000;
                assert_eq!(got.unwrap(), Destination::KeyspaceId((i as u64 * 16) << 56), "{n}");
            } else {
                assert!(got.is_err(), "{n}");
            }
        }
    }
}
