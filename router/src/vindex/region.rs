//! The `region` vindex (geo-sharding): a region column picks a slice of the keyspace-id space and a home cell; the
//! key is hashed inside the slice.
//!
//! Spec:
//!
//! ```yaml
//! type: region
//! column: region            # the column holding the row's region
//! regions: { eu: dc1, us: dc2 }   # region name -> home cell, in this order
//! ```
//!
//! With N regions, the region at position i (in document order) owns the key range
//! `[floor(i * 2^64 / N), floor((i+1) * 2^64 / N))`, the last one running to the end of the space. So two regions
//! split at `80`, four at `40`, `80`, `c0`; other counts give bounds that are not short hex prefixes (three regions
//! split at `5555555555555555` and `aaaaaaaaaaaaaaaa`). Adding, removing or reordering regions moves every
//! region's range: treat the list as append-never, or plan a resharding.
//!
//! A row with region r and key k gets the keyspace id `start + ((h * width) >> 64)` (computed in 128 bits), where
//! `[start, start + width)` is r's range and `h` is the [`hash`](super::hash) vindex's id of k: the id always lies in
//! r's range and keys spread evenly inside it. With only the region known, the destination is r's whole range.
//! Region values are compared to the names ASCII-case-insensitively, as text (`Int` 7 matches a region named "7").

use std::borrow::Cow;

use serde_yaml_ng::{Mapping, Value};

use super::hash::hash_value;
use super::{check_keys, describe, required_str, spec_err, Destination, SpecError, Vindex, VindexError};
use crate::keyrange::KeyRange;
use crate::value::SqlValue;

/// The `region` vindex: the region column and each region's home cell and key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionVindex {
    /// The column holding the region.
    column: String,
    /// (region, cell, key range), in document order.
    regions: Vec<(String, String, KeyRange)>,
}

impl RegionVindex {
    /// Builds the vindex from its spec (`type`, `column`, `regions`).
    pub(crate) fn from_spec(spec: &Mapping) -> Result<Self, SpecError> {
        check_keys(spec, &["type", "column", "regions"], "", "a region vindex")?;
        let column = required_str(spec, "column", "", "column: region")?;
        const EXAMPLE: &str = "regions: { eu: dc1, us: dc2 }";
        let map = match spec.get("regions") {
            Some(Value::Mapping(m)) if !m.is_empty() => m,
            None => {
                return Err(spec_err(
                    "regions",
                    format!("missing; add `{EXAMPLE}` (region name: home cell)"),
                ))
            }
            Some(Value::Mapping(_)) => {
                return Err(spec_err(
                    "regions",
                    format!("must name at least one region, e.g. `{EXAMPLE}`"),
                ))
            }
            Some(other) => {
                return Err(spec_err(
                    "regions",
                    format!(
                        "must be a mapping of region name to home cell, found {}; write `{EXAMPLE}`",
                        describe(other)
                    ),
                ))
            }
        };
        let mut named: Vec<(String, String)> = Vec::with_capacity(map.len());
        for (k, v) in map {
            let name = match k {
                Value::String(s) if !s.is_empty() => s,
                Value::String(_) => return Err(spec_err("regions", "a region name is empty; name every region")),
                other => {
                    return Err(spec_err(
                        "regions",
                        format!(
                            "region names must be strings, found {}; quote the name",
                            describe(other)
                        ),
                    ))
                }
            };
            let path = format!("regions.{name}");
            let cell = match v {
                Value::String(c) if !c.is_empty() => c,
                other => {
                    return Err(spec_err(
                        path,
                        format!(
                            "must be the region's home cell name, found {}; write e.g. `{name}: dc1`",
                            if matches!(other, Value::String(_)) {
                                "an empty string"
                            } else {
                                describe(other)
                            }
                        ),
                    ))
                }
            };
            if let Some((prev, _)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(spec_err(
                    path,
                    format!("region {name:?} repeats {prev:?} (region names are case-insensitive); remove one"),
                ));
            }
            named.push((name.clone(), cell.clone()));
        }
        let n = named.len() as u128;
        let regions = named
            .into_iter()
            .enumerate()
            .map(|(i, (name, cell))| {
                let i = i as u128;
                let start = ((i << 64) / n) as u64;
                let end = (i + 1 < n).then(|| (((i + 1) << 64) / n) as u64);
                (name, cell, KeyRange { start, end })
            })
            .collect();
        Ok(RegionVindex {
            column: column.to_string(),
            regions,
        })
    }

    /// The column holding the row's region.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// Each region's (name, home cell, key range), in document order; the ranges tile the keyspace-id space.
    pub fn regions(&self) -> &[(String, String, KeyRange)] {
        &self.regions
    }

    /// The key range of the region `value` names, or an error naming the known regions; `None` for NULL.
    fn region_range(&self, value: &SqlValue<'_>) -> Result<Option<KeyRange>, VindexError> {
        let text: Cow<'_, [u8]> = match value {
            SqlValue::Null => return Ok(None),
            SqlValue::Bytes(b) => Cow::Borrowed(b),
            SqlValue::Decimal(d) => Cow::Borrowed(d.as_bytes()),
            SqlValue::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            SqlValue::UInt(u) => Cow::Owned(u.to_string().into_bytes()),
            SqlValue::Float(f) => Cow::Owned(f.to_string().into_bytes()),
        };
        match self
            .regions
            .iter()
            .find(|(name, _, _)| name.as_bytes().eq_ignore_ascii_case(&text))
        {
            Some((_, _, range)) => Ok(Some(*range)),
            None => Err(VindexError::new(format!(
                "unknown region {:?} in column `{}`; known regions: {}",
                String::from_utf8_lossy(&text),
                self.column,
                self.regions
                    .iter()
                    .map(|(n, _, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The keyspace id of a key whose hash is `h` inside `range`: `start + ((h * width) >> 64)`.
#[inline]
fn place(range: KeyRange, h: u64) -> u64 {
    let width = range.end.map_or(1u128 << 64, u128::from) - u128::from(range.start);
    range.start + ((u128::from(h) * width) >> 64) as u64
}

impl Vindex for RegionVindex {
    fn kind(&self) -> &'static str {
        "region"
    }

    fn map(&self, values: &[SqlValue<'_>]) -> Result<Destination, VindexError> {
        let (region, key) = match values {
            [r] => (r, None),
            [r, k] => (r, Some(k)),
            _ => {
                return Err(VindexError::new(format!(
                    "a region vindex maps [region] or [region, key], got {} values",
                    values.len()
                )))
            }
        };
        let Some(range) = self.region_range(region)? else {
            return Ok(Destination::None);
        };
        let Some(key) = key else {
            return Ok(Destination::Range(range));
        };
        Ok(match hash_value(key)? {
            Some(h) => Destination::KeyspaceId(place(range, h)),
            None => Destination::None,
        })
    }

    fn is_functional(&self) -> bool {
        true
    }

    fn as_region(&self) -> Option<&RegionVindex> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vindex::hash::hash_u64;
    use crate::vindex::tests::{build_err, spec};

    fn vindex(yaml: &str) -> RegionVindex {
        RegionVindex::from_spec(&spec(yaml)).unwrap()
    }

    fn s(t: &str) -> SqlValue<'_> {
        SqlValue::Bytes(Cow::Borrowed(t.as_bytes()))
    }

    fn id(v: &RegionVindex, region: &str, key: SqlValue<'_>) -> u64 {
        match v.map(&[s(region), key]).unwrap() {
            Destination::KeyspaceId(id) => id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn regions_split_the_space_in_document_order() {
        let v = vindex("{ type: region, column: region, regions: { us: dc2, eu: dc1 } }");
        assert_eq!(v.column(), "region");
        let r = v.regions();
        assert_eq!((r[0].0.as_str(), r[0].1.as_str()), ("us", "dc2"));
        assert_eq!(r[0].2, KeyRange::parse("-80").unwrap());
        assert_eq!((r[1].0.as_str(), r[1].1.as_str()), ("eu", "dc1"));
        assert_eq!(r[1].2, KeyRange::parse("80-").unwrap());

        let four = vindex("{ type: region, column: r, regions: { a: c, b: c, c: c, d: c } }");
        let names: Vec<String> = four.regions().iter().map(|(_, _, r)| r.to_string()).collect();
        assert_eq!(names, ["-40", "40-80", "80-c0", "c0-"]);

        let three = vindex("{ type: region, column: r, regions: { a: c, b: c, c: c } }");
        let r = three.regions();
        assert_eq!(r[0].2.end, Some(0x5555_5555_5555_5555));
        assert_eq!(r[1].2.start, 0x5555_5555_5555_5555);
        assert_eq!(r[1].2.end, Some(0xaaaa_aaaa_aaaa_aaaa));
        assert_eq!(
            r[2].2,
            KeyRange {
                start: 0xaaaa_aaaa_aaaa_aaaa,
                end: None
            }
        );

        let one = vindex("{ type: region, column: r, regions: { all: dc1 } }");
        assert_eq!(one.regions()[0].2, KeyRange::FULL);
        assert_eq!(id(&one, "all", SqlValue::Int(7)), hash_u64(7));
    }

    #[test]
    fn ids_fall_inside_their_region_and_differ_between_regions() {
        let v = vindex("{ type: region, column: region, regions: { eu: dc1, us: dc2 } }");
        let eu = id(&v, "eu", SqlValue::Int(42));
        let us = id(&v, "us", SqlValue::Int(42));
        assert!(v.regions()[0].2.contains(eu) && v.regions()[1].2.contains(us));
        assert_ne!(eu, us);
        // Inside one region, the key's hash is scaled into the range: for two regions, the top bit is the region.
        assert_eq!(eu, hash_u64(42) >> 1);
        assert_eq!(us, (1 << 63) | (hash_u64(42) >> 1));
        // Region names are case-insensitive; keys in their integer forms agree.
        assert_eq!(id(&v, "EU", s("42")), eu);
    }

    #[test]
    fn region_only_gives_the_range() {
        let v = vindex("{ type: region, column: region, regions: { eu: dc1, us: dc2 } }");
        assert_eq!(
            v.map(&[s("Us")]).unwrap(),
            Destination::Range(KeyRange::parse("80-").unwrap())
        );
        assert_eq!(v.map(&[SqlValue::Null]).unwrap(), Destination::None);
        assert_eq!(v.map(&[SqlValue::Null, SqlValue::Int(1)]).unwrap(), Destination::None);
        assert_eq!(v.map(&[s("eu"), SqlValue::Null]).unwrap(), Destination::None);
        assert!(v.map(&[]).is_err());
        assert!(v.map(&[s("eu"), SqlValue::Int(1), SqlValue::Int(2)]).is_err());
    }

    #[test]
    fn unknown_regions_are_named() {
        let v = vindex("{ type: region, column: region, regions: { eu: dc1, us: dc2 } }");
        let e = v.map(&[s("apac"), SqlValue::Int(1)]).unwrap_err();
        assert!(e.message.contains("\"apac\"") && e.message.contains("eu, us"), "{e}");
        let numeric = vindex("{ type: region, column: r, regions: { \"7\": dc1 } }");
        assert!(numeric.map(&[SqlValue::Int(7)]).is_ok());
    }

    #[test]
    fn spec_errors_name_the_place() {
        let cases = [
            ("{ type: region, regions: { eu: dc1 } }", "column"),
            ("{ type: region, column: r }", "regions"),
            ("{ type: region, column: r, regions: {} }", "regions"),
            ("{ type: region, column: r, regions: [eu, us] }", "regions"),
            ("{ type: region, column: r, regions: { 1: dc1 } }", "regions"),
            ("{ type: region, column: r, regions: { eu: [dc1] } }", "regions.eu"),
            ("{ type: region, column: r, regions: { eu: \"\" } }", "regions.eu"),
            (
                "{ type: region, column: r, regions: { eu: dc1, EU: dc2 } }",
                "regions.EU",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(build_err(yaml).0, want, "{yaml}");
        }
    }

    #[test]
    fn generated_keys_stay_inside_their_region() {
        for n in 1..=7usize {
            let mut yaml = String::from("{ type: region, column: r, regions: {");
            for i in 0..n {
                yaml.push_str(&format!("r{i}: dc{i},"));
            }
            yaml.push_str("} }");
            let v = vindex(&yaml);
            // The ranges tile the space.
            let r = v.regions();
            assert_eq!(r[0].2.start, 0);
            assert_eq!(r[n - 1].2.end, None);
            for w in r.windows(2) {
                assert_eq!(w[0].2.end, Some(w[1].2.start));
            }
            let mut x: u64 = n as u64;
            for _ in 0..3_000 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let region = format!("R{}", x % n as u64);
                let key = if x & 1 == 0 {
                    SqlValue::Int((x >> 1) as i64)
                } else {
                    SqlValue::Bytes(Cow::Owned(x.to_be_bytes()[..(x >> 60) as usize % 9].to_vec()))
                };
                let values = [s(&region), key];
                let got = id(&v, &region, values[1].clone());
                assert_eq!(v.map(&values).unwrap(), Destination::KeyspaceId(got), "deterministic");
                let (_, _, range) = &r[(x % n as u64) as usize];
                assert!(range.contains(got), "{region} {got:#x} {range}");
            }
        }
        // Extreme hashes land at the edges, never outside.
        let v = vindex("{ type: region, column: r, regions: { a: c, b: c, c: c } }");
        for (_, _, range) in v.regions() {
            assert!(range.contains(place(*range, 0)));
            assert!(range.contains(place(*range, u64::MAX)));
        }
    }
}
