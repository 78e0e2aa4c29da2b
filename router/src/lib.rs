//! `shardgate-router`: the pure half of Shardgate's data path.
//!
//! Nothing here opens a socket, spawns a task or reads the clock: these are functions from bytes and shard maps to
//! decisions, so they are tested exhaustively without a database. The proxy calls them on every statement, so the
//! per-statement entry points ([`classify::classify`], [`ShardMap::keyspace`]) allocate nothing on the common path.
//!
//! - [`shardmap`]: the versioned shard map document (YAML), its validation and lookups.
//! - [`lexer`]: a single-pass SQL tokenizer that understands strings, identifiers, comments and variables.
//! - [`classify`](mod@classify): what a statement does to the session (database change, session variables, pinning state).
//! - [`value`]: literal and parameter values.
//! - [`vindex`]: functions from a shard-key value to a keyspace id (hash, range, lookup, region), by name.
//! - [`merge`]: combining the result sets of several shards (ORDER BY, LIMIT, aggregates, GROUP BY, DISTINCT).
//! - [`normalize`]: literals out, digest in: the plan-cache key of a statement.
//! - [`plan`]: which shards a statement runs on and how their results combine, behind the plan cache.

pub mod classify;
pub mod counts;
pub mod keyrange;
pub mod lexer;
pub mod merge;
pub mod normalize;
pub mod plan;
pub mod shardmap;
#[cfg(test)]
mod test_rng;
pub mod value;
pub mod vindex;

pub use classify::{classify, Classified, PinChange, SessionEffect, StatementKind};
pub use counts::{substitute_counts, PreviousCounts};
pub use shardmap::{Keyspace, MapError, Shard, ShardMap, Tablet};
pub use value::SqlValue;
