//! INSERT into sharded tables: the plan (which column positions hold the shard key, region, sequence id and lookup
//! values) and the text surgery that splits a multi-row INSERT into one INSERT per shard.

use super::tables::{resolve, Placement};
use super::{Action, AutoIncrementPlan, InsertPlan, Plan, Refusal, Target};
use crate::lexer::{Lexer, TokenKind};
use crate::shardmap::{Keyspace, ShardMap};
use sqlparser::ast::{Insert, OnInsert, SetExpr, TableObject};

/// Plans an INSERT/REPLACE on sharded keyspace `ks`.
pub fn plan_insert(ins: &Insert, map: &ShardMap, ks: &Keyspace) -> Result<Plan, Refusal> {
    let TableObject::TableName(name) = &ins.table else {
        return Err(Refusal::unsupported("INSERT INTO a table function"));
    };
    let (table, placement) = resolve(map, ks, name)?;
    // Rows read from a sharded table (INSERT … SELECT, subqueries in VALUES) are only those of the shard the
    // INSERT runs on. The first relation is the target itself.
    let reads_sharded = || -> Result<(), Refusal> {
        for r in super::build::all_relations(ins).iter().skip(1) {
            if let (other, Placement::Sharded { .. }) = resolve(map, ks, r)? {
                return Err(Refusal::unsupported(format!(
                    "INSERT into {table} reading sharded table {other}: its rows are on several shards; read them with their own query"
                )));
            }
        }
        Ok(())
    };
    let (key, vindex, secondary) = match placement {
        Placement::Reference => {
            reads_sharded()?;
            return Ok(Plan::reference_write());
        }
        Placement::System => return Err(Refusal::unsupported("writing system tables through a sharded keyspace")),
        Placement::Sharded {
            column,
            vindex,
            secondary,
        } => (column, vindex, secondary),
    };
    match ins.source.as_deref().map(|q| &*q.body) {
        Some(SetExpr::Values(_)) => {}
        Some(_) => {
            return Err(Refusal::unsupported(format!(
                "INSERT … SELECT into sharded table {table}: the selected rows would have to be routed one by one; insert VALUES"
            )))
        }
        None => {
            return Err(Refusal::unsupported(format!(
                "INSERT … SET into sharded table {table}; write INSERT INTO {table} (columns) VALUES (…)"
            )))
        }
    }
    reads_sharded()?;
    if ins.columns.is_empty() {
        return Err(Refusal::unsupported(format!(
            "INSERT into sharded table {table} without a column list: the proxy must know which value is the shard key {key}; name the columns"
        )));
    }
    let names: Vec<String> = ins
        .columns
        .iter()
        .map(|c| c.to_string().trim_matches('`').to_string())
        .collect();
    let position = |col: &str| names.iter().position(|n| n.eq_ignore_ascii_case(col));
    let def = ks.table(&table).expect("resolved above");
    let auto_increment = def.auto_increment.as_ref().map(|a| AutoIncrementPlan {
        position: position(&a.column),
        column: a.column.clone(),
        sequence: (a.keyspace.clone(), a.table.clone()),
        cache: a.cache,
        is_key: a.column.eq_ignore_ascii_case(&key),
    });
    let key_column = position(&key);
    if key_column.is_none() && !auto_increment.as_ref().is_some_and(|a| a.is_key) {
        return Err(Refusal::unsupported(format!(
            "INSERT into sharded table {table} without its shard key column {key}; add {key} to the column list"
        )));
    }
    let region_column = match ks.vindexes[vindex].vindex.as_region() {
        Some(r) => Some(position(r.column()).ok_or_else(|| {
            Refusal::unsupported(format!(
                "INSERT into geo-sharded table {table} without its region column {}; add it to the column list",
                r.column()
            ))
        })?),
        None => None,
    };
    if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on {
        let region = ks.vindexes[vindex].vindex.as_region().map(|r| r.column());
        for a in assignments {
            let t = a.target.to_string();
            let col = t.rsplit('.').next().unwrap_or(&t).trim_matches('`');
            if col.eq_ignore_ascii_case(&key)
                || region.is_some_and(|r| r.eq_ignore_ascii_case(col))
                || secondary.iter().any(|(c, _)| c.eq_ignore_ascii_case(col))
            {
                return Err(Refusal::unsupported(format!(
                    "ON DUPLICATE KEY UPDATE of {col}, a shard-key or lookup column of {table}"
                )));
            }
        }
    }
    let lookups = secondary
        .iter()
        .filter_map(|(col, v)| position(col).map(|p| (*v, p)))
        .collect();
    Ok(Plan {
        action: Action::Insert(InsertPlan {
            table,
            vindex,
            key_column,
            region_column,
            auto_increment,
            lookups,
            columns: names.len(),
        }),
        target: Target::All,
        params: 0,
    })
}

/// Byte spans of an `INSERT … (columns) VALUES (row), (row) …` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertText {
    /// Offset of the `)` that closes the column list.
    pub columns_end: usize,
    /// Offset just after the `VALUES` / `VALUE` keyword.
    pub values_end: usize,
    /// The rows.
    pub rows: Vec<RowText>,
    /// Offset where the text after the last row starts (`ON DUPLICATE KEY UPDATE …`, or the end).
    pub tail: usize,
}

/// One parenthesized row of VALUES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowText {
    /// Offset of the `(`.
    pub start: usize,
    /// Offset just after the `)`.
    pub end: usize,
    /// Span of each value expression.
    pub values: Vec<(usize, usize)>,
}

/// Finds the column list and the rows of an INSERT's VALUES clause; `None` when the text has no such shape.
pub fn split_insert(sql: &[u8]) -> Option<InsertText> {
    let tokens: Vec<_> = Lexer::new(sql).collect();
    let mut depth = 0i32;
    let mut values_at = None;
    let mut last_close = None;
    for (i, t) in tokens.iter().enumerate() {
        match t.kind {
            TokenKind::Punct(b'(') => depth += 1,
            TokenKind::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    last_close = Some(t.start);
                }
            }
            TokenKind::Word if depth == 0 && (t.is_word(sql, "VALUES") || t.is_word(sql, "VALUE")) => {
                values_at = Some(i);
                break;
            }
            _ => {}
        }
    }
    let vi = values_at?;
    let columns_end = last_close?;
    let mut rows = Vec::new();
    let mut i = vi + 1;
    loop {
        let open = tokens.get(i)?;
        if !open.is_punct(b'(') {
            return None;
        }
        let mut d = 0i32;
        let mut values = Vec::new();
        let mut value_start: Option<usize> = None;
        let mut value_end = 0;
        let mut j = i;
        loop {
            let t = tokens.get(j)?;
            match t.kind {
                TokenKind::Punct(b'(') => {
                    d += 1;
                    if d > 1 {
                        value_start.get_or_insert(t.start);
                        value_end = t.end;
                    }
                }
                TokenKind::Punct(b')') => {
                    d -= 1;
                    if d == 0 {
                        if let Some(s) = value_start.take() {
                            values.push((s, value_end));
                        }
                        break;
                    }
                    value_end = t.end;
                }
                TokenKind::Punct(b',') if d == 1 => {
                    values.push((value_start.take()?, value_end));
                }
                _ => {
                    value_start.get_or_insert(t.start);
                    value_end = t.end;
                }
            }
            j += 1;
        }
        rows.push(RowText {
            start: open.start,
            end: tokens[j].end,
            values,
        });
        i = j + 1;
        match tokens.get(i) {
            Some(t) if t.is_punct(b',') => i += 1,
            Some(t) => {
                return Some(InsertText {
                    columns_end,
                    values_end: tokens[vi].end,
                    rows,
                    tail: t.start,
                })
            }
            None => {
                return Some(InsertText {
                    columns_end,
                    values_end: tokens[vi].end,
                    rows,
                    tail: sql.len(),
                })
            }
        }
    }
}

impl InsertText {
    /// Writes an INSERT with only the rows `rows` (indexes into `self.rows`). `column` appends a column to the list;
    /// `row_text(row, out)` writes each row's parenthesized text (the caller substitutes values there).
    pub fn render(
        &self,
        sql: &[u8],
        rows: &[usize],
        column: Option<&str>,
        mut row_text: impl FnMut(usize, &mut Vec<u8>),
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(&sql[..self.columns_end]);
        if let Some(c) = column {
            out.extend_from_slice(b", `");
            out.extend_from_slice(c.replace('`', "``").as_bytes());
            out.push(b'`');
        }
        out.extend_from_slice(&sql[self.columns_end..self.values_end]);
        out.push(b' ');
        for (n, &r) in rows.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            row_text(r, out);
        }
        if self.tail < sql.len() {
            out.push(b' ');
            out.extend_from_slice(&sql[self.tail..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_rows_and_values() {
        let sql =
            b"INSERT INTO t (id, name, v) VALUES (1, 'a,b', f(2, 3)), (-2,'x)',NULL) ON DUPLICATE KEY UPDATE v = 1";
        let it = split_insert(sql).unwrap();
        assert_eq!(&sql[it.columns_end..it.columns_end + 1], b")");
        assert_eq!(it.rows.len(), 2);
        let vals: Vec<&[u8]> = it.rows[0].values.iter().map(|&(s, e)| &sql[s..e]).collect();
        assert_eq!(vals, vec![&b"1"[..], b"'a,b'", b"f(2, 3)"]);
        let vals: Vec<&[u8]> = it.rows[1].values.iter().map(|&(s, e)| &sql[s..e]).collect();
        assert_eq!(vals, vec![&b"-2"[..], b"'x)'", b"NULL"]);
        assert_eq!(&sql[it.tail..], b"ON DUPLICATE KEY UPDATE v = 1");
        let mut out = Vec::new();
        it.render(
            sql,
            &[1],
            Some("seq"),
            |r, o| {
                let row = &it.rows[r];
                o.extend_from_slice(&sql[row.start..row.end - 1]);
                o.extend_from_slice(b", 7)");
            },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INSERT INTO t (id, name, v, `seq`) VALUES (-2,'x)',NULL, 7) ON DUPLICATE KEY UPDATE v = 1"
        );
        assert!(split_insert(b"INSERT INTO t SET a = 1").is_none());
        let it = split_insert(b"insert into t(a) value (?)").unwrap();
        assert_eq!(it.rows[0].values.len(), 1);
    }
}
