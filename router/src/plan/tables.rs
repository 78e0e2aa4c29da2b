//! Table resolution and shard-key conditions: which shard map table each name in a statement is, and which
//! equalities in WHERE/ON fix a table's shard key.

use super::{Operand, Refusal, Target};
use crate::normalize::{number_value, unescape_string};
use crate::shardmap::{Keyspace, ShardMap, TableKind};
use crate::value::SqlValue;
use sqlparser::ast::{
    BinaryOperator, Expr, Ident, InTarget, ObjectName, ObjectNamePart, TableFactor, UnaryOperator, Value,
};
use std::borrow::Cow;

/// Databases every server has; statements naming them run on any shard.
const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// What a table name in a statement refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A sharded table: rows spread by the vindex on `column`.
    Sharded {
        /// Shard-key column.
        column: String,
        /// Primary vindex index.
        vindex: usize,
        /// Lookup vindexes: (column, vindex index).
        secondary: Vec<(String, usize)>,
    },
    /// A full copy on every shard.
    Reference,
    /// A system schema table (information_schema…): same on every server.
    System,
}

/// A table of the statement: its name, the alias it goes by, and its placement.
#[derive(Debug, Clone)]
pub struct TableUse {
    /// Table name.
    pub name: String,
    /// The name columns qualify it with (alias, or the table name).
    pub qualifier: String,
    /// Placement.
    pub placement: Placement,
}

/// Splits an object name into (optional database, table).
pub fn split_name(name: &ObjectName) -> Option<(Option<String>, String)> {
    let parts: Vec<&Ident> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    match parts.as_slice() {
        [t] => Some((None, t.value.clone())),
        [d, t] => Some((Some(d.value.clone()), t.value.clone())),
        _ => None,
    }
}

/// Resolves a table name used in keyspace `ks`.
pub fn resolve(map: &ShardMap, ks: &Keyspace, name: &ObjectName) -> Result<(String, Placement), Refusal> {
    let (db, table) = split_name(name)
        .ok_or_else(|| Refusal::unsupported(format!("the table name {name}; write table or keyspace.table")))?;
    if db.is_none() && table.eq_ignore_ascii_case("dual") {
        // `SELECT 1 FROM DUAL`: MySQL's dummy table, no rows of any keyspace.
        return Ok((table, Placement::System));
    }
    if let Some(db) = &db {
        if SYSTEM_DATABASES.iter().any(|s| s.eq_ignore_ascii_case(db)) {
            return Ok((table, Placement::System));
        }
        if *db != ks.name {
            return Err(if map.keyspace(db).is_some() {
                Refusal::unsupported(format!(
                    "a statement on sharded keyspace {} naming table {db}.{table} of another keyspace; query each keyspace on its own",
                    ks.name
                ))
            } else {
                Refusal {
                    code: 1049,
                    state: "42000",
                    message: format!("Unknown database '{db}'"),
                }
            });
        }
    }
    let Some(t) = ks.table(&table) else {
        return Err(Refusal {
            code: 1146,
            state: "42S02",
            message: format!(
                "table {}.{table} is not in the shard map, so its rows cannot be placed; add it under keyspaces.{}.tables (sharded with a column and vindex, or `type: reference`)",
                ks.name, ks.name
            ),
        });
    };
    let placement = match &t.kind {
        TableKind::Sharded {
            column,
            vindex,
            secondary,
        } => Placement::Sharded {
            column: column.clone(),
            vindex: *vindex,
            secondary: secondary.iter().map(|s| (s.column.clone(), s.vindex)).collect(),
        },
        TableKind::Reference => Placement::Reference,
        TableKind::Sequence => Placement::Reference,
    };
    Ok((table, placement))
}

/// Resolves a FROM-clause table factor (a plain table; derived tables and functions are refused by the caller).
pub fn table_use(map: &ShardMap, ks: &Keyspace, factor: &TableFactor) -> Result<TableUse, Refusal> {
    match factor {
        TableFactor::Table { name, alias, args, .. } if args.is_none() => {
            let (table, placement) = resolve(map, ks, name)?;
            let qualifier = alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .unwrap_or_else(|| table.clone());
            Ok(TableUse {
                name: table,
                qualifier,
                placement,
            })
        }
        TableFactor::Derived { .. } => Err(Refusal::unsupported(
            "derived tables (subqueries in FROM) on a sharded keyspace; query the sharded table directly",
        )),
        other => Err(Refusal::unsupported(format!(
            "the table expression {other} on a sharded keyspace"
        ))),
    }
}

/// The value an expression stands for when it is a parameter or a constant.
pub fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Nested(inner) => operand(inner),
        Expr::Value(v) => value_operand(&v.value),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match &**expr {
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => placeholder_index(p).map(Operand::NegParam),
                Value::Number(n, _) => Some(Operand::Const(number_value(format!("-{n}").as_bytes()).into_owned())),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

fn value_operand(v: &Value) -> Option<Operand> {
    Some(match v {
        Value::Placeholder(p) => Operand::Param(placeholder_index(p)?),
        Value::Number(n, _) => Operand::Const(number_value(n.as_bytes()).into_owned()),
        // The parser keeps escapes as written (see `build`): resolve them here.
        Value::SingleQuotedString(s) => Operand::Const(SqlValue::Bytes(Cow::Owned(
            unescape_string(format!("'{s}'").as_bytes()).into_owned(),
        ))),
        Value::DoubleQuotedString(s) => Operand::Const(SqlValue::Bytes(Cow::Owned(
            unescape_string(format!("\"{s}\"").as_bytes()).into_owned(),
        ))),
        Value::Boolean(b) => Operand::Const(SqlValue::Int(i64::from(*b))),
        Value::Null => Operand::Const(SqlValue::Null),
        _ => return None,
    })
}

/// `?N` → N.
pub fn placeholder_index(p: &str) -> Option<usize> {
    p.strip_prefix('?')?.parse().ok()
}

/// A column reference: (qualifier if written, column name).
pub fn column_ref(e: &Expr) -> Option<(Option<&str>, &str)> {
    match e {
        Expr::Nested(inner) => column_ref(inner),
        Expr::Identifier(i) => Some((None, &i.value)),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [t, c] => Some((Some(&t.value), &c.value)),
            [_, t, c] => Some((Some(&t.value), &c.value)),
            _ => None,
        },
        _ => None,
    }
}

/// Splits an expression into its top-level AND conjuncts.
pub fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

/// Constraints found on the columns of the statement's tables.
#[derive(Debug, Default)]
pub struct Constraints {
    /// `table.column = value`: (table index, column, value).
    pub equal: Vec<(usize, String, Operand)>,
    /// `table.column IN (values)`.
    pub within: Vec<(usize, String, Vec<Operand>)>,
    /// `a.x = b.y` between two tables: ((table, column), (table, column)).
    pub joins: Vec<((usize, String), (usize, String))>,
}

/// Finds the table a column reference belongs to. Unqualified names are attributed to the only table, or to the
/// only sharded table whose shard key (or lookup column) has that name.
pub fn owner(tables: &[TableUse], qualifier: Option<&str>, column: &str) -> Option<usize> {
    match qualifier {
        Some(q) => tables.iter().position(|t| t.qualifier == q || t.name == q),
        None if tables.len() == 1 => Some(0),
        None => {
            let mut found = None;
            for (i, t) in tables.iter().enumerate() {
                if let Placement::Sharded {
                    column: c, secondary, ..
                } = &t.placement
                {
                    if c.eq_ignore_ascii_case(column) || secondary.iter().any(|(s, _)| s.eq_ignore_ascii_case(column)) {
                        if found.is_some() {
                            return None;
                        }
                        found = Some(i);
                    }
                }
            }
            found
        }
    }
}

impl Constraints {
    /// Collects constraints from one conjunct.
    pub fn add(&mut self, tables: &[TableUse], e: &Expr) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let l = column_ref(left).and_then(|(q, c)| owner(tables, q, c).map(|t| (t, c.to_string())));
                let r = column_ref(right).and_then(|(q, c)| owner(tables, q, c).map(|t| (t, c.to_string())));
                match (l, r) {
                    (Some(a), Some(b)) => self.joins.push((a, b)),
                    (Some((t, c)), None) => {
                        if let Some(v) = operand(right) {
                            self.equal.push((t, c, v));
                        }
                    }
                    (None, Some((t, c))) => {
                        if let Some(v) = operand(left) {
                            self.equal.push((t, c, v));
                        }
                    }
                    (None, None) => {}
                }
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                negated: false,
                ..
            } => {
                let Some((t, c)) = column_ref(expr).and_then(|(q, c)| owner(tables, q, c).map(|t| (t, c))) else {
                    return;
                };
                let values: Option<Vec<Operand>> = list.iter().map(operand).collect();
                if let Some(values) = values {
                    if values.len() == 1 {
                        self.equal
                            .push((t, c.to_string(), values.into_iter().next().expect("one")));
                    } else {
                        self.within.push((t, c.to_string(), values));
                    }
                }
            }
            _ => {}
        }
    }

    fn equal_on(&self, table: usize, column: &str) -> Option<&Operand> {
        self.equal
            .iter()
            .find(|(t, c, _)| *t == table && c.eq_ignore_ascii_case(column))
            .map(|(_, _, v)| v)
    }

    fn within_on(&self, table: usize, column: &str) -> Option<&Vec<Operand>> {
        self.within
            .iter()
            .find(|(t, c, _)| *t == table && c.eq_ignore_ascii_case(column))
            .map(|(_, _, v)| v)
    }

    /// The best target for sharded table `table`: its primary vindex by `=`, then by `IN`, then a lookup vindex,
    /// else every shard.
    pub fn target_for(&self, ks: &Keyspace, tables: &[TableUse], table: usize) -> Target {
        let Placement::Sharded {
            column,
            vindex,
            secondary,
        } = &tables[table].placement
        else {
            return Target::AnyShard;
        };
        let region = ks.vindexes[*vindex]
            .vindex
            .as_region()
            .map(|r| self.equal_on(table, r.column()).cloned());
        // A region vindex needs its region column too; without it the key alone does not say where.
        let region = match region {
            None => None,
            Some(Some(r)) => Some(r),
            Some(None) => {
                return self.lookup_or_all(table, secondary);
            }
        };
        if let Some(v) = self.equal_on(table, column) {
            return Target::Key {
                vindex: *vindex,
                key: v.clone(),
                region,
            };
        }
        if let Some(vs) = self.within_on(table, column) {
            return Target::Keys {
                vindex: *vindex,
                keys: vs.clone(),
                region,
            };
        }
        if let Some(region) = region {
            return Target::Region {
                vindex: *vindex,
                region,
            };
        }
        self.lookup_or_all(table, secondary)
    }

    fn lookup_or_all(&self, table: usize, secondary: &[(String, usize)]) -> Target {
        for (col, vindex) in secondary {
            if let Some(v) = self.equal_on(table, col) {
                return Target::Lookup {
                    vindex: *vindex,
                    keys: vec![v.clone()],
                };
            }
            if let Some(vs) = self.within_on(table, col) {
                return Target::Lookup {
                    vindex: *vindex,
                    keys: vs.clone(),
                };
            }
        }
        Target::All
    }
}
