//! Statements on sharded keyspaces: plan (through the shared plan cache), bind, and run on one shard (raw relay)
//! or several (see [`super::scatter`]).

use super::{Exec, Fatal, PreparedRelay, Session, Track, INFORMATION_SCHEMA};
use crate::backend::BackendPool;
use crate::metrics::{CommandClass, Route};
use crate::protocol::errors::SqlError;
use crate::protocol::response::Expect;
use bytes::Bytes;
use shardgate_router::classify::PinReason;
use shardgate_router::plan::{bind, split_in_list, Action, BoundShards, ParamValues, Refusal};
use shardgate_router::{Classified, Keyspace, SessionEffect, StatementKind};
use std::sync::Arc;

/// A planner refusal as the MySQL error the client gets.
pub(super) fn refusal_error(r: &Refusal) -> SqlError {
    SqlError::new(r.code, r.state, &r.message)
}

/// What a statement reads of the session's previous statement (from its classification, kept with prepared ones).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StmtFlags {
    /// Calls `LAST_INSERT_ID()`.
    pub reads_last_insert_id: bool,
    /// Calls `ROW_COUNT()` / `FOUND_ROWS()`.
    pub reads_previous_counts: bool,
    /// Reads the diagnostics area.
    pub reads_diagnostics: bool,
}

impl StmtFlags {
    /// The flags of a classified statement.
    pub(super) fn of(c: &Classified<'_>) -> StmtFlags {
        StmtFlags {
            reads_last_insert_id: c.reads_last_insert_id,
            reads_previous_counts: c.reads_previous_statement_counts,
            reads_diagnostics: c.reads_diagnostics,
        }
    }
}

/// The error for state that would pin a session to one shard's connection.
pub(super) fn pin_refusal(reason: PinReason) -> SqlError {
    let what = match reason {
        PinReason::UserVariable => "user variables (@name)",
        PinReason::TemporaryTable => "temporary tables",
        PinReason::Lock => "locks (GET_LOCK, LOCK TABLES, FLUSH TABLES WITH READ LOCK)",
        PinReason::SqlPrepare => "SQL PREPARE/EXECUTE",
        PinReason::FoundRows => "SQL_CALC_FOUND_ROWS",
        PinReason::NextTransaction => "SET TRANSACTION for the next transaction",
        PinReason::ConnectionState => "XA, HANDLER or LAST_INSERT_ID(expr)",
        PinReason::MultiStatementState => "several statements in one query",
    };
    SqlError::not_supported(format!(
        "{what} on a sharded keyspace: that state would live on one shard's connection only; pass values as literals"
    ))
}

impl Session<'_> {
    /// The index of the sharded keyspace a statement runs in, or `None` for the unsharded path.
    pub(super) fn sharded_keyspace(&self, _sql: &[u8], _c: &Classified<'_>) -> Result<Option<usize>, SqlError> {
        let map = self.ctx.map.load();
        let index = match self.db.as_deref() {
            None | Some(INFORMATION_SCHEMA) => Some(0),
            Some(db) => map.keyspaces.iter().position(|k| k.name == db),
        };
        Ok(index.filter(|&i| map.keyspaces[i].sharded))
    }

    /// Runs one COM_QUERY on sharded keyspace `ks_index`.
    pub(super) async fn sharded_query(
        &mut self,
        payload: &Bytes,
        seq: u8,
        c: &Classified<'_>,
        ks_index: usize,
    ) -> Result<(), Fatal> {
        let class = CommandClass::Query;
        if c.multi_statement {
            let e =
                SqlError::not_supported("several statements in one query on a sharded keyspace; send them one by one");
            return self.fail(seq, class, &e).await;
        }
        match c.kind {
            StatementKind::Begin => return self.tx_begin(payload, seq).await,
            StatementKind::Commit => return self.tx_end(true, seq).await,
            StatementKind::Rollback => return self.tx_end(false, seq).await,
            _ => {}
        }
        if let Some(reason) = c.pin {
            return self.fail(seq, class, &pin_refusal(reason)).await;
        }
        let map = self.ctx.map.load_full();
        let ks = &map.keyspaces[ks_index];
        if c.effect == SessionEffect::SessionVariables || c.kind == StatementKind::Set {
            // Session variables follow the session to every shard connection; any shard validates them.
            let pool = self.ctx.pools.get(&ks.shards[0].primary.addr);
            let exec = Exec {
                track: Track::SessionSet(payload.slice(1..)),
                ..Exec::new(Expect::Results, class)
            };
            return self.run_single(pool, payload, seq, exec).await;
        }
        let sql = payload.slice(1..);
        let mut params = std::mem::take(&mut self.params);
        let generation = self.ctx.map_generation.load(std::sync::atomic::Ordering::Acquire);
        let plan = self.ctx.plans.plan(&sql, &mut params, &map, ks_index, generation);
        let vals = ParamValues::text(&sql, &params);
        let r = self
            .run_plan(payload, &sql, seq, StmtFlags::of(c), ks, &plan, &vals, None)
            .await;
        self.params = params;
        r
    }

    /// Runs a planned statement. `payload` is what the client sent (COM_QUERY or COM_STMT_EXECUTE), `sql` the
    /// statement text; `prepared` is set for prepared statements (single-shard executions relay the binary
    /// protocol; others run the text with the bound values on the shards).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_plan(
        &mut self,
        payload: &Bytes,
        sql: &Bytes,
        seq: u8,
        flags: StmtFlags,
        ks: &Keyspace,
        plan: &shardgate_router::plan::Plan,
        vals: &ParamValues<'_>,
        prepared: Option<PreparedRelay>,
    ) -> Result<(), Fatal> {
        let class = if prepared.is_some() {
            CommandClass::Execute
        } else {
            CommandClass::Query
        };
        if let Action::Reject(r) = &plan.action {
            self.ctx.metrics.routed(Route::Refused);
            return self.fail(seq, class, &refusal_error(r)).await;
        }
        // The text shards run when the proxy combines results: the client's text, or the prepared statement with
        // its bound values written as literals.
        let text = if prepared.is_some() {
            let mut out = Vec::with_capacity(sql.len() + 16);
            vals.write_span(0, sql.len(), &mut out);
            Bytes::from(out)
        } else {
            sql.clone()
        };
        if let Action::Insert(ip) = &plan.action {
            let relay = prepared.is_none().then_some(payload);
            return self.sharded_insert(relay, seq, ks, ip, vals).await;
        }
        let shards = match bind(ks, &plan.target, vals) {
            Ok(BoundShards::Lookup { vindex, keys }) => match self.lookup_shards(ks, vindex, &keys).await {
                Ok(s) => s,
                Err(e) => return self.fail(seq, class, &e).await,
            },
            Ok(s) => s,
            Err(r) => return self.fail(seq, class, &refusal_error(&r)).await,
        };
        self.ctx.metrics.routed(match shards {
            BoundShards::One(_) => Route::Single,
            _ => Route::Multi,
        });
        match (shards, &plan.action) {
            (BoundShards::One(s), action) => {
                if let Action::Write { lookups: Some(l), .. } = action {
                    return self.delete_with_lookups(&text, seq, ks, &[s], l, vals).await;
                }
                let pool = self.ctx.pools.get(&ks.shards[s].primary.addr);
                let exec = Exec {
                    reads_last_insert_id: flags.reads_last_insert_id,
                    reads_previous_counts: flags.reads_previous_counts,
                    reads_diagnostics: flags.reads_diagnostics,
                    prepared,
                    ..Exec::new(Expect::Results, class)
                };
                self.run_single(pool, payload, seq, exec).await
            }
            (BoundShards::Many(list), Action::Select(m)) => {
                let split = split_in_list(ks, &plan.target, vals);
                self.scatter_select(&text, seq, ks, &list, split.as_deref(), m, vals)
                    .await
            }
            (BoundShards::Many(list), Action::Write { combine, ddl, lookups }) => {
                if let Some(l) = lookups {
                    return self.delete_with_lookups(&text, seq, ks, &list, l, vals).await;
                }
                let per_shard: Vec<(usize, Bytes)> = match split_in_list(ks, &plan.target, vals) {
                    // Each shard gets only its own keys of the IN list.
                    Some(split) => split
                        .iter()
                        .map(|(s, alias)| {
                            let mut out = Vec::with_capacity(sql.len());
                            vals.with_alias(alias).write_span(0, sql.len(), &mut out);
                            (*s, Bytes::from(out))
                        })
                        .collect(),
                    None => list.iter().map(|&s| (s, text.clone())).collect(),
                };
                self.scatter_write(seq, ks, per_shard, *combine, None, !ddl)
                    .await
                    .map(|_| ())
            }
            (BoundShards::Many(list), _) => {
                let pool = self.ctx.pools.get(&ks.shards[list[0]].primary.addr);
                let exec = Exec {
                    prepared,
                    ..Exec::new(Expect::Results, class)
                };
                self.run_single(pool, payload, seq, exec).await
            }
            (BoundShards::Lookup { .. }, _) => unreachable!("lookups resolved above"),
        }
    }

    /// Runs a command on one shard's primary with the raw relay: on the transaction's connection for that shard
    /// when a transaction is open, else on a pooled connection.
    pub(super) async fn run_single(
        &mut self,
        pool: Arc<BackendPool>,
        payload: &Bytes,
        seq: u8,
        mut exec: Exec,
    ) -> Result<(), Fatal> {
        if self.in_shard_tx() {
            let held = match self.tx_participant(&pool).await {
                Ok(h) => h,
                Err(e) => return self.fail(seq, exec.class, &e).await,
            };
            self.held = Some(held);
            exec.routed = false;
            let r = self.execute(payload, seq, exec).await;
            self.keep_in_tx();
            if let Ok(Some(relayed)) = &r {
                if let crate::protocol::response::Outcome::Err(code) = relayed.outcome {
                    self.abort_tx_if_rolled_back(code).await;
                }
            }
            return r.map(|_| ());
        }
        self.route_override = Some(pool);
        let r = self.execute(payload, seq, exec).await;
        self.route_override = None;
        // A statement that opened a transaction or turned autocommit off leaves its connection held: it becomes
        // the first participant of a shard transaction.
        self.keep_in_tx();
        r.map(|_| ())
    }

    /// Resolves lookup-vindex values to shards by reading the lookup table.
    async fn lookup_shards(
        &mut self,
        ks: &Keyspace,
        vindex: usize,
        keys: &[shardgate_router::SqlValue<'static>],
    ) -> Result<BoundShards, SqlError> {
        let ids = self.lookup_ids(ks, vindex, keys).await?;
        let mut shards: Vec<usize> = ids.into_iter().map(|(_, id)| ks.shard_index_for(id)).collect();
        shards.sort_unstable();
        shards.dedup();
        Ok(match shards.as_slice() {
            [] => BoundShards::One(0),
            [one] => BoundShards::One(*one),
            _ => BoundShards::Many(shards),
        })
    }
}
