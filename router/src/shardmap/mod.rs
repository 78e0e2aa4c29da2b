//! The shard map: which keyspaces exist, which shards serve them, and where each shard's tablets live.
//!
//! The document is YAML written by operators (see `docs/CONFIG.md`). [`ShardMap::from_yaml`] parses it with unknown
//! keys refused and then validates it; every error names the path of the offending key
//! (`keyspaces.app.shards[1].primary`) and says what to write instead. A validated map is immutable: the proxy holds
//! it behind an `ArcSwap` and replaces it whole.

mod raw;

use crate::keyrange::KeyRange;
use crate::vindex::Vindex;
use std::sync::Arc;

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

/// How a keyspace treats a transaction that touches a second shard (`transaction_mode:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// A second shard is refused with an error.
    Single,
    /// Best effort: each shard commits on its own, one after the other.
    Multi,
    /// XA two-phase commit with a durable decision record (the default).
    #[default]
    TwoPc,
}

/// A named vindex of a keyspace.
#[derive(Debug, Clone)]
pub struct VindexDef {
    /// Name as written under `vindexes:`.
    pub name: String,
    /// The built function.
    pub vindex: Arc<dyn Vindex>,
}

/// A secondary (lookup) vindex on a column of a sharded table, kept up to date by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryVindex {
    /// Column whose value is looked up.
    pub column: String,
    /// Index into [`Keyspace::vindexes`].
    pub vindex: usize,
}

/// Where an AUTO_INCREMENT column of a sharded table takes its ids from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoIncrement {
    /// The column the ids go into.
    pub column: String,
    /// Unsharded keyspace holding the sequence table.
    pub keyspace: String,
    /// The sequence table's name.
    pub table: String,
    /// How many ids one proxy reserves at a time.
    pub cache: u64,
}

/// How a table's rows are placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// Rows are spread by the primary vindex applied to `column`.
    Sharded {
        /// Shard-key column.
        column: String,
        /// Index into [`Keyspace::vindexes`] of the primary vindex.
        vindex: usize,
        /// Lookup vindexes maintained on INSERT/DELETE.
        secondary: Vec<SecondaryVindex>,
    },
    /// A full copy on every shard; writes go to all of them.
    Reference,
    /// A sequence table (in an unsharded keyspace) that hands out ids.
    Sequence,
}

/// A table the shard map knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Table name (case sensitive, as on Linux servers).
    pub name: String,
    /// Placement.
    pub kind: TableKind,
    /// Sequence for the AUTO_INCREMENT column, if any.
    pub auto_increment: Option<AutoIncrement>,
}

/// A logical database: the database of the same name on each of its shards.
#[derive(Debug, Clone)]
pub struct Keyspace {
    /// Keyspace (and backend database) name.
    pub name: String,
    /// Whether rows are spread over several shards by a vindex.
    pub sharded: bool,
    /// Shards; for a sharded keyspace sorted by key range, covering the whole key space without overlap.
    pub shards: Vec<Shard>,
    /// Vindexes by name, in document order.
    pub vindexes: Vec<VindexDef>,
    /// Tables with a placement rule.
    pub tables: Vec<Table>,
    /// Multi-shard transaction policy.
    pub transaction_mode: TransactionMode,
    /// Whether UPDATE/DELETE without the shard key may run on every shard (`scatter_writes: allow`).
    pub scatter_writes: bool,
}

impl Keyspace {
    /// The single shard of an unsharded keyspace (for a sharded one, the first shard).
    pub fn only_shard(&self) -> &Shard {
        &self.shards[0]
    }

    /// Index of the shard owning keyspace id `id` (shards are sorted and cover the space, so there always is one).
    pub fn shard_index_for(&self, id: u64) -> usize {
        self.shards.partition_point(|s| s.range.start <= id).saturating_sub(1)
    }

    /// Indexes of the shards whose ranges overlap `range`.
    pub fn shard_indexes_in(&self, range: KeyRange) -> impl Iterator<Item = usize> + '_ {
        self.shards.iter().enumerate().filter_map(move |(i, s)| {
            let starts_before_end = range.end.is_none_or(|e| s.range.start < e);
            let ends_after_start = s.range.end.is_none_or(|e| e > range.start);
            (starts_before_end && ends_after_start).then_some(i)
        })
    }

    /// Looks a table up by exact name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Looks a vindex up by name.
    pub fn vindex(&self, name: &str) -> Option<&VindexDef> {
        self.vindexes.iter().find(|v| v.name == name)
    }
}

/// A YAML syntax or shape error as a [`MapError`] whose path names the offending key.
///
/// `serde_yaml_ng` writes such errors as `parent.path: message at line L column C` (no path at the top level) and
/// has no accessor for the path, so it is taken from the text: the prefix before `": "` when it has no space (the
/// messages' own prefixes, `invalid type: …`, have one). For an unknown or missing field the path goes down to the
/// field. Errors of another form keep the path `shardmap`.
fn parse_error(e: &serde_yaml_ng::Error) -> MapError {
    let mut text = e.to_string();
    let mut at = String::new();
    if let Some(l) = e.location() {
        if let Some(t) = text.strip_suffix(&format!(" at line {} column {}", l.line(), l.column())) {
            text = t.to_string();
        }
        at = format!(" (line {}, column {})", l.line(), l.column());
    }
    let (parent, message) = match text.split_once(": ") {
        Some((p, m)) if !p.is_empty() && !p.contains(' ') => (Some(p.to_string()), m.to_string()),
        _ => (None, text),
    };
    let field = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split_once('`'))
        .map(|(f, _)| f.to_string());
    let path = match (parent, field) {
        (Some(p), Some(f)) => format!("{p}.{f}"),
        (Some(p), None) => p,
        (None, Some(f)) => f,
        (None, None) => "shardmap".to_string(),
    };
    MapError::new(path, format!("{message}{at}"))
}

/// A validated, versioned shard map.
#[derive(Debug, Clone)]
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
        let raw: raw::RawMap = serde_yaml_ng::from_str(text).map_err(|e| parse_error(&e))?;
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

#[cfg(test)]
pub(crate) mod tests;
