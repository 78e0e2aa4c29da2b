//! Vindexes: functions from a shard-key value to a 64-bit keyspace id, behind one trait, built by type name.
//!
//! A shard map names its vindexes under `vindexes:`; each entry is a YAML mapping whose `type` picks one of the
//! [`KINDS`] and whose other keys configure it. [`build`] turns such a mapping into an `Arc<dyn Vindex>`; the planner
//! then calls [`Vindex::map`] with the literal values of the shard-key column(s) and gets a [`Destination`].
//!
//! - [`hash`]: a fixed, documented hash of the value (never changes between releases).
//! - [`range`]: explicit integer intervals, each mapped to a keyspace-id prefix.
//! - [`lookup`]: a table maps the value to its keyspace id; this module only builds the SQL, the proxy does the I/O.
//! - [`region`]: geo-sharding; a region column picks a slice of the keyspace-id space, the key is hashed inside it.
//! - [`sql_literal`]: writing values as escaped SQL literals (used by the lookup SQL builders and elsewhere).
//!
//! Everything here is pure: no I/O, no clock, and `map` allocates nothing for integer and string keys.

pub mod hash;
pub mod lookup;
pub mod range;
pub mod region;
pub mod sql_literal;

use std::fmt;
use std::sync::Arc;

use serde_yaml_ng::{Mapping, Value};

use crate::keyrange::KeyRange;
use crate::value::SqlValue;

pub use hash::{hash_bytes, hash_u64, HashVindex};
pub use lookup::LookupVindex;
pub use range::RangeVindex;
pub use region::RegionVindex;

/// What a vindex says about where a row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Exactly this keyspace id.
    KeyspaceId(u64),
    /// Some keyspace id inside this range (e.g. region known, id not known).
    Range(KeyRange),
    /// The value must be looked up in the lookup table (the caller does the I/O; see [`Vindex::as_lookup`]).
    NeedsLookup,
    /// The value can be on no shard (e.g. NULL key): the statement touches nothing.
    None,
}

/// A function from shard-key values to a [`Destination`], built from a shard-map spec by [`build`].
pub trait Vindex: Send + Sync + fmt::Debug {
    /// The registry type name: "hash", "range", "lookup", "region".
    fn kind(&self) -> &'static str;

    /// Maps one key value to its destination. For `region`, `values` is [region value, key value] and the key may be
    /// absent (len 1) -> [`Destination::Range`]; for the others exactly one value.
    fn map(&self, values: &[SqlValue<'_>]) -> Result<Destination, VindexError>;

    /// True when the same value always gives the same keyspace id without I/O (hash, range, region).
    fn is_functional(&self) -> bool;

    /// The lookup description when this is a lookup vindex.
    fn as_lookup(&self) -> Option<&LookupVindex> {
        None
    }

    /// For region vindexes: the region column and each region's (name, cell, key range).
    fn as_region(&self) -> Option<&RegionVindex> {
        None
    }
}

/// A value a vindex cannot map (wrong count, wrong type, outside every range, unknown region).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VindexError {
    /// What was wrong and, where there is one, what to write instead.
    pub message: String,
}

impl VindexError {
    /// An error with this message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        VindexError {
            message: message.into(),
        }
    }
}

/// The registry: type names `build` accepts.
pub const KINDS: &[&str] = &["hash", "range", "lookup", "region"];

/// A spec error: (sub-path relative to the vindex, message saying what to write instead).
pub(crate) type SpecError = (String, String);

/// Builds a vindex from its shard-map spec (the YAML mapping under `vindexes.NAME`, including `type`).
///
/// Errors are (sub-path relative to the vindex, e.g. "type" or "regions.eu", message saying what to write
/// instead). Unknown keys are errors naming the key.
pub fn build(spec: &Mapping) -> Result<Arc<dyn Vindex>, (String, String)> {
    let kind = match spec.get("type") {
        None => {
            return Err(spec_err(
                "type",
                format!("missing vindex type; add `type: hash` (one of: {})", KINDS.join(", ")),
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(spec_err(
                "type",
                format!(
                    "vindex type must be a string, found {}; write one of: {}",
                    describe(other),
                    KINDS.join(", ")
                ),
            ))
        }
    };
    match kind {
        "hash" => Ok(Arc::new(HashVindex::from_spec(spec)?)),
        "range" => Ok(Arc::new(RangeVindex::from_spec(spec)?)),
        "lookup" => Ok(Arc::new(LookupVindex::from_spec(spec)?)),
        "region" => Ok(Arc::new(RegionVindex::from_spec(spec)?)),
        other => Err(spec_err(
            "type",
            format!("unknown vindex type {other:?}; write one of: {}", KINDS.join(", ")),
        )),
    }
}

/// Builds a spec error.
fn spec_err(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    (path.into(), message.into())
}

/// `prefix.key`, or `key` at the top of the vindex.
fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A short description of a YAML value's kind for error messages.
fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Checks that every key of `map` (at sub-path `prefix`) is a string listed in `allowed`.
fn check_keys(map: &Mapping, allowed: &[&str], prefix: &str, what: &str) -> Result<(), SpecError> {
    for key in map.keys() {
        match key {
            Value::String(k) if allowed.contains(&k.as_str()) => {}
            Value::String(k) => {
                return Err(spec_err(
                    join(prefix, k),
                    format!(
                        "unknown key {k:?} in {what}; remove it (allowed keys: {})",
                        allowed.join(", ")
                    ),
                ))
            }
            other => {
                return Err(spec_err(
                    prefix,
                    format!(
                        "keys of {what} must be strings, found {}; allowed keys: {}",
                        describe(other),
                        allowed.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The non-empty string under `key`; `example` shows how to write it.
fn required_str<'m>(map: &'m Mapping, key: &str, prefix: &str, example: &str) -> Result<&'m str, SpecError> {
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None => Err(spec_err(join(prefix, key), format!("missing; add `{example}`"))),
        Some(Value::String(_)) => Err(spec_err(
            join(prefix, key),
            format!("must not be empty; write `{example}`"),
        )),
        Some(other) => Err(spec_err(
            join(prefix, key),
            format!("must be a string, found {}; write `{example}`", describe(other)),
        )),
    }
}

/// The single value of a one-column vindex, or an error naming the vindex.
fn single<'a, 'v>(kind: &str, values: &'a [SqlValue<'v>]) -> Result<&'a SqlValue<'v>, VindexError> {
    match values {
        [v] => Ok(v),
        _ => Err(VindexError::new(format!(
            "a {kind} vindex maps exactly one value, got {}",
            values.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(yaml: &str) -> Mapping {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    pub(crate) fn build_err(yaml: &str) -> (String, String) {
        build(&spec(yaml)).unwrap_err()
    }

    #[test]
    fn builds_every_kind() {
        let specs = [
            "type: hash",
            "{ type: range, ranges: [ { from: 0, keyspace_id: \"00\" } ] }",
            "{ type: lookup, table: ks.t, from: email, to: keyspace_id }",
            "{ type: region, column: region, regions: { eu: dc1 } }",
        ];
        for (yaml, kind) in specs.iter().zip(KINDS) {
            let v = build(&spec(yaml)).unwrap();
            assert_eq!(v.kind(), *kind);
            assert_eq!(v.is_functional(), *kind != "lookup");
            assert_eq!(v.as_lookup().is_some(), *kind == "lookup");
            assert_eq!(v.as_region().is_some(), *kind == "region");
        }
    }

    #[test]
    fn type_errors_list_the_kinds() {
        for yaml in ["{ column: x }", "type: md5", "type: [hash]", "type: Hash"] {
            let (path, msg) = build_err(yaml);
            assert_eq!(path, "type", "{yaml}");
            assert!(msg.contains("hash, range, lookup, region"), "{yaml}: {msg}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let (path, msg) = build_err("{ type: hash, colum: id }");
        assert_eq!(path, "colum");
        assert!(msg.contains("unknown key \"colum\""), "{msg}");
        let (path, _) = build_err("{ type: lookup, table: a.b, from: x, to: y, owner: users }");
        assert_eq!(path, "owner");
        let (path, _) = build_err("{ type: range, ranges: [ { from: 0, keyspace_id: \"00\", too: 5 } ] }");
        assert_eq!(path, "ranges[0].too");
        let (path, _) = build_err("{ type: region, column: r, regions: { eu: dc1 }, cells: [dc1] }");
        assert_eq!(path, "cells");
    }

    #[test]
    fn errors_display_their_message() {
        let e = VindexError::new("no range holds value 5");
        assert_eq!(e.to_string(), "no range holds value 5");
    }

    #[test]
    fn one_column_vindexes_want_one_value() {
        let v = build(&spec("type: hash")).unwrap();
        assert!(v.map(&[]).is_err());
        assert!(v.map(&[SqlValue::Int(1), SqlValue::Int(2)]).is_err());
    }
}
