//! Key ranges of the 64-bit keyspace-id space, written Vitess-style (`-80`, `80-c0`, `c0-`, or `0`/`-` for all).

use std::fmt;

/// A half-open range `[start, end)` of keyspace ids. `end == None` means "to the end of the space".
///
/// Keyspace ids are compared as big-endian byte strings, so `80` means `0x80000000_00000000` and a range bound is
/// the hex prefix of such a string. Bounds are held as the full 64-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyRange {
    /// Inclusive lower bound.
    pub start: u64,
    /// Exclusive upper bound; `None` is the end of the space.
    pub end: Option<u64>,
}

impl KeyRange {
    /// The whole keyspace-id space (an unsharded keyspace's only shard).
    pub const FULL: KeyRange = KeyRange { start: 0, end: None };

    /// Parses a shard name into its range: `"0"`, `"-"` and `""` are the full range; otherwise `start-end` with each
    /// side an even-length hex prefix of at most 16 digits (either side may be empty).
    pub fn parse(name: &str) -> Result<KeyRange, String> {
        if name == "0" || name == "-" || name.is_empty() {
            return Ok(KeyRange::FULL);
        }
        let Some((lo, hi)) = name.split_once('-') else {
            return Err(format!(
                "shard name {name:?} is not a key range; write it like \"-80\", \"80-c0\" or \"c0-\" (or \"0\" for an unsharded keyspace)"
            ));
        };
        let start = if lo.is_empty() { 0 } else { parse_bound(lo)? };
        let end = if hi.is_empty() { None } else { Some(parse_bound(hi)?) };
        if let Some(e) = end {
            if e <= start {
                return Err(format!(
                    "key range {name:?} is empty: its end must be greater than its start"
                ));
            }
        }
        Ok(KeyRange { start, end })
    }

    /// True when `id` falls inside the range.
    pub fn contains(&self, id: u64) -> bool {
        id >= self.start && self.end.is_none_or(|e| id < e)
    }
}

fn parse_bound(hex: &str) -> Result<u64, String> {
    if hex.len() > 16 || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "key range bound {hex:?} must be an even number (2..16) of hex digits, e.g. \"80\" or \"c0\""
        ));
    }
    let v = u64::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
    Ok(v << (64 - 4 * hex.len() as u32))
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn bound(v: u64) -> String {
            let s = format!("{v:016x}");
            let t = s.trim_end_matches('0');
            let len = t.len().div_ceil(2) * 2;
            s[..len.max(2)].to_string()
        }
        if *self == KeyRange::FULL {
            return f.write_str("-");
        }
        let lo = if self.start == 0 {
            String::new()
        } else {
            bound(self.start)
        };
        let hi = self.end.map(bound).unwrap_or_default();
        write!(f, "{lo}-{hi}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vitess_names() {
        assert_eq!(KeyRange::parse("0").unwrap(), KeyRange::FULL);
        let lo = KeyRange::parse("-80").unwrap();
        assert_eq!(
            lo,
            KeyRange {
                start: 0,
                end: Some(0x8000_0000_0000_0000)
            }
        );
        let hi = KeyRange::parse("80-").unwrap();
        assert!(hi.contains(u64::MAX) && hi.contains(0x8000_0000_0000_0000) && !hi.contains(0x7fff_ffff_ffff_ffff));
        assert!(lo.contains(0) && !lo.contains(0x8000_0000_0000_0000));
        assert_eq!(KeyRange::parse("80-c0").unwrap().to_string(), "80-c0");
        assert_eq!(lo.to_string(), "-80");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["80", "x-", "8-", "c0-80", "80-80", "-0123456789abcdef01"] {
            assert!(KeyRange::parse(bad).is_err(), "{bad}");
        }
    }
}
