//! Statements on several shards: scatter reads merged by `router::merge`, writes whose OK packets combine,
//! INSERTs split row by row (with sequence ids and lookup-vindex entries), and DELETEs that clean lookup tables.
//!
//! Shards run in parallel, each on the transaction's connection for it or a pooled one. Multi-shard writes outside
//! a transaction run in an implicit transaction, so a statement that fails on one shard changes nothing.

use super::sharded::refusal_error;
use super::{Fatal, Held, Session};
use crate::backend::collect::Collected;
use crate::backend::{oneshot, BackendError, BackendPool};
use crate::metrics::CommandClass;
use crate::protocol::binary::put_binary_row;
use crate::protocol::errors::SqlError;
use crate::protocol::packets::OkInfo;
use crate::protocol::rows::{column_info, put_text_row, with_decimals, with_name, write_result};
use bytes::Bytes;
use shardgate_router::lexer::{Lexer, TokenKind};
use shardgate_router::merge::{merge, Row};
use shardgate_router::plan::bind::average_decimals;
use shardgate_router::plan::select::select_list_spans;
use shardgate_router::plan::{render, split_insert, InsertPlan, LookupCleanup, ParamValues, SelectMerge, WriteCombine};
use shardgate_router::vindex::{Destination, LookupVindex};
use shardgate_router::{Keyspace, PreviousCounts, SqlValue};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Runs `sqls[i]` on `conns[i]`, all at once.
async fn collect_all(conns: &mut [Held], sqls: &[Bytes]) -> Vec<Result<Collected, BackendError>> {
    futures_util::future::join_all(conns.iter_mut().zip(sqls).map(|(h, sql)| h.conn.collect(sql))).await
}

/// How the shards of one statement answered.
enum Outcome {
    /// Every shard answered; a server error of one shard is the statement's error.
    Answers(Vec<Collected>),
    /// A connection broke (already reported to the client).
    Lost,
}

impl Session<'_> {
    /// Connections for `shards` (transaction participants, or pooled connections in the session's state).
    async fn shard_conns(&mut self, ks: &Keyspace, shards: &[usize]) -> Result<Vec<Held>, SqlError> {
        let mut out = Vec::with_capacity(shards.len());
        for &s in shards {
            let pool = self.ctx.pools.get(&ks.shards[s].primary.addr);
            let h = if self.in_shard_tx() {
                self.tx_participant(&pool).await
            } else {
                self.checkout_restored(pool).await
            };
            match h {
                Ok(h) => out.push(h),
                Err(e) => {
                    self.return_conns(out);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Gives connections back: to the transaction, or to their pools.
    fn return_conns(&mut self, conns: Vec<Held>) {
        for h in conns {
            match self.tx.as_mut() {
                Some(tx) => tx.push_conn(h),
                None => h.pool.release(h.conn),
            }
        }
    }

    /// Runs one text statement per shard and gathers the answers; reports a lost connection to the client.
    async fn run_on_shards(
        &mut self,
        seq: u8,
        ks: &Keyspace,
        shards: &[usize],
        sqls: &[Bytes],
        class: CommandClass,
    ) -> Result<Outcome, Fatal> {
        let mut conns = match self.shard_conns(ks, shards).await {
            Ok(c) => c,
            Err(e) => {
                self.fail(seq, class, &e).await?;
                return Ok(Outcome::Lost);
            }
        };
        let results = collect_all(&mut conns, sqls).await;
        let mut answers = Vec::with_capacity(results.len());
        let mut lost = None;
        let mut kept = Vec::with_capacity(conns.len());
        for (h, r) in conns.into_iter().zip(results) {
            match r {
                Ok(c) => {
                    answers.push(c);
                    kept.push(h);
                }
                Err(e) => {
                    lost.get_or_insert((h.pool.addr().clone(), e));
                }
            }
        }
        self.return_conns(kept);
        if let Some(code) = answers.iter().find_map(|a| match a {
            Collected::Err(e) => Some(e.code),
            _ => None,
        }) {
            self.abort_tx_if_rolled_back(code).await;
        }
        if let Some((addr, e)) = lost {
            self.ctx.metrics.statement(class, false);
            tracing::warn!(session = self.id, backend = %addr, error = %e, "backend connection failed during a multi-shard statement");
            self.reply_err(seq, &SqlError::backend_lost(&addr, &e)).await?;
            if let Some(tx) = self.tx.take() {
                let _ = self.finish_tx(tx, false).await;
                tracing::info!(
                    session = self.id,
                    "closing client connection: its transaction lost a shard"
                );
                return Err(Fatal);
            }
            return Ok(Outcome::Lost);
        }
        Ok(Outcome::Answers(answers))
    }

    /// A SELECT on several shards, merged.
    /// `split` gives each shard its own rewrite of an `IN` list on the key (see `split_in_list`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn scatter_select(
        &mut self,
        text: &Bytes,
        seq: u8,
        ks: &Keyspace,
        shards: &[usize],
        split: Option<&[(usize, Vec<usize>)]>,
        m: &SelectMerge,
        vals: &ParamValues<'_>,
    ) -> Result<(), Fatal> {
        let class = CommandClass::Query;
        let limit = match m.shard_limit(vals) {
            Ok(l) => l,
            Err(r) => return self.fail(seq, class, &refusal_error(&r)).await,
        };
        let text_for = |v: &ParamValues<'_>, rewrite: bool| -> Bytes {
            match &m.shard_sql {
                Some(t) => {
                    let mut out = Vec::with_capacity(text.len() + 32);
                    render(t, v, limit, &mut out);
                    Bytes::from(out)
                }
                None if rewrite => {
                    let mut out = Vec::with_capacity(text.len());
                    v.write_span(0, v.sql.len(), &mut out);
                    Bytes::from(out)
                }
                None => text.clone(),
            }
        };
        let sqls: Vec<Bytes> = match split {
            Some(split) => split
                .iter()
                .map(|(_, alias)| text_for(&vals.with_alias(alias), true))
                .collect(),
            None => vec![text_for(vals, false); shards.len()],
        };
        let answers = match self.run_on_shards(seq, ks, shards, &sqls, class).await? {
            Outcome::Answers(a) => a,
            Outcome::Lost => return Ok(()),
        };
        let mut columns: Option<Vec<Bytes>> = None;
        let mut per_shard = Vec::with_capacity(answers.len());
        let mut warnings = 0u16;
        for a in answers {
            match a {
                Collected::Err(e) => return self.fail(seq, class, &e).await,
                Collected::Ok(_) => {
                    let e = SqlError::internal("a shard answered a SELECT without rows");
                    return self.fail(seq, class, &e).await;
                }
                Collected::Rows { columns: c, rows, end } => {
                    warnings = warnings.saturating_add(end.warnings);
                    columns.get_or_insert(c);
                    per_shard.push(rows);
                }
            }
        }
        let columns = columns.unwrap_or_default();
        let infos: Option<Vec<_>> = columns.iter().map(|c| column_info(c)).collect();
        let Some(infos) = infos else {
            return self
                .fail(
                    seq,
                    class,
                    &SqlError::internal("malformed column definition from a shard"),
                )
                .await;
        };
        let mut spec = match m.spec(vals, &infos) {
            Ok(s) => s,
            Err(r) => return self.fail(seq, class, &refusal_error(&r)).await,
        };
        if self.answer_binary {
            // The binary protocol carries a double average's full value; text prints the column's decimals.
            for a in spec.averages.iter_mut().filter(|a| a.is_double) {
                a.decimals = 31;
            }
        }
        let rows: Vec<Row> = match merge(&infos, per_shard, &spec) {
            Ok(r) => r,
            Err(e) => {
                return self
                    .fail(seq, class, &SqlError::internal(format!("merging shard results: {e}")))
                    .await
            }
        };
        let mut visible: Vec<Bytes> = columns[..spec.visible_columns.min(columns.len())].to_vec();
        for a in &spec.averages {
            if let (Some(c), Some(sum)) = (visible.get_mut(a.output), infos.get(a.sum)) {
                *c = with_decimals(c, average_decimals(sum.decimals));
            }
        }
        if m.shard_sql.is_some() && !m.renamed.is_empty() {
            // The shards named expression columns after the rewritten text; the client's own text names them.
            if let Some(items) = select_list_spans(vals.sql) {
                for &i in &m.renamed {
                    if let (Some(c), Some(&(s, e))) = (visible.get_mut(i), items.get(i)) {
                        *c = with_name(c, &vals.sql[s..e]);
                    }
                }
            }
        }
        let mut s = seq;
        let deprecate = self.client.deprecate_eof();
        let st = self.status;
        let width = visible.len();
        let binary = self.answer_binary;
        write_result(
            &mut self.client.wbuf,
            &mut s,
            &visible,
            &rows,
            st,
            warnings,
            deprecate,
            |b, row| {
                if binary {
                    put_binary_row(b, &infos[..width], row);
                } else {
                    put_text_row(b, row, width);
                }
            },
        );
        self.ctx.metrics.statement(class, true);
        self.counts = PreviousCounts {
            row_count: -1,
            found_rows: rows.len() as u64,
        };
        self.previous_conn = None;
        self.hold_for_diagnostics = false;
        self.client.flush().await.map_err(|_| Fatal)
    }

    /// A write on several shards: `per_shard` (shard, statement). OK packets combine; `last_insert_id` is reported
    /// when the proxy generated ids. `transactional` writes run in an implicit transaction outside one.
    pub(super) async fn scatter_write(
        &mut self,
        seq: u8,
        ks: &Keyspace,
        per_shard: Vec<(usize, Bytes)>,
        combine: WriteCombine,
        last_insert_id: Option<u64>,
        transactional: bool,
    ) -> Result<bool, Fatal> {
        let class = CommandClass::Query;
        if !transactional && self.in_shard_tx() {
            let e = SqlError::not_supported(
                "a schema change inside a transaction on a sharded keyspace; COMMIT first (DDL commits implicitly)",
            );
            return self.fail(seq, class, &e).await.map(|_| false);
        }
        let implicit = transactional && per_shard.len() > 1 && !self.in_shard_tx();
        if implicit {
            self.tx = Some(self.implicit_tx());
        }
        let (shards, sqls): (Vec<usize>, Vec<Bytes>) = per_shard.into_iter().unzip();
        let answers = match self.run_on_shards(seq, ks, &shards, &sqls, class).await {
            Ok(Outcome::Answers(a)) => a,
            Ok(Outcome::Lost) => {
                if implicit {
                    if let Some(tx) = self.tx.take() {
                        let _ = self.finish_tx(tx, false).await;
                    }
                }
                return Ok(false);
            }
            Err(f) => return Err(f),
        };
        let mut total = OkInfo::default();
        let mut failed: Option<(usize, SqlError)> = None;
        let mut applied = Vec::new();
        for (i, a) in answers.into_iter().enumerate() {
            match a {
                Collected::Ok(info) => {
                    applied.push(ks.shards[shards[i]].name.clone());
                    total.warnings = total.warnings.saturating_add(info.warnings);
                    total.affected_rows = match combine {
                        WriteCombine::Sum => total.affected_rows + info.affected_rows,
                        WriteCombine::First if i == 0 => info.affected_rows,
                        WriteCombine::First => total.affected_rows,
                    };
                    total.last_insert_id = total.last_insert_id.max(info.last_insert_id);
                }
                Collected::Rows { .. } => {}
                Collected::Err(e) => {
                    failed.get_or_insert((shards[i], e));
                }
            }
        }
        let mut result = match failed {
            Some((s, e)) => {
                let shard = &ks.shards[s].name;
                let note = if implicit || applied.is_empty() {
                    String::new()
                } else if self.in_shard_tx() {
                    format!(" (shards {} applied it; ROLLBACK to undo)", applied.join(", "))
                } else {
                    format!(" (shards {} applied it)", applied.join(", "))
                };
                Err(SqlError {
                    message: format!(
                        "shardgate: shard {shard}: {}{note}",
                        e.message.trim_start_matches("shardgate: ")
                    ),
                    ..e
                })
            }
            None => Ok(()),
        };
        if implicit {
            if let Some(tx) = self.tx.take() {
                let commit = result.is_ok();
                if let Err(e) = self.finish_tx(tx, commit).await {
                    if commit {
                        result = Err(e);
                    }
                }
            }
        }
        if let Err(e) = result {
            self.counts.row_count = -1;
            return self.fail(seq, class, &e).await.map(|_| false);
        }
        let lid = last_insert_id.unwrap_or(total.last_insert_id);
        if let Some(id) = last_insert_id {
            self.last_insert_id = id;
            self.last_insert_id_conn = None;
        }
        self.counts.row_count = total.affected_rows as i64;
        self.previous_conn = None;
        self.hold_for_diagnostics = false;
        let mut s = seq;
        let st = self.status;
        self.client.queue_ok(&mut s, total.affected_rows, lid, st);
        self.ctx.metrics.statement(class, true);
        self.client.flush().await.map_err(|_| Fatal)?;
        Ok(true)
    }

    /// INSERT into a sharded table: each row goes to the shard of its key; missing AUTO_INCREMENT ids come from
    /// the table's sequence; lookup-vindex entries are written first.
    /// `relay` is the client's COM_QUERY when the statement may be relayed as is (not for prepared statements:
    /// their rows are written with the bound values as literals).
    pub(super) async fn sharded_insert(
        &mut self,
        relay: Option<&Bytes>,
        seq: u8,
        ks: &Keyspace,
        ip: &InsertPlan,
        vals: &ParamValues<'_>,
    ) -> Result<(), Fatal> {
        let class = CommandClass::Query;
        let sql: &[u8] = vals.sql;
        let Some(text) = split_insert(sql) else {
            let e = SqlError::not_supported(
                "this INSERT form on a sharded table; write INSERT INTO t (columns) VALUES (…), (…)",
            );
            return self.fail(seq, class, &e).await;
        };
        for (n, r) in text.rows.iter().enumerate() {
            if r.values.len() != ip.columns {
                let e = SqlError::new(
                    1136,
                    "21S01",
                    format!("Column count doesn't match value count at row {}", n + 1),
                );
                return self.fail(seq, class, &e).await;
            }
        }
        // Which rows need a sequence id, and where it goes.
        let auto = ip.auto_increment.as_ref();
        let needs_id: Vec<bool> = text
            .rows
            .iter()
            .map(|r| match auto {
                None => false,
                Some(a) => match a.position {
                    None => true,
                    Some(p) => matches!(
                        literal(sql, vals, r.values[p]),
                        Some(SqlValue::Null) | Some(SqlValue::Int(0)) | Some(SqlValue::UInt(0))
                    ),
                },
            })
            .collect();
        let wanted = needs_id.iter().filter(|b| **b).count();
        let mut ids = Vec::new();
        if let (Some(a), true) = (auto, wanted > 0) {
            let map = self.ctx.map.load();
            let Some(seq_ks) = map.keyspace(&a.sequence.0) else {
                let e = SqlError::internal(format!("sequence keyspace {} is gone from the shard map", a.sequence.0));
                return self.fail(seq, class, &e).await;
            };
            let addr = seq_ks.only_shard().primary.addr.clone();
            drop(map);
            match self
                .ctx
                .sequences
                .take(&self.ctx.pools, &addr, &a.sequence.0, &a.sequence.1, a.cache, wanted)
                .await
            {
                Ok(v) => ids = v,
                Err(e) => return self.fail(seq, class, &e).await,
            }
        }
        let mut row_ids: Vec<Option<u64>> = Vec::with_capacity(text.rows.len());
        let mut next = ids.iter();
        for &n in &needs_id {
            row_ids.push(if n { next.next().copied() } else { None });
        }
        // Route each row and collect lookup entries.
        let mut by_shard: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut lookup_rows: BTreeMap<usize, Vec<(SqlValue<'static>, u64)>> = BTreeMap::new();
        let vindex = &ks.vindexes[ip.vindex].vindex;
        for (n, r) in text.rows.iter().enumerate() {
            let key = match (ip.key_column, row_ids[n]) {
                (Some(p), id) if auto.is_some_and(|a| a.position == Some(p)) && id.is_some() => {
                    SqlValue::UInt(id.expect("checked"))
                }
                (Some(p), _) => match literal(sql, vals, r.values[p]) {
                    Some(v) => v,
                    None => {
                        let e = SqlError::not_supported(format!(
                            "a shard-key value that is not a literal (row {}); the proxy must see the value to place the row",
                            n + 1
                        ));
                        return self.fail(seq, class, &e).await;
                    }
                },
                (None, Some(id)) => SqlValue::UInt(id),
                (None, None) => SqlValue::Null,
            };
            let region = match ip.region_column {
                Some(p) => match literal(sql, vals, r.values[p]) {
                    Some(v) => Some(v),
                    None => {
                        let e =
                            SqlError::not_supported(format!("a region value that is not a literal (row {})", n + 1));
                        return self.fail(seq, class, &e).await;
                    }
                },
                None => None,
            };
            let dest = match &region {
                Some(reg) => vindex.map(&[reg.clone(), key.clone()]),
                None => vindex.map(std::slice::from_ref(&key)),
            };
            let ksid = match dest {
                Ok(Destination::KeyspaceId(id)) => id,
                Ok(_) => {
                    let e = SqlError::new(1048, "23000", format!("shard key of row {} cannot be NULL", n + 1));
                    return self.fail(seq, class, &e).await;
                }
                Err(e) => {
                    return self
                        .fail(
                            seq,
                            class,
                            &SqlError::new(1526, "HY000", format!("no shard for row {}: {e}", n + 1)),
                        )
                        .await
                }
            };
            by_shard.entry(ks.shard_index_for(ksid)).or_default().push(n);
            for &(v, p) in &ip.lookups {
                if let Some(val) = literal(sql, vals, r.values[p]) {
                    if val != SqlValue::Null {
                        lookup_rows.entry(v).or_default().push((val.into_owned(), ksid));
                    }
                }
            }
        }
        if let (Some(payload), true) = (relay, ids.is_empty() && lookup_rows.is_empty() && by_shard.len() == 1) {
            let s = *by_shard.keys().next().expect("one shard");
            self.ctx.metrics.routed(crate::metrics::Route::Single);
            let pool = self.ctx.pools.get(&ks.shards[s].primary.addr);
            let exec = super::Exec::new(crate::protocol::response::Expect::Results, class);
            return self.run_single(pool, payload, seq, exec).await;
        }
        for (v, rows) in &lookup_rows {
            if let Err(e) = self.lookup_write(ks, *v, rows, true).await {
                return self.fail(seq, class, &e).await;
            }
        }
        self.ctx.metrics.routed(crate::metrics::Route::Multi);
        let append = auto.filter(|a| a.position.is_none()).map(|a| a.column.as_str());
        let replace_at = auto.and_then(|a| a.position);
        let per_shard: Vec<(usize, Bytes)> = by_shard
            .iter()
            .map(|(&s, rows)| {
                let mut out = Vec::with_capacity(sql.len());
                text.render(
                    sql,
                    rows,
                    append,
                    |r, o| {
                        let row = &text.rows[r];
                        match (row_ids[r], replace_at) {
                            (Some(id), Some(p)) => {
                                let (vs, ve) = row.values[p];
                                vals.write_span(row.start, vs, o);
                                o.extend_from_slice(id.to_string().as_bytes());
                                vals.write_span(ve, row.end, o);
                            }
                            (Some(id), None) => {
                                vals.write_span(row.start, row.end - 1, o);
                                o.extend_from_slice(b", ");
                                o.extend_from_slice(id.to_string().as_bytes());
                                o.push(b')');
                            }
                            (None, _) => vals.write_span(row.start, row.end, o),
                        }
                    },
                    &mut out,
                );
                (s, Bytes::from(out))
            })
            .collect();
        let first_id = ids.first().copied();
        let inserted = self
            .scatter_write(seq, ks, per_shard, WriteCombine::Sum, first_id, true)
            .await?;
        if !inserted {
            // The insert failed: its lookup entries point nowhere; remove them (best effort).
            for (v, rows) in &lookup_rows {
                let _ = self.lookup_write(ks, *v, rows, false).await;
            }
        }
        Ok(())
    }

    /// Inserts (`insert`) or deletes lookup-vindex entries.
    async fn lookup_write(
        &mut self,
        ks: &Keyspace,
        vindex: usize,
        rows: &[(SqlValue<'static>, u64)],
        insert: bool,
    ) -> Result<(), SqlError> {
        let Some(l) = ks.vindexes[vindex].vindex.as_lookup() else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        let sql = if insert { l.insert_sql(rows) } else { l.delete_sql(rows) };
        let pool = self.lookup_pool(l)?;
        match oneshot::run(&pool, sql.as_bytes()).await? {
            Collected::Err(e) => Err(SqlError {
                message: format!(
                    "shardgate: lookup vindex {}.{}: {}",
                    l.keyspace(),
                    l.table(),
                    e.message.trim_start_matches("shardgate: ")
                ),
                ..e
            }),
            _ => Ok(()),
        }
    }

    /// The pool of the primary holding a lookup vindex's table.
    fn lookup_pool(&self, l: &LookupVindex) -> Result<Arc<BackendPool>, SqlError> {
        let map = self.ctx.map.load();
        let Some(lk) = map.keyspace(l.keyspace()) else {
            return Err(SqlError::internal(format!(
                "lookup keyspace {} is gone from the shard map",
                l.keyspace()
            )));
        };
        Ok(self.ctx.pools.get(&lk.only_shard().primary.addr))
    }

    /// Reads a lookup vindex: (value, keyspace id) pairs for `keys`.
    pub(super) async fn lookup_ids(
        &mut self,
        ks: &Keyspace,
        vindex: usize,
        keys: &[SqlValue<'static>],
    ) -> Result<Vec<(Vec<u8>, u64)>, SqlError> {
        let Some(l) = ks.vindexes[vindex].vindex.as_lookup() else {
            return Ok(Vec::new());
        };
        let sql = l.select_sql(keys);
        let pool = self.lookup_pool(l)?;
        match oneshot::run(&pool, sql.as_bytes()).await? {
            Collected::Rows { rows, .. } => Ok(rows
                .into_iter()
                .filter_map(|r| {
                    let v = r.first()?.clone()?;
                    let id = std::str::from_utf8(r.get(1)?.as_deref()?).ok()?.parse().ok()?;
                    Some((v, id))
                })
                .collect()),
            Collected::Err(e) => Err(e),
            Collected::Ok(_) => Ok(Vec::new()),
        }
    }

    /// DELETE from a table with lookup vindexes: find the lookup entries of the rows it removes, delete, then
    /// remove the entries.
    pub(super) async fn delete_with_lookups(
        &mut self,
        statement: &Bytes,
        seq: u8,
        ks: &Keyspace,
        shards: &[usize],
        cleanup: &LookupCleanup,
        vals: &ParamValues<'_>,
    ) -> Result<(), Fatal> {
        let class = CommandClass::Query;
        let mut select = Vec::new();
        render(&cleanup.select, vals, None, &mut select);
        let select = Bytes::from(select);
        let sqls = vec![select; shards.len()];
        let answers = match self.run_on_shards(seq, ks, shards, &sqls, class).await? {
            Outcome::Answers(a) => a,
            Outcome::Lost => return Ok(()),
        };
        let mut entries: BTreeMap<usize, Vec<(SqlValue<'static>, u64)>> = BTreeMap::new();
        let vindex = &ks.vindexes[cleanup.vindex].vindex;
        for a in answers {
            match a {
                Collected::Err(e) => return self.fail(seq, class, &e).await,
                Collected::Rows { rows, .. } => {
                    for r in rows {
                        let text = |i: usize| r.get(i).cloned().flatten();
                        let Some(key) = text(cleanup.key) else { continue };
                        let key = SqlValue::Bytes(key.into());
                        let dest = match cleanup.region.and_then(text) {
                            Some(reg) => vindex.map(&[SqlValue::Bytes(reg.into()), key]),
                            None => vindex.map(std::slice::from_ref(&key)),
                        };
                        let Ok(Destination::KeyspaceId(id)) = dest else {
                            continue;
                        };
                        for (i, v) in cleanup.vindexes.iter().enumerate() {
                            if let Some(val) = text(i) {
                                entries.entry(*v).or_default().push((SqlValue::Bytes(val.into()), id));
                            }
                        }
                    }
                }
                Collected::Ok(_) => {}
            }
        }
        let per_shard: Vec<(usize, Bytes)> = shards.iter().map(|&s| (s, statement.clone())).collect();
        if self
            .scatter_write(seq, ks, per_shard, WriteCombine::Sum, None, true)
            .await?
        {
            for (v, rows) in &entries {
                if let Err(e) = self.lookup_write(ks, *v, rows, false).await {
                    tracing::warn!(session = self.id, error = %e, "removing lookup entries after DELETE failed");
                }
            }
        }
        Ok(())
    }
}

/// The value of one VALUES expression when it is a literal, a placeholder, NULL, or a negated number.
fn literal<'a>(sql: &'a [u8], vals: &ParamValues<'a>, (start, end): (usize, usize)) -> Option<SqlValue<'a>> {
    if let Some(i) = vals.index_at(start) {
        if vals.params[i].end == end {
            return vals.get(i);
        }
    }
    let span = &sql[start..end];
    if span.eq_ignore_ascii_case(b"NULL") {
        return Some(SqlValue::Null);
    }
    let mut toks = Lexer::new(span);
    let first = toks.next()?;
    if first.is_punct(b'-') {
        let num = toks.next()?;
        if num.kind != TokenKind::Number || toks.next().is_some() {
            return None;
        }
        let i = vals.index_at(start + num.start)?;
        return match vals.get(i)? {
            SqlValue::Int(v) => Some(SqlValue::Int(v.checked_neg()?)),
            SqlValue::Decimal(d) => Some(SqlValue::Decimal(format!("-{d}").into())),
            _ => None,
        };
    }
    None
}
