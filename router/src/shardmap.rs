//! The shard map: which keyspaces exist, which shards serve them, and where each shard's tablets live.
//!
//! The document is YAML written by operators (see `docs/CONFIG.md`). [`ShardMap::from_yaml`] parses it with unknown
//! keys refused and then validates it; every error names the path of the offending key
//! (`keyspaces.app.shards[1].primary`) and says what to write instead. A validated map is immutable: the proxy holds
//! it behind an `ArcSwap` and replaces it whole.

use crate::keyrange::KeyRange;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;

/// A validation or parse failure, with the path of the key that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct MapError {
    /// Dotted path of the key in the document, e.g. `keyspaces.app.shards[0].cell`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl MapError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> MapError {
        MapError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Names a keyspace may not take because the backend owns a database by that name.
const RESERVED_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// One server (a primary or a replica) serving a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tablet {
    /// `host:port` of the MySQL/MariaDB server.
    pub addr: String,
    /// Cell (data center) the server lives in.
    pub cell: String,
}

/// A shard: one key range of a keyspace, served by one primary and any number of replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Name as written (`"0"`, `"-80"`, `"80-"`).
    pub name: String,
    /// Key range the name stands for.
    pub range: KeyRange,
    /// Home cell of the shard: its primary lives there.
    pub cell: String,
    /// The writable server.
    pub primary: Tablet,
    /// Read-only copies.
    pub replicas: Vec<Tablet>,
}

/// A logical database: the database of the same name on each of its shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    /// Keyspace (and backend database) name.
    pub name: String,
    /// Whether rows are spread over several shards by a vindex.
    pub sharded: bool,
    /// Shards in document order; for a sharded keyspace they cover the whole key space without overlap.
    pub shards: Vec<Shard>,
}

impl Keyspace {
    /// The single shard of an unsharded keyspace (for a sharded one, the first shard).
    pub fn only_shard(&self) -> &Shard {
        &self.shards[0]
    }
}

/// A validated, versioned shard map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    /// Version number; a newer map always has a larger one (0 when the document gives none).
    pub version: u64,
    /// Cells known to the map.
    pub cells: Vec<String>,
    /// Keyspaces in document order.
    pub keyspaces: Vec<Keyspace>,
}

impl ShardMap {
    /// Parses and validates a YAML shard map.
    pub fn from_yaml(text: &str) -> Result<ShardMap, MapError> {
        let raw: RawMap = serde_yaml_ng::from_str(text).map_err(|e| {
            let loc = e
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            MapError::new("shardmap", format!("{e}{loc}"))
        })?;
        raw.validate()
    }

    /// Looks a keyspace up by its exact name (names are case sensitive, as databases are on Linux servers).
    pub fn keyspace(&self, name: &str) -> Option<&Keyspace> {
        self.keyspaces.iter().find(|k| k.name == name)
    }

    /// The keyspace statements go to when the session has no current database: the first one in the document.
    pub fn default_keyspace(&self) -> &Keyspace {
        &self.keyspaces[0]
    }

    /// Every distinct tablet address in the map (primaries and replicas), in document order.
    pub fn tablet_addrs(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for t in self
            .keyspaces
            .iter()
            .flat_map(|k| &k.shards)
            .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
        {
            if !out.contains(&t.addr.as_str()) {
                out.push(&t.addr);
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    #[serde(default)]
    version: u64,
    cells: Vec<String>,
    keyspaces: OrderedMap<RawKeyspace>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyspace {
    #[serde(default)]
    sharded: bool,
    shards: Vec<RawShard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    name: String,
    cell: String,
    primary: String,
    #[serde(default)]
    replicas: Vec<RawReplica>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplica {
    addr: String,
    cell: String,
}

/// A YAML mapping that keeps its keys in document order.
struct OrderedMap<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

fn check_addr(path: &str, addr: &str) -> Result<(), MapError> {
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(MapError::new(
            path,
            format!("{addr:?} is not a server address; write host:port, e.g. \"127.0.0.1:3306\""),
        ))
    }
}

fn check_cell(path: &str, cell: &str, cells: &[String]) -> Result<(), MapError> {
    if cells.iter().any(|c| c == cell) {
        Ok(())
    } else {
        Err(MapError::new(
            path,
            format!("cell {cell:?} is not listed in `cells` ({cells:?}); add it there or fix the name"),
        ))
    }
}

fn check_identifier(path: &str, name: &str) -> Result<(), MapError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$');
    if !valid {
        return Err(MapError::new(
            path,
            format!("keyspace name {name:?} must be 1..64 characters of letters, digits, '_' or '$'"),
        ));
    }
    if RESERVED_DATABASES.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(MapError::new(
            path,
            format!("{name:?} is a system database of the backend; choose another keyspace name"),
        ));
    }
    Ok(())
}

impl RawMap {
    fn validate(self) -> Result<ShardMap, MapError> {
        if self.cells.is_empty() {
            return Err(MapError::new("cells", "list at least one cell, e.g. `cells: [dc1]`"));
        }
        for (i, c) in self.cells.iter().enumerate() {
            if c.is_empty() || self.cells[..i].contains(c) {
                return Err(MapError::new(
                    format!("cells[{i}]"),
                    format!("cell {c:?} is empty or listed twice"),
                ));
            }
        }
        if self.keyspaces.0.is_empty() {
            return Err(MapError::new("keyspaces", "define at least one keyspace"));
        }
        let mut keyspaces = Vec::with_capacity(self.keyspaces.0.len());
        for (name, ks) in self.keyspaces.0 {
            let kpath = format!("keyspaces.{name}");
            check_identifier(&kpath, &name)?;
            if keyspaces.iter().any(|k: &Keyspace| k.name == name) {
                return Err(MapError::new(kpath, "keyspace defined twice"));
            }
            keyspaces.push(ks.validate(&kpath, name, &self.cells)?);
        }
        Ok(ShardMap {
            version: self.version,
            cells: self.cells,
            keyspaces,
        })
    }
}

impl RawKeyspace {
    fn validate(self, kpath: &str, name: String, cells: &[String]) -> Result<Keyspace, MapError> {
        if self.sharded {
            return Err(MapError::new(
                format!("{kpath}.sharded"),
                "sharded keyspaces are not supported by this Shardgate version; set `sharded: false` and give one shard",
            ));
        }
        if self.shards.len() != 1 {
            return Err(MapError::new(
                format!("{kpath}.shards"),
                format!(
                    "an unsharded keyspace has exactly one shard, found {}; e.g. `shards: [{{ name: \"0\", cell: dc1, primary: \"127.0.0.1:3306\" }}]`",
                    self.shards.len()
                ),
            ));
        }
        let mut shards = Vec::with_capacity(self.shards.len());
        for (i, s) in self.shards.into_iter().enumerate() {
            let spath = format!("{kpath}.shards[{i}]");
            let range = KeyRange::parse(&s.name).map_err(|m| MapError::new(format!("{spath}.name"), m))?;
            if range != KeyRange::FULL {
                return Err(MapError::new(
                    format!("{spath}.name"),
                    "the shard of an unsharded keyspace covers the whole key space; name it \"0\"",
                ));
            }
            check_cell(&format!("{spath}.cell"), &s.cell, cells)?;
            check_addr(&format!("{spath}.primary"), &s.primary)?;
            let mut replicas = Vec::with_capacity(s.replicas.len());
            for (j, r) in s.replicas.into_iter().enumerate() {
                let rpath = format!("{spath}.replicas[{j}]");
                check_addr(&format!("{rpath}.addr"), &r.addr)?;
                check_cell(&format!("{rpath}.cell"), &r.cell, cells)?;
                if r.addr == s.primary || replicas.iter().any(|t: &Tablet| t.addr == r.addr) {
                    return Err(MapError::new(
                        format!("{rpath}.addr"),
                        format!("{} serves this shard twice; every tablet is listed once", r.addr),
                    ));
                }
                replicas.push(Tablet {
                    addr: r.addr,
                    cell: r.cell,
                });
            }
            shards.push(Shard {
                name: s.name,
                range,
                primary: Tablet {
                    addr: s.primary,
                    cell: s.cell.clone(),
                },
                cell: s.cell,
                replicas,
            });
        }
        Ok(Keyspace {
            name,
            sharded: false,
            shards,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version: 3
cells: [dc1, dc2]
keyspaces:
  sbtest:
    sharded: false
    shards:
      - name: "0"
        cell: dc1
        primary: 127.0.0.1:3307
        replicas: [ { addr: "127.0.0.1:3308", cell: dc2 } ]
  app:
    shards: [ { name: "0", cell: dc2, primary: "127.0.0.1:3309" } ]
"#;

    #[test]
    fn parses_a_good_map() {
        let m = ShardMap::from_yaml(GOOD).unwrap();
        assert_eq!(m.version, 3);
        assert_eq!(m.default_keyspace().name, "sbtest");
        assert_eq!(m.keyspace("app").unwrap().only_shard().primary.addr, "127.0.0.1:3309");
        assert!(m.keyspace("App").is_none());
        assert_eq!(
            m.tablet_addrs(),
            vec!["127.0.0.1:3307", "127.0.0.1:3308", "127.0.0.1:3309"]
        );
    }

    fn err(doc: &str) -> MapError {
        ShardMap::from_yaml(doc).unwrap_err()
    }

    #[test]
    fn errors_name_the_path() {
        let e = err(&GOOD.replace("cell: dc2, primary", "cell: dc9, primary"));
        assert_eq!(e.path, "keyspaces.app.shards[0].cell", "{e}");
        let e = err(&GOOD.replace("127.0.0.1:3309", "nowhere"));
        assert_eq!(e.path, "keyspaces.app.shards[0].primary");
        let e = err(&GOOD.replace("sharded: false", "sharded: false\n    colour: blue"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        let e = err(&GOOD.replace("  app:", "  mysql:"));
        assert_eq!(e.path, "keyspaces.mysql");
        let e = err(&GOOD.replace("name: \"0\"\n        cell: dc1", "name: \"-80\"\n        cell: dc1"));
        assert_eq!(e.path, "keyspaces.sbtest.shards[0].name");
        let e = err(&GOOD.replace("addr: \"127.0.0.1:3308\"", "addr: \"127.0.0.1:3307\""));
        assert_eq!(e.path, "keyspaces.sbtest.shards[0].replicas[0].addr");
        let e = err("cells: []\nkeyspaces: {}\n");
        assert_eq!(e.path, "cells");
        let e = err("not: [valid");
        assert_eq!(e.path, "shardmap");
    }
}
