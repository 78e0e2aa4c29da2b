//! The shard map document as written (serde types with unknown keys refused) and its validation into the model.

use super::{
    AutoIncrement, Keyspace, MapError, SecondaryVindex, Shard, ShardMap, Table, TableKind, Tablet, TransactionMode,
    VindexDef,
};
use crate::keyrange::KeyRange;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;

/// Names a keyspace may not take because the backend owns a database by that name.
const RESERVED_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// Sequence ids one proxy reserves at a time when `auto_increment.cache` is not given.
const DEFAULT_SEQUENCE_CACHE: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMap {
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
    #[serde(default)]
    vindexes: Option<OrderedMap<serde_yaml_ng::Mapping>>,
    #[serde(default)]
    tables: Option<OrderedMap<RawTable>>,
    #[serde(default)]
    transaction_mode: Option<String>,
    #[serde(default)]
    scatter_writes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    column: Option<String>,
    #[serde(default)]
    vindex: Option<String>,
    #[serde(default)]
    secondary_vindexes: Vec<RawSecondary>,
    #[serde(default)]
    auto_increment: Option<RawAutoIncrement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecondary {
    column: String,
    vindex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoIncrement {
    column: String,
    sequence: String,
    #[serde(default)]
    cache: Option<u64>,
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
    pub(super) fn validate(self) -> Result<ShardMap, MapError> {
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
        check_references(&keyspaces)?;
        Ok(ShardMap {
            version: self.version,
            cells: self.cells,
            keyspaces,
        })
    }
}

impl RawKeyspace {
    fn validate(self, kpath: &str, name: String, cells: &[String]) -> Result<Keyspace, MapError> {
        let transaction_mode = match self.transaction_mode.as_deref() {
            None | Some("twopc") => TransactionMode::TwoPc,
            Some("multi") => TransactionMode::Multi,
            Some("single") => TransactionMode::Single,
            Some(other) => {
                return Err(MapError::new(
                    format!("{kpath}.transaction_mode"),
                    format!("{other:?} is not a transaction mode; write single, multi or twopc"),
                ))
            }
        };
        let scatter_writes = match self.scatter_writes.as_deref() {
            None | Some("allow") => true,
            Some("refuse") => false,
            Some(other) => {
                return Err(MapError::new(
                    format!("{kpath}.scatter_writes"),
                    format!("{other:?} is not allowed here; write allow or refuse"),
                ))
            }
        };
        let mut shards = Vec::with_capacity(self.shards.len());
        for (i, s) in self.shards.into_iter().enumerate() {
            shards.push(s.validate(&format!("{kpath}.shards[{i}]"), cells)?);
        }
        if self.sharded {
            check_coverage(kpath, &mut shards)?;
        } else {
            if shards.len() != 1 {
                return Err(MapError::new(
                    format!("{kpath}.shards"),
                    format!(
                        "an unsharded keyspace has exactly one shard, found {}; e.g. `shards: [{{ name: \"0\", cell: dc1, primary: \"127.0.0.1:3306\" }}]`",
                        shards.len()
                    ),
                ));
            }
            if shards[0].range != KeyRange::FULL {
                return Err(MapError::new(
                    format!("{kpath}.shards[0].name"),
                    "the shard of an unsharded keyspace covers the whole key space; name it \"0\" (or set `sharded: true`)",
                ));
            }
        }
        let mut vindexes: Vec<VindexDef> = Vec::new();
        for (vname, spec) in self.vindexes.map(|v| v.0).unwrap_or_default() {
            let vpath = format!("{kpath}.vindexes.{vname}");
            if vindexes.iter().any(|v| v.name == vname) {
                return Err(MapError::new(vpath, "vindex defined twice"));
            }
            if !self.sharded {
                return Err(MapError::new(
                    vpath,
                    "vindexes belong to sharded keyspaces; set `sharded: true`",
                ));
            }
            let vindex = crate::vindex::build(&spec).map_err(|(sub, m)| MapError::new(join(&vpath, &sub), m))?;
            if let Some(region) = vindex.as_region() {
                check_region_homes(&vpath, region, &shards)?;
            }
            vindexes.push(VindexDef { name: vname, vindex });
        }
        let mut tables: Vec<Table> = Vec::new();
        for (tname, t) in self.tables.map(|t| t.0).unwrap_or_default() {
            let tpath = format!("{kpath}.tables.{tname}");
            if tables.iter().any(|t| t.name == tname) {
                return Err(MapError::new(tpath, "table defined twice"));
            }
            tables.push(t.validate(&tpath, tname, self.sharded, &vindexes)?);
        }
        Ok(Keyspace {
            name,
            sharded: self.sharded,
            shards,
            vindexes,
            tables,
            transaction_mode,
            scatter_writes,
        })
    }
}

fn join(path: &str, sub: &str) -> String {
    if sub.is_empty() {
        path.to_string()
    } else {
        format!("{path}.{sub}")
    }
}

/// Sorts a sharded keyspace's shards by range and checks they cover the key space with no gap or overlap.
fn check_coverage(kpath: &str, shards: &mut [Shard]) -> Result<(), MapError> {
    if shards.is_empty() {
        return Err(MapError::new(
            format!("{kpath}.shards"),
            "a sharded keyspace needs shards covering the key space, e.g. \"-80\" and \"80-\"",
        ));
    }
    let names: Vec<String> = shards.iter().map(|s| s.name.clone()).collect();
    let doc_index = |name: &str| names.iter().position(|n| n == name).unwrap_or(0);
    shards.sort_by_key(|s| (s.range.start, s.range.end.is_none(), s.range.end));
    let mut expected_start = 0u64;
    for (i, s) in shards.iter().enumerate() {
        let path = format!("{kpath}.shards[{}].name", doc_index(&s.name));
        if s.range.start > expected_start {
            return Err(MapError::new(
                path,
                format!(
                    "key range gap: no shard covers {:016x} up to {:016x}; add a shard or widen a neighbour",
                    expected_start, s.range.start
                ),
            ));
        }
        if i > 0 && s.range.start < expected_start {
            return Err(MapError::new(
                path,
                format!(
                    "shard {:?} overlaps shard {:?}; key ranges must not overlap",
                    s.name,
                    shards[i - 1].name
                ),
            ));
        }
        match s.range.end {
            Some(e) => {
                if i + 1 == shards.len() {
                    return Err(MapError::new(
                        path,
                        format!("key range gap: no shard covers {e:016x} to the end of the key space; add a shard like \"{:02x}-\"", e >> 56),
                    ));
                }
                expected_start = e;
            }
            None if i + 1 < shards.len() => {
                let next = &shards[i + 1];
                return Err(MapError::new(
                    format!("{kpath}.shards[{}].name", doc_index(&next.name)),
                    format!(
                        "shard {:?} overlaps shard {:?}; key ranges must not overlap",
                        next.name, s.name
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(())
}

/// Geo-sharding rule: every shard holding part of a region's key range has its primary in the region's cell.
fn check_region_homes(vpath: &str, region: &crate::vindex::RegionVindex, shards: &[Shard]) -> Result<(), MapError> {
    for (name, cell, range) in region.regions() {
        for s in shards {
            let overlaps = range.end.is_none_or(|e| s.range.start < e) && s.range.end.is_none_or(|e| e > range.start);
            if overlaps && &s.cell != cell {
                return Err(MapError::new(
                    format!("{vpath}.regions.{name}"),
                    format!(
                        "region {name:?} is homed in cell {cell:?} and owns key range {range}, but shard {:?} (cell {:?}) holds part of it; align the shard ranges and cells with the regions",
                        s.name, s.cell
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl RawShard {
    fn validate(self, spath: &str, cells: &[String]) -> Result<Shard, MapError> {
        let range = KeyRange::parse(&self.name).map_err(|m| MapError::new(format!("{spath}.name"), m))?;
        check_cell(&format!("{spath}.cell"), &self.cell, cells)?;
        check_addr(&format!("{spath}.primary"), &self.primary)?;
        let mut replicas = Vec::with_capacity(self.replicas.len());
        for (j, r) in self.replicas.into_iter().enumerate() {
            let rpath = format!("{spath}.replicas[{j}]");
            check_addr(&format!("{rpath}.addr"), &r.addr)?;
            check_cell(&format!("{rpath}.cell"), &r.cell, cells)?;
            if r.addr == self.primary || replicas.iter().any(|t: &Tablet| t.addr == r.addr) {
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
        Ok(Shard {
            name: self.name,
            range,
            primary: Tablet {
                addr: self.primary,
                cell: self.cell.clone(),
            },
            cell: self.cell,
            replicas,
        })
    }
}

impl RawTable {
    fn validate(self, tpath: &str, name: String, sharded: bool, vindexes: &[VindexDef]) -> Result<Table, MapError> {
        let find_vindex = |path: String, vname: &str| -> Result<usize, MapError> {
            vindexes.iter().position(|v| v.name == vname).ok_or_else(|| {
                let known: Vec<&str> = vindexes.iter().map(|v| v.name.as_str()).collect();
                MapError::new(
                    path,
                    format!("no vindex named {vname:?} in this keyspace (defined: {known:?})"),
                )
            })
        };
        let kind = match self.kind.as_deref() {
            None | Some("sharded") => {
                if !sharded {
                    return Err(MapError::new(
                        format!("{tpath}.type"),
                        "tables of an unsharded keyspace are `type: sequence` (or omit them); set `sharded: true` to shard",
                    ));
                }
                let column = self.column.ok_or_else(|| {
                    MapError::new(
                        format!("{tpath}.column"),
                        "name the shard-key column, e.g. `column: id`",
                    )
                })?;
                let vname = self.vindex.ok_or_else(|| {
                    MapError::new(format!("{tpath}.vindex"), "name the vindex, e.g. `vindex: hash_id`")
                })?;
                let vindex = find_vindex(format!("{tpath}.vindex"), &vname)?;
                if !vindexes[vindex].vindex.is_functional() {
                    return Err(MapError::new(
                        format!("{tpath}.vindex"),
                        format!("{vname:?} is a lookup vindex; a table's primary vindex must be hash, range or region (list lookups under `secondary_vindexes`)"),
                    ));
                }
                let mut secondary = Vec::new();
                for (i, sv) in self.secondary_vindexes.into_iter().enumerate() {
                    let spath = format!("{tpath}.secondary_vindexes[{i}].vindex");
                    let idx = find_vindex(spath.clone(), &sv.vindex)?;
                    if vindexes[idx].vindex.as_lookup().is_none() {
                        return Err(MapError::new(spath, format!("{:?} is not a lookup vindex", sv.vindex)));
                    }
                    secondary.push(SecondaryVindex {
                        column: sv.column,
                        vindex: idx,
                    });
                }
                TableKind::Sharded {
                    column,
                    vindex,
                    secondary,
                }
            }
            Some(k @ ("reference" | "sequence")) => {
                for (key, present) in [
                    ("column", self.column.is_some()),
                    ("vindex", self.vindex.is_some()),
                    ("secondary_vindexes", !self.secondary_vindexes.is_empty()),
                ] {
                    if present {
                        return Err(MapError::new(
                            format!("{tpath}.{key}"),
                            format!("a {k} table has no `{key}`"),
                        ));
                    }
                }
                if k == "sequence" && sharded {
                    return Err(MapError::new(
                        format!("{tpath}.type"),
                        "sequence tables live in an unsharded keyspace",
                    ));
                }
                if k == "reference" && !sharded {
                    return Err(MapError::new(
                        format!("{tpath}.type"),
                        "reference tables belong to sharded keyspaces (every table of an unsharded keyspace is whole already)",
                    ));
                }
                if k == "reference" {
                    TableKind::Reference
                } else {
                    TableKind::Sequence
                }
            }
            Some(other) => {
                return Err(MapError::new(
                    format!("{tpath}.type"),
                    format!("{other:?} is not a table type; write sharded (the default), reference or sequence"),
                ))
            }
        };
        let auto_increment = match self.auto_increment {
            None => None,
            Some(a) => {
                let apath = format!("{tpath}.auto_increment");
                if !matches!(kind, TableKind::Sharded { .. }) {
                    return Err(MapError::new(apath, "only sharded tables take ids from a sequence"));
                }
                let Some((ks, table)) = a.sequence.split_once('.') else {
                    return Err(MapError::new(
                        format!("{apath}.sequence"),
                        format!("{:?} must name keyspace.table, e.g. app_seq.users_seq", a.sequence),
                    ));
                };
                let cache = a.cache.unwrap_or(DEFAULT_SEQUENCE_CACHE);
                if cache == 0 {
                    return Err(MapError::new(format!("{apath}.cache"), "cache must be at least 1"));
                }
                Some(AutoIncrement {
                    column: a.column,
                    keyspace: ks.to_string(),
                    table: table.to_string(),
                    cache,
                })
            }
        };
        Ok(Table {
            name,
            kind,
            auto_increment,
        })
    }
}

/// Checks names that point into other keyspaces: sequences and lookup tables.
fn check_references(keyspaces: &[Keyspace]) -> Result<(), MapError> {
    for ks in keyspaces {
        for t in &ks.tables {
            if let Some(a) = &t.auto_increment {
                let path = format!("keyspaces.{}.tables.{}.auto_increment.sequence", ks.name, t.name);
                match keyspaces.iter().find(|k| k.name == a.keyspace) {
                    None => return Err(MapError::new(path, format!("no keyspace named {:?}", a.keyspace))),
                    Some(k) if k.sharded => {
                        return Err(MapError::new(
                            path,
                            format!(
                                "sequence keyspace {:?} is sharded; sequences live in an unsharded keyspace",
                                a.keyspace
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        for v in &ks.vindexes {
            if let Some(l) = v.vindex.as_lookup() {
                let path = format!("keyspaces.{}.vindexes.{}.table", ks.name, v.name);
                match keyspaces.iter().find(|k| k.name == l.keyspace()) {
                    None => return Err(MapError::new(path, format!("no keyspace named {:?}", l.keyspace()))),
                    Some(k) if k.sharded => {
                        return Err(MapError::new(
                            path,
                            format!(
                                "lookup tables live in an unsharded keyspace; {:?} is sharded",
                                l.keyspace()
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}
