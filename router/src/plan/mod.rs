//! Statement planning for sharded keyspaces: which shards a statement runs on and how their results combine.
//!
//! [`PlanCache::plan`] normalizes the statement (literals out, digest in) and looks the shape up by
//! (digest, keyspace, shard-map version); only on a miss does `sqlparser` run ([`build::build`]). A [`Plan`] is a
//! template over numbered parameters; [`bind`] applies one execution's values and the vindexes to it and yields the
//! shards to run on and the text to send them.

pub mod bind;
pub mod build;
pub mod cache;
pub mod insert;
pub mod select;
mod tables;

pub use bind::{bind, render, shards_for_value, split_in_list, Bound, BoundShards, ParamValues};
pub use cache::PlanCache;
pub use insert::{split_insert, InsertText};

use crate::merge::{AggregateKind, CompareOp, SortKey};
use crate::value::SqlValue;
use std::sync::Arc;

/// Where a value in a plan comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// Parameter number `n` of the statement (a literal pulled out, or a client placeholder).
    Param(usize),
    /// `-` applied to parameter `n`.
    NegParam(usize),
    /// A constant fixed in the statement's shape.
    Const(SqlValue<'static>),
}

/// The shards a statement runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The keyspace's first shard: statements that touch no sharded data (`SELECT 1`, `SHOW TABLES`, reads of
    /// reference tables).
    AnyShard,
    /// The shard owning the keyspace id the vindex gives for `key` (with `region` for region vindexes).
    Key {
        /// Index into the keyspace's vindexes.
        vindex: usize,
        /// The shard-key value.
        key: Operand,
        /// The region column's value, for region vindexes.
        region: Option<Operand>,
    },
    /// The shards owning any of `keys` (an `IN` list).
    Keys {
        /// Index into the keyspace's vindexes.
        vindex: usize,
        /// The shard-key values.
        keys: Vec<Operand>,
        /// The region column's value, for region vindexes.
        region: Option<Operand>,
    },
    /// The shards holding the key range of one region (region vindex, region known, key not).
    Region {
        /// Index into the keyspace's vindexes (a region vindex).
        vindex: usize,
        /// The region column's value.
        region: Operand,
    },
    /// The shards a lookup vindex maps `keys` to (the proxy reads the lookup table first).
    Lookup {
        /// Index into the keyspace's vindexes (a lookup vindex).
        vindex: usize,
        /// The looked-up values.
        keys: Vec<Operand>,
    },
    /// Every shard of the keyspace.
    All,
}

/// A piece of statement text sent to shards.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// The original text of parameter `n` (a literal as the client wrote it, or a bound value as a literal).
    Param(usize),
    /// The row limit each shard returns (`offset + limit` of the client's statement).
    ShardLimit,
}

/// Statement text with holes for parameters, used when shards must run something other than the client's text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template(pub Vec<Segment>);

/// A HAVING predicate evaluated on merged groups, over result columns, with parameter operands.
#[derive(Debug, Clone, PartialEq)]
pub enum HavingTemplate {
    /// `column op value`.
    Compare {
        /// Result column.
        column: usize,
        /// Comparison.
        op: CompareOp,
        /// Right-hand side.
        value: Operand,
    },
    /// `a AND b`.
    And(Box<HavingTemplate>, Box<HavingTemplate>),
    /// `a OR b`.
    Or(Box<HavingTemplate>, Box<HavingTemplate>),
    /// `NOT a`.
    Not(Box<HavingTemplate>),
    /// `column IS [NOT] NULL`.
    IsNull {
        /// Result column.
        column: usize,
        /// `IS NOT NULL`.
        negated: bool,
    },
}

/// How a multi-shard SELECT's results combine (see [`crate::merge::MergeSpec`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectMerge {
    /// Text the shards run instead of the client's (rewritten aggregates, hidden columns, shard limit).
    pub shard_sql: Option<Template>,
    /// Group key columns.
    pub group_by: Vec<usize>,
    /// Partial aggregates and their columns.
    pub aggregates: Vec<(usize, AggregateKind)>,
    /// Aggregates without GROUP BY: exactly one output row.
    pub aggregate_all: bool,
    /// AVG columns: (column holding the SUM, hidden column holding the COUNT).
    pub averages: Vec<(usize, usize)>,
    /// HAVING, evaluated after merging.
    pub having: Option<HavingTemplate>,
    /// SELECT DISTINCT.
    pub distinct: bool,
    /// Final order.
    pub order_by: Vec<SortKey>,
    /// Shards return rows already in `order_by` order.
    pub shards_sorted: bool,
    /// LIMIT of the client's statement.
    pub limit: Option<Operand>,
    /// OFFSET of the client's statement.
    pub offset: Option<Operand>,
    /// Helper columns appended for the merge, removed from the result.
    pub hidden_columns: usize,
    /// The statement selects `*`: the plan does not know how many columns precede the hidden ones, so the
    /// `order_by` columns count from the first hidden column.
    pub wildcard: bool,
    /// Visible columns the client wrote as unaliased expressions: when the shards run rewritten text, the server
    /// names them after that text, so the proxy renames them after the client's (see [`select::select_list_spans`]).
    pub renamed: Vec<usize>,
}

/// How the OK packets of a write run on several shards combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCombine {
    /// Sharded rows: affected rows add up.
    Sum,
    /// Copies (reference tables) or DDL: every shard reports the same; report the first.
    First,
}

/// Finding the lookup-vindex entries of rows a DELETE removes: a SELECT of the lookup columns and the shard key
/// with the DELETE's WHERE, run on the same shards first.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupCleanup {
    /// `SELECT lookup columns…, key[, region] FROM table WHERE …`.
    pub select: Template,
    /// The lookup vindex of each leading column of the select.
    pub vindexes: Vec<usize>,
    /// Column of the shard key.
    pub key: usize,
    /// Column of the region value (region vindexes).
    pub region: Option<usize>,
    /// The table's primary vindex.
    pub vindex: usize,
}

/// An INSERT into a sharded table: values are routed row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertPlan {
    /// Table name as written in the statement (keyspace-qualified names keep their qualifier).
    pub table: String,
    /// Index into the keyspace's vindexes of the table's primary vindex.
    pub vindex: usize,
    /// Position of the shard-key column in the column list (`None` when the sequence supplies it).
    pub key_column: Option<usize>,
    /// Position of the region column for region vindexes.
    pub region_column: Option<usize>,
    /// Sequence-fed AUTO_INCREMENT column: its position in the column list, or `None` when the statement omits it.
    pub auto_increment: Option<AutoIncrementPlan>,
    /// Secondary lookup vindexes to maintain: (vindex index, column position).
    pub lookups: Vec<(usize, usize)>,
    /// Number of columns in the column list.
    pub columns: usize,
}

/// The sequence that feeds an INSERT's AUTO_INCREMENT column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoIncrementPlan {
    /// Position in the column list, or `None` when the column is omitted (the proxy appends it).
    pub position: Option<usize>,
    /// Column name.
    pub column: String,
    /// `keyspace.table` of the sequence, as in the shard map.
    pub sequence: (String, String),
    /// Ids reserved per block.
    pub cache: u64,
    /// The statement's key column is this column (ids decide the shard).
    pub is_key: bool,
}

/// What a statement is, for the executor.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the client's statement to the target shard(s); results of several shards merge as described.
    Select(SelectMerge),
    /// A write (UPDATE, DELETE, DDL, writes to reference tables): send to the target shard(s) and combine.
    Write {
        /// How OK packets combine.
        combine: WriteCombine,
        /// Schema change: runs outside transactions (it commits implicitly on MySQL).
        ddl: bool,
        /// DELETE from a table with lookup vindexes: how to find the lookup entries to remove.
        lookups: Option<LookupCleanup>,
    },
    /// An INSERT routed row by row.
    Insert(InsertPlan),
    /// Any other statement to the target as is (SHOW, DO, …).
    Passthrough,
    /// The statement cannot be placed correctly.
    Reject(Refusal),
}

/// A statement refused by the planner, with the MySQL error it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// MySQL error code (1235 ER_NOT_SUPPORTED_YET unless stated).
    pub code: u16,
    /// SQLSTATE.
    pub state: &'static str,
    /// Message (without the `shardgate:` prefix).
    pub message: String,
}

impl Refusal {
    /// ER_NOT_SUPPORTED_YET (1235, 42000): "This version of MariaDB doesn't yet support '…'" semantics.
    pub fn unsupported(message: impl Into<String>) -> Refusal {
        Refusal {
            code: 1235,
            state: "42000",
            message: message.into(),
        }
    }
}

/// A statement's plan for one keyspace under one shard-map version.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What kind of statement and how results combine.
    pub action: Action,
    /// Where it runs.
    pub target: Target,
    /// Number of parameters the shape has.
    pub params: usize,
}

impl Plan {
    /// A write to a reference table: every shard holds a copy, so every shard gets it and reports the same count.
    pub fn reference_write() -> Plan {
        Plan {
            action: Action::Write {
                combine: WriteCombine::First,
                ddl: false,
                lookups: None,
            },
            target: Target::All,
            params: 0,
        }
    }

    /// A plan refusing the statement.
    pub fn reject(r: Refusal) -> Plan {
        Plan {
            action: Action::Reject(r),
            target: Target::AnyShard,
            params: 0,
        }
    }
}

/// A cached plan shared by sessions.
pub type SharedPlan = Arc<Plan>;

#[cfg(test)]
mod tests;
