//! Binding one execution's parameter values to a plan: the shards it runs on, the text they run, the merge spec.

use super::{HavingTemplate, Operand, Refusal, Segment, SelectMerge, Target, Template};
use crate::merge::{Aggregate, Average, ColumnInfo, HavingExpr, MergeSpec, SortKey};
use crate::normalize::{literal_value, Param, ParamKind};
use crate::shardmap::Keyspace;
use crate::value::SqlValue;
use crate::vindex::sql_literal::push_literal;
use crate::vindex::Destination;

/// The parameter values of one execution.
#[derive(Debug, Clone, Copy)]
pub struct ParamValues<'a> {
    /// The statement text.
    pub sql: &'a [u8],
    /// Its parameters (from [`crate::normalize::normalize`]).
    pub params: &'a [Param],
    /// Values bound to the `?` placeholders, in order (empty for text statements).
    pub bound: &'a [SqlValue<'a>],
    /// Per-shard rewrite of an `IN` list: parameter `i` is written as parameter `alias[i]` (empty: as itself).
    pub alias: &'a [usize],
}

impl<'a> ParamValues<'a> {
    /// Values of a text statement (literals only).
    pub fn text(sql: &'a [u8], params: &'a [Param]) -> ParamValues<'a> {
        ParamValues {
            sql,
            params,
            bound: &[],
            alias: &[],
        }
    }

    /// The same values with parameters rewritten by `alias` (see [`split_in_list`]).
    pub fn with_alias(&self, alias: &'a [usize]) -> ParamValues<'a> {
        ParamValues { alias, ..*self }
    }

    fn source(&self, i: usize) -> usize {
        self.alias.get(i).copied().unwrap_or(i)
    }

    /// The value of parameter `i`.
    pub fn get(&self, i: usize) -> Option<SqlValue<'a>> {
        let p = self.params.get(i)?;
        match p.kind {
            ParamKind::Placeholder => {
                let ordinal = self.params[..i]
                    .iter()
                    .filter(|q| q.kind == ParamKind::Placeholder)
                    .count();
                self.bound.get(ordinal).cloned()
            }
            _ => literal_value(self.sql, p),
        }
    }

    /// The parameter whose text starts at byte `start`, if any.
    pub fn index_at(&self, start: usize) -> Option<usize> {
        self.params.binary_search_by_key(&start, |p| p.start).ok()
    }

    /// Writes parameter `i` as SQL text: the client's own literal text, or a bound value as a literal.
    pub fn write_text(&self, i: usize, out: &mut Vec<u8>) {
        let i = self.source(i);
        let Some(p) = self.params.get(i) else { return };
        match p.kind {
            ParamKind::Placeholder => {
                let mut s = String::new();
                push_literal(&mut s, &self.get(i).unwrap_or(SqlValue::Null));
                out.extend_from_slice(s.as_bytes());
            }
            _ => out.extend_from_slice(&self.sql[p.start..p.end]),
        }
    }

    /// Copies `sql[start..end]`, replacing the placeholders inside by their bound values.
    pub fn write_span(&self, start: usize, end: usize, out: &mut Vec<u8>) {
        let mut at = start;
        let first = self.params.partition_point(|p| p.start < start);
        for (i, p) in self.params.iter().enumerate().skip(first) {
            if p.start >= end {
                break;
            }
            if p.kind == ParamKind::Placeholder || self.source(i) != i {
                out.extend_from_slice(&self.sql[at..p.start]);
                self.write_text(i, out);
                at = p.end;
            }
        }
        out.extend_from_slice(&self.sql[at..end]);
    }

    /// The value of an operand.
    pub fn operand(&self, o: &Operand) -> Option<SqlValue<'a>> {
        match o {
            Operand::Param(i) => self.get(*i),
            Operand::Const(v) => Some(v.clone()),
            Operand::NegParam(i) => Some(match self.get(*i)? {
                SqlValue::Int(v) => SqlValue::Int(v.checked_neg()?),
                SqlValue::UInt(u) if u == 1 << 63 => SqlValue::Int(i64::MIN),
                SqlValue::Decimal(d) => SqlValue::Decimal(format!("-{d}").into()),
                SqlValue::Float(f) => SqlValue::Float(-f),
                _ => return None,
            }),
        }
    }
}

/// The shards a bound statement runs on (indexes into the keyspace's shards, ascending, no duplicates).
#[derive(Debug, Clone, PartialEq)]
pub enum BoundShards {
    /// Exactly one shard.
    One(usize),
    /// Several shards.
    Many(Vec<usize>),
    /// Read the lookup vindex's table for these values first.
    Lookup {
        /// The lookup vindex.
        vindex: usize,
        /// Values to look up.
        keys: Vec<SqlValue<'static>>,
    },
}

/// A statement bound to its shards.
pub type Bound = BoundShards;

fn no_shard(e: impl std::fmt::Display) -> Refusal {
    Refusal {
        code: 1526,
        state: "HY000",
        message: format!("no shard for this key: {e}"),
    }
}

/// The shards owning one value (with the region value for region vindexes).
pub fn shards_for_value(
    ks: &Keyspace,
    vindex: usize,
    key: Option<&SqlValue<'_>>,
    region: Option<&SqlValue<'_>>,
    out: &mut Vec<usize>,
) -> Result<(), Refusal> {
    let v = &ks.vindexes[vindex].vindex;
    let dest = match (region, key) {
        (Some(r), Some(k)) => v.map(&[r.clone(), k.clone()]),
        (Some(r), None) => v.map(std::slice::from_ref(r)),
        (None, Some(k)) => v.map(std::slice::from_ref(k)),
        (None, None) => return Ok(()),
    }
    .map_err(no_shard)?;
    match dest {
        Destination::KeyspaceId(id) => out.push(ks.shard_index_for(id)),
        Destination::Range(r) => out.extend(ks.shard_indexes_in(r)),
        Destination::None => {}
        Destination::NeedsLookup => return Err(no_shard("a lookup vindex cannot place rows by itself")),
    }
    Ok(())
}

fn settle(mut v: Vec<usize>) -> BoundShards {
    v.sort_unstable();
    v.dedup();
    match v.as_slice() {
        // No shard can hold the key (NULL): any one shard answers with the right (empty) result.
        [] => BoundShards::One(0),
        [one] => BoundShards::One(*one),
        _ => BoundShards::Many(v),
    }
}

/// Resolves a plan's target for one execution.
pub fn bind(ks: &Keyspace, target: &Target, vals: &ParamValues<'_>) -> Result<BoundShards, Refusal> {
    let missing = || Refusal::unsupported("a shard-key parameter without a value");
    Ok(match target {
        Target::AnyShard => BoundShards::One(0),
        Target::All => settle((0..ks.shards.len()).collect()),
        Target::Key { vindex, key, region } => {
            let k = vals.operand(key).ok_or_else(missing)?;
            let r = region
                .as_ref()
                .map(|r| vals.operand(r).ok_or_else(missing))
                .transpose()?;
            if r.is_none() {
                // The point-select hot path: one keyspace id, no allocation.
                match ks.vindexes[*vindex]
                    .vindex
                    .map(std::slice::from_ref(&k))
                    .map_err(no_shard)?
                {
                    Destination::KeyspaceId(id) => return Ok(BoundShards::One(ks.shard_index_for(id))),
                    Destination::None => return Ok(BoundShards::One(0)),
                    _ => {}
                }
            }
            let mut out = Vec::with_capacity(1);
            shards_for_value(ks, *vindex, Some(&k), r.as_ref(), &mut out)?;
            settle(out)
        }
        Target::Keys { vindex, keys, region } => {
            let r = region
                .as_ref()
                .map(|r| vals.operand(r).ok_or_else(missing))
                .transpose()?;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let k = vals.operand(k).ok_or_else(missing)?;
                shards_for_value(ks, *vindex, Some(&k), r.as_ref(), &mut out)?;
            }
            settle(out)
        }
        Target::Region { vindex, region } => {
            let r = vals.operand(region).ok_or_else(missing)?;
            let mut out = Vec::new();
            shards_for_value(ks, *vindex, None, Some(&r), &mut out)?;
            settle(out)
        }
        Target::Lookup { vindex, keys } => {
            let keys = keys
                .iter()
                .map(|k| vals.operand(k).map(SqlValue::into_owned).ok_or_else(missing))
                .collect::<Result<Vec<_>, _>>()?;
            BoundShards::Lookup { vindex: *vindex, keys }
        }
    })
}

/// For a statement bound to several shards by an `IN` list of parameters, each shard's rewrite of that list: the
/// parameters of values another shard owns are written as one of this shard's own values (`IN (1, 2, 3)` becomes
/// `IN (1, 1, 3)` on the shard owning 1 and 3), so every shard gets only its keys. `None` when the target is not
/// such a list. Entries are (shard, alias) in shard order.
pub fn split_in_list(ks: &Keyspace, target: &Target, vals: &ParamValues<'_>) -> Option<Vec<(usize, Vec<usize>)>> {
    let Target::Keys { vindex, keys, region } = target else {
        return None;
    };
    let indexes: Vec<usize> = keys
        .iter()
        .map(|k| match k {
            Operand::Param(i) => Some(*i),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let r = match region {
        None => None,
        Some(op) => Some(vals.operand(op)?),
    };
    let mut owner = Vec::with_capacity(indexes.len());
    for &i in &indexes {
        let mut out = Vec::with_capacity(1);
        shards_for_value(ks, *vindex, Some(&vals.get(i)?), r.as_ref(), &mut out).ok()?;
        owner.push(out.first().copied());
    }
    let mut shards: Vec<usize> = owner.iter().flatten().copied().collect();
    shards.sort_unstable();
    shards.dedup();
    let identity: Vec<usize> = (0..vals.params.len()).collect();
    Some(
        shards
            .into_iter()
            .map(|s| {
                let mine = indexes
                    .iter()
                    .zip(&owner)
                    .find(|(_, o)| **o == Some(s))
                    .map(|(i, _)| *i)
                    .expect("the shard owns a key");
                let mut alias = identity.clone();
                for (i, o) in indexes.iter().zip(&owner) {
                    if *o != Some(s) {
                        alias[*i] = mine;
                    }
                }
                (s, alias)
            })
            .collect(),
    )
}

/// Writes a template with the execution's parameter text and shard limit.
pub fn render(t: &Template, vals: &ParamValues<'_>, shard_limit: Option<u64>, out: &mut Vec<u8>) {
    for s in &t.0 {
        match s {
            Segment::Text(x) => out.extend_from_slice(x.as_bytes()),
            Segment::Param(i) => vals.write_text(*i, out),
            Segment::ShardLimit => out.extend_from_slice(shard_limit.unwrap_or(u64::MAX).to_string().as_bytes()),
        }
    }
}

fn count(vals: &ParamValues<'_>, o: &Operand, what: &str) -> Result<u64, Refusal> {
    match vals.operand(o) {
        Some(SqlValue::Int(i)) if i >= 0 => Ok(i as u64),
        Some(SqlValue::UInt(u)) => Ok(u),
        _ => Err(Refusal::unsupported(format!(
            "{what} that is not a non-negative integer across shards"
        ))),
    }
}

impl SelectMerge {
    /// The row limit each shard gets (`offset + limit`), when the statement has a LIMIT.
    pub fn shard_limit(&self, vals: &ParamValues<'_>) -> Result<Option<u64>, Refusal> {
        let Some(l) = &self.limit else { return Ok(None) };
        let limit = count(vals, l, "LIMIT")?;
        let offset = self
            .offset
            .as_ref()
            .map(|o| count(vals, o, "OFFSET"))
            .transpose()?
            .unwrap_or(0);
        Ok(Some(limit.saturating_add(offset)))
    }

    /// The merge spec for one execution, given the columns the shards returned.
    pub fn spec(&self, vals: &ParamValues<'_>, columns: &[ColumnInfo]) -> Result<MergeSpec, Refusal> {
        let ncols = columns.len();
        let first_hidden = ncols.saturating_sub(self.hidden_columns);
        let col = |c: usize| if self.wildcard { first_hidden + c } else { c };
        let order_by = self
            .order_by
            .iter()
            .map(|k| SortKey {
                column: col(k.column),
                descending: k.descending,
            })
            .collect();
        let averages = self
            .averages
            .iter()
            .map(|&(sum, count)| {
                let c = columns.get(sum);
                let is_double = c.is_some_and(|c| matches!(c.column_type, 4 | 5));
                Average {
                    sum,
                    count,
                    output: sum,
                    decimals: c.map(|c| average_decimals(c.decimals)).unwrap_or(4),
                    is_double,
                }
            })
            .collect();
        let having = self.having.as_ref().map(|h| having(h, vals)).transpose()?;
        Ok(MergeSpec {
            group_by: self.group_by.clone(),
            aggregates: self
                .aggregates
                .iter()
                .map(|&(column, kind)| Aggregate { column, kind })
                .collect(),
            aggregate_all: self.aggregate_all,
            averages,
            having,
            distinct: self.distinct,
            order_by,
            shards_sorted: self.shards_sorted,
            offset: self
                .offset
                .as_ref()
                .map(|o| count(vals, o, "OFFSET"))
                .transpose()?
                .unwrap_or(0),
            limit: self.limit.as_ref().map(|l| count(vals, l, "LIMIT")).transpose()?,
            visible_columns: first_hidden,
        })
    }
}

/// Decimals of an AVG result given its argument's SUM column decimals (MariaDB adds `div_precision_increment`, 4).
pub fn average_decimals(sum_decimals: u8) -> u8 {
    if sum_decimals >= 31 {
        sum_decimals
    } else {
        (sum_decimals + 4).min(30)
    }
}

fn having(h: &HavingTemplate, vals: &ParamValues<'_>) -> Result<HavingExpr, Refusal> {
    Ok(match h {
        HavingTemplate::Compare { column, op, value } => HavingExpr::Compare {
            column: *column,
            op: *op,
            value: vals
                .operand(value)
                .map(SqlValue::into_owned)
                .ok_or_else(|| Refusal::unsupported("a HAVING parameter without a value"))?,
        },
        HavingTemplate::And(a, b) => HavingExpr::And(Box::new(having(a, vals)?), Box::new(having(b, vals)?)),
        HavingTemplate::Or(a, b) => HavingExpr::Or(Box::new(having(a, vals)?), Box::new(having(b, vals)?)),
        HavingTemplate::Not(a) => HavingExpr::Not(Box::new(having(a, vals)?)),
        HavingTemplate::IsNull { column, negated } => HavingExpr::IsNull {
            column: *column,
            negated: *negated,
        },
    })
}
