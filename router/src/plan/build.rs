//! Building a plan from a statement on a plan-cache miss: keyword dispatch, then `sqlparser` for DML.

use super::select::plan_select_merge;
use super::tables::{conjuncts, table_use, Constraints, Placement, TableUse};
use super::{Action, LookupCleanup, Plan, Refusal, Target, WriteCombine};
use crate::lexer::{Lexer, TokenKind};
use crate::shardmap::{Keyspace, ShardMap};
use sqlparser::ast::{
    Expr, FromTable, JoinConstraint, JoinOperator, ObjectName, Query, SetExpr, Statement, TableWithJoins,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserOptions};
use std::ops::ControlFlow;

/// Leading keywords of statements that change schema: they run on every shard of the keyspace.
const DDL: [&str; 5] = ["CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME"];

/// Table maintenance statements: they run on every shard and answer with rows (one set per shard, concatenated).
const MAINTENANCE: [&str; 5] = ["ANALYZE", "OPTIMIZE", "REPAIR", "CHECKSUM", "CHECK"];

/// Leading keywords of read-only statements about the server or schema: any one shard answers.
const ANY_SHARD: [&str; 6] = ["SHOW", "DESCRIBE", "DESC", "EXPLAIN", "HELP", "DO"];

/// Plans `text` (the statement with parameters written `?N`) for sharded keyspace `ks` of `map`. The flag is false
/// when the SQL parser could not parse the text.
pub fn build(text: &str, params: usize, map: &ShardMap, ks: &Keyspace) -> (Plan, bool) {
    let (mut plan, parsed) = match build_inner(text, map, ks) {
        Ok(p) => (p, true),
        Err(Failure::Refused(r)) => (Plan::reject(r), true),
        Err(Failure::Parse(r)) => (Plan::reject(r), false),
    };
    plan.params = params;
    (plan, parsed)
}

/// Why a statement got no plan.
enum Failure {
    /// The statement is understood and cannot be placed.
    Refused(Refusal),
    /// The parser failed.
    Parse(Refusal),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Failure {
        Failure::Refused(r)
    }
}

fn first_word(text: &str) -> String {
    let b = text.as_bytes();
    Lexer::new(b)
        .find(|t| t.kind != TokenKind::Punct(b'('))
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| String::from_utf8_lossy(t.text(b)).to_ascii_uppercase())
        .unwrap_or_default()
}

fn build_inner(text: &str, map: &ShardMap, ks: &Keyspace) -> Result<Plan, Failure> {
    let word = first_word(text);
    if DDL.contains(&word.as_str()) {
        if is_database_ddl(text) {
            return Err(Refusal::unsupported(
                "CREATE/DROP DATABASE through the proxy; keyspaces are defined in the shard map",
            )
            .into());
        }
        return Ok(Plan {
            action: Action::Write {
                combine: WriteCombine::First,
                ddl: true,
                lookups: None,
            },
            target: Target::All,
            params: 0,
        });
    }
    if MAINTENANCE.contains(&word.as_str()) {
        return Ok(Plan {
            action: Action::Select(Default::default()),
            target: Target::All,
            params: 0,
        });
    }
    if ANY_SHARD.contains(&word.as_str()) {
        return Ok(Plan {
            action: Action::Passthrough,
            target: Target::AnyShard,
            params: 0,
        });
    }
    if !matches!(
        word.as_str(),
        "SELECT" | "WITH" | "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "VALUES" | "TABLE"
    ) {
        return Err(Refusal::unsupported(format!(
            "{word} on sharded keyspace {}; it cannot be placed on one shard",
            ks.name
        ))
        .into());
    }
    // Strings keep their escapes as written: shard SQL printed from the AST must mean what the client wrote
    // (printing an unescaped `'a\\b'` would give `'a\b'`, a backspace). Constants are unescaped where used.
    let stmts = Parser::new(&MySqlDialect {})
        .with_options(ParserOptions::new().with_unescape(false))
        .try_with_sql(text)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| {
            Failure::Parse(Refusal::unsupported(format!(
                "this statement on sharded keyspace {}: the router cannot parse it ({e})",
                ks.name
            )))
        })?;
    let [stmt] = stmts.as_slice() else {
        return Err(Refusal::unsupported("several statements in one query on a sharded keyspace").into());
    };
    Ok(plan_statement(stmt, map, ks)?)
}

fn plan_statement(stmt: &Statement, map: &ShardMap, ks: &Keyspace) -> Result<Plan, Refusal> {
    match stmt {
        Statement::Query(q) => plan_query(q, map, ks),
        Statement::Insert(ins) => super::insert::plan_insert(ins, map, ks),
        Statement::Update(u) => {
            if u.from.is_some() || !u.table.joins.is_empty() {
                return Err(Refusal::unsupported("multi-table UPDATE on a sharded keyspace"));
            }
            let (key_cols, lookup_cols) = match table_use(map, ks, &u.table.relation)?.placement {
                Placement::Sharded {
                    column,
                    vindex,
                    secondary,
                } => {
                    // The region column of a region vindex places the row as much as the key does.
                    let region = ks.vindexes[vindex].vindex.as_region().map(|r| r.column().to_string());
                    (
                        std::iter::once(column).chain(region).collect(),
                        secondary.into_iter().map(|(c, _)| c).collect(),
                    )
                }
                _ => (Vec::new(), Vec::new()),
            };
            for key in &key_cols {
                for a in &u.assignments {
                    let target = a.target.to_string();
                    let col = target.rsplit('.').next().unwrap_or(&target).trim_matches('`');
                    if let Some(l) = lookup_cols.iter().find(|l: &&String| l.eq_ignore_ascii_case(col)) {
                        return Err(Refusal::unsupported(format!(
                            "changing lookup-vindex column {l} with UPDATE; DELETE the row and INSERT it again"
                        )));
                    }
                    if col.eq_ignore_ascii_case(key) {
                        return Err(Refusal::unsupported(format!(
                            "changing shard-key column {key} with UPDATE (the row would belong to another shard); DELETE it and INSERT it again"
                        )));
                    }
                }
            }
            plan_write(
                std::slice::from_ref(&u.table),
                u.selection.as_ref(),
                u.limit.is_some(),
                stmt,
                map,
                ks,
                false,
            )
        }
        Statement::Delete(d) => {
            let from = match &d.from {
                FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
            };
            if from.len() != 1 || !from[0].joins.is_empty() || d.using.is_some() || !d.tables.is_empty() {
                return Err(Refusal::unsupported("multi-table DELETE on a sharded keyspace"));
            }
            plan_write(from, d.selection.as_ref(), d.limit.is_some(), stmt, map, ks, true)
        }
        other => Err(Refusal::unsupported(format!(
            "this statement on sharded keyspace {}: {}",
            ks.name,
            other.to_string().chars().take(60).collect::<String>()
        ))),
    }
}

fn is_database_ddl(text: &str) -> bool {
    let b = text.as_bytes();
    Lexer::new(b)
        .filter(|t| t.kind == TokenKind::Word && !t.is_word(b, "OR") && !t.is_word(b, "REPLACE"))
        .take(3)
        .any(|t| t.is_word(b, "DATABASE") || t.is_word(b, "SCHEMA"))
}

/// Every table named anywhere in the statement (including subqueries).
pub(super) fn all_relations<T: sqlparser::ast::Visit>(node: &T) -> Vec<ObjectName> {
    let mut out = Vec::new();
    let _ = sqlparser::ast::visit_relations(node, |r: &ObjectName| {
        out.push(r.clone());
        ControlFlow::<()>::Continue(())
    });
    out
}

/// Resolves the FROM clause and returns the tables in it, refusing sharded tables named only in subqueries.
fn from_tables<T: sqlparser::ast::Visit>(
    from: &[TableWithJoins],
    whole: &T,
    map: &ShardMap,
    ks: &Keyspace,
) -> Result<Vec<TableUse>, Refusal> {
    let mut tables = Vec::new();
    for twj in from {
        tables.push(table_use(map, ks, &twj.relation)?);
        for j in &twj.joins {
            tables.push(table_use(map, ks, &j.relation)?);
        }
    }
    let relations = all_relations(whole);
    if relations.len() > tables.len() {
        for r in &relations {
            let (name, placement) = super::tables::resolve(map, ks, r)?;
            let in_from = tables.iter().filter(|t| t.name == name).count();
            let named = relations
                .iter()
                .filter(|o| super::tables::split_name(o).is_some_and(|(_, n)| n == name))
                .count();
            if matches!(placement, Placement::Sharded { .. }) && named > in_from {
                return Err(Refusal::unsupported(format!(
                    "a subquery on sharded table {name}: its rows are on several shards; run it as its own query"
                )));
            }
        }
    }
    Ok(tables)
}

/// Collects routing constraints from WHERE and from ON clauses of joins.
fn constraints(from: &[TableWithJoins], selection: Option<&Expr>, tables: &[TableUse]) -> Result<Constraints, Refusal> {
    let mut c = Constraints::default();
    let mut terms = Vec::new();
    // ON terms of outer joins: they do not filter the rows of the preserved side, so only their column equalities
    // (which keep joined rows together) count, not their values.
    let mut outer_terms = Vec::new();
    if let Some(w) = selection {
        conjuncts(w, &mut terms);
    }
    for twj in from {
        for j in &twj.joins {
            let (constraint, outer) = match &j.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::StraightJoin(c) => (c, false),
                JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c) => (c, true),
                other => {
                    return Err(Refusal::unsupported(format!(
                        "the join {other:?} on a sharded keyspace"
                    )))
                }
            };
            match constraint {
                JoinConstraint::On(e) => conjuncts(e, if outer { &mut outer_terms } else { &mut terms }),
                JoinConstraint::None => {}
                _ => {
                    return Err(Refusal::unsupported(
                        "JOIN … USING/NATURAL on a sharded keyspace; write ON a.key = b.key",
                    ))
                }
            }
        }
    }
    for t in terms {
        c.add(tables, t);
    }
    for t in outer_terms {
        let mut on = Constraints::default();
        on.add(tables, t);
        c.joins.append(&mut on.joins);
    }
    Ok(c)
}

/// Decides the target of a statement over `tables`: sharded tables must share one vindex and be joined on their
/// shard keys (or be alone); reference and system tables go anywhere.
fn route(ks: &Keyspace, tables: &[TableUse], c: &Constraints) -> Result<Target, Refusal> {
    let sharded: Vec<usize> = (0..tables.len())
        .filter(|&i| matches!(tables[i].placement, Placement::Sharded { .. }))
        .collect();
    let Some(&first) = sharded.first() else {
        return Ok(Target::AnyShard);
    };
    if sharded.len() > 1 {
        // Union-find over sharded tables joined by equal shard keys through the same vindex.
        let key_of = |i: usize| match &tables[i].placement {
            Placement::Sharded { column, vindex, .. } => (column.as_str(), *vindex),
            _ => unreachable!("filtered to sharded tables"),
        };
        let mut group: Vec<usize> = (0..tables.len()).collect();
        fn find(g: &mut [usize], i: usize) -> usize {
            let mut r = i;
            while g[r] != r {
                r = g[r];
            }
            g[i] = r;
            r
        }
        for ((ta, ca), (tb, cb)) in &c.joins {
            let (sa, sb) = (&tables[*ta].placement, &tables[*tb].placement);
            if let (Placement::Sharded { .. }, Placement::Sharded { .. }) = (sa, sb) {
                let (ka, va) = key_of(*ta);
                let (kb, vb) = key_of(*tb);
                // Rows of a region vindex are placed by (region, key): the region columns must be joined too.
                let regions_joined = ks.vindexes[va].vindex.as_region().is_none_or(|r| {
                    c.joins.iter().any(|((xa, xc), (xb, xd))| {
                        let col = |x: &String| x.eq_ignore_ascii_case(r.column());
                        ((*xa, *xb) == (*ta, *tb) || (*xa, *xb) == (*tb, *ta)) && col(xc) && col(xd)
                    })
                });
                if ka.eq_ignore_ascii_case(ca) && kb.eq_ignore_ascii_case(cb) && va == vb && regions_joined {
                    let (ra, rb) = (find(&mut group, *ta), find(&mut group, *tb));
                    group[ra] = rb;
                }
            }
        }
        let root = find(&mut group, first);
        for &i in &sharded[1..] {
            if find(&mut group, i) != root {
                let (a, b) = (&tables[first].qualifier, &tables[i].qualifier);
                let region = match ks.vindexes[key_of(first).1].vindex.as_region() {
                    Some(r) if key_of(first).1 == key_of(i).1 => format!(" AND {a}.{c} = {b}.{c}", c = r.column()),
                    _ => String::new(),
                };
                return Err(Refusal::unsupported(format!(
                    "a join of sharded tables {} and {} that is not on their shard keys through one vindex (the rows may be on different shards); join ON {a}.{} = {b}.{}{region} or make one a reference table",
                    tables[first].name,
                    tables[i].name,
                    key_of(first).0,
                    key_of(i).0
                )));
            }
        }
    }
    // Every sharded table is on the same shard as the others: the most precise target of any of them wins.
    let mut best = Target::All;
    for &i in &sharded {
        let t = c.target_for(ks, tables, i);
        let rank = |t: &Target| match t {
            Target::Key { .. } => 0,
            Target::Keys { .. } => 1,
            Target::Lookup { .. } => 2,
            Target::Region { .. } => 3,
            _ => 4,
        };
        if rank(&t) < rank(&best) {
            best = t;
        }
    }
    Ok(best)
}

fn plan_query(q: &Query, map: &ShardMap, ks: &Keyspace) -> Result<Plan, Refusal> {
    if q.with.is_some() {
        return Err(Refusal::unsupported(
            "WITH (common table expressions) on a sharded keyspace",
        ));
    }
    let select = match &*q.body {
        SetExpr::Select(s) => s,
        SetExpr::Query(inner) if q.order_by.is_none() && q.limit_clause.is_none() => return plan_query(inner, map, ks),
        _ => {
            // UNION and friends: fine when no sharded table is involved.
            for r in all_relations(q) {
                if let (_, Placement::Sharded { .. }) = super::tables::resolve(map, ks, &r)? {
                    return Err(Refusal::unsupported(
                        "UNION/INTERSECT/EXCEPT over sharded tables; run each SELECT on its own",
                    ));
                }
            }
            return Ok(Plan {
                action: Action::Passthrough,
                target: Target::AnyShard,
                params: 0,
            });
        }
    };
    let tables = from_tables(&select.from, q, map, ks)?;
    let c = constraints(&select.from, select.selection.as_ref(), &tables)?;
    let target = route(ks, &tables, &c)?;
    let merge = match target {
        Target::AnyShard | Target::Key { .. } => Default::default(),
        _ => plan_select_merge(q, select)?,
    };
    Ok(Plan {
        action: Action::Select(merge),
        target,
        params: 0,
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_write(
    from: &[TableWithJoins],
    selection: Option<&Expr>,
    has_limit: bool,
    stmt: &Statement,
    map: &ShardMap,
    ks: &Keyspace,
    is_delete: bool,
) -> Result<Plan, Refusal> {
    let tables = from_tables(from, stmt, map, ks)?;
    let table = &tables[0];
    match &table.placement {
        Placement::Reference => Ok(Plan::reference_write()),
        Placement::System => Err(Refusal::unsupported("writing system tables through a sharded keyspace")),
        Placement::Sharded { secondary, .. } => {
            let c = constraints(from, selection, &tables)?;
            let target = route(ks, &tables, &c)?;
            if target == Target::All && !ks.scatter_writes {
                return Err(Refusal::unsupported(format!(
                    "{} without a shard key on sharded table {}.{} (scatter_writes: refuse); add WHERE {} = …",
                    if is_delete { "DELETE" } else { "UPDATE" },
                    ks.name,
                    table.name,
                    match &table.placement {
                        Placement::Sharded { column, .. } => column.as_str(),
                        _ => "",
                    }
                )));
            }
            let verb = if is_delete { "DELETE" } else { "UPDATE" };
            if has_limit && !matches!(target, Target::Key { .. }) {
                return Err(Refusal::unsupported(format!(
                    "{verb} … LIMIT on several shards of sharded table {}.{}: each shard would apply the LIMIT; add WHERE {} = …",
                    ks.name,
                    table.name,
                    match &table.placement {
                        Placement::Sharded { column, .. } => column.as_str(),
                        _ => "",
                    }
                )));
            }
            if has_limit && is_delete && !secondary.is_empty() {
                return Err(Refusal::unsupported(format!(
                    "DELETE … LIMIT on table {}.{} with lookup vindexes: the proxy cannot tell which rows the LIMIT removes, so it cannot remove their lookup entries",
                    ks.name, table.name
                )));
            }
            let lookups = if is_delete && !secondary.is_empty() {
                Some(lookup_cleanup(ks, table, selection, secondary)?)
            } else {
                None
            };
            Ok(Plan {
                action: Action::Write {
                    combine: WriteCombine::Sum,
                    ddl: false,
                    lookups,
                },
                target,
                params: 0,
            })
        }
    }
}

/// The SELECT that finds the lookup entries of the rows a DELETE removes.
fn lookup_cleanup(
    ks: &Keyspace,
    table: &TableUse,
    selection: Option<&Expr>,
    secondary: &[(String, usize)],
) -> Result<LookupCleanup, Refusal> {
    let Placement::Sharded { column, vindex, .. } = &table.placement else {
        unreachable!("called for sharded tables")
    };
    let quote = |c: &str| format!("`{}`", c.replace('`', "``"));
    let mut cols: Vec<String> = secondary.iter().map(|(c, _)| quote(c)).collect();
    cols.push(quote(column));
    let region = ks.vindexes[*vindex].vindex.as_region().map(|r| {
        cols.push(quote(r.column()));
        cols.len() - 1
    });
    let mut sql = format!(
        "SELECT {} FROM {} AS {}",
        cols.join(", "),
        quote(&table.name),
        quote(&table.qualifier)
    );
    if let Some(w) = selection {
        sql.push_str(&format!(" WHERE {w}"));
    }
    Ok(LookupCleanup {
        select: super::select::template(&sql),
        vindexes: secondary.iter().map(|(_, v)| *v).collect(),
        key: secondary.len(),
        region,
        vindex: *vindex,
    })
}
