//! Server-side prepared statements on sharded keyspaces.
//!
//! The proxy owns the statement: COM_STMT_PREPARE is answered with the metadata of one shard's prepare and an id
//! the proxy assigns. Each COM_STMT_EXECUTE decodes its parameters, binds them into the same plan a text statement
//! of that shape gets, and runs on the shard(s) that plan names: a single shard executes the statement prepared on
//! whichever pooled connection serves it (prepared there on first use) and the binary result is relayed; several
//! shards run the statement text with the values written in, and the merged rows go back as binary rows.

use super::sharded::{pin_refusal, refusal_error, StmtFlags};
use super::{Fatal, PreparedRelay, Session};
use crate::metrics::CommandClass;
use crate::protocol::binary::decode_params;
use crate::protocol::codec::write_packets;
use crate::protocol::command;
use crate::protocol::errors::SqlError;
use bytes::{Bytes, BytesMut};
use shardgate_router::classify;
use shardgate_router::normalize::Param;
use shardgate_router::plan::{Action, ParamValues, SharedPlan};
use shardgate_router::StatementKind;

/// First id the proxy gives sharded prepared statements (backend ids of unsharded sessions stay below).
const FIRST_ID: u32 = 0x4000_0000;

/// A prepared statement on a sharded keyspace.
pub(super) struct ShardedStmt {
    /// Statement text.
    sql: Bytes,
    /// Keyspace it was prepared in.
    keyspace: String,
    /// Number of `?` placeholders.
    placeholders: usize,
    /// Parameter types of the latest execution that sent them.
    types: Option<Vec<u8>>,
    /// Values sent with COM_STMT_SEND_LONG_DATA since the last execution.
    long_data: Vec<Option<Vec<u8>>>,
    /// What the statement reads of the session's previous statement.
    flags: StmtFlags,
    /// The plan and the statement's parameters under shard-map generation `.0`: executions reuse them without
    /// tokenizing the text again until the map changes.
    planned: (u64, SharedPlan, Vec<Param>),
}

impl Session<'_> {
    /// COM_STMT_PREPARE on sharded keyspace `ks_index`.
    pub(super) async fn sharded_prepare(
        &mut self,
        payload: &Bytes,
        seq: u8,
        c: &classify::Classified<'_>,
        ks_index: usize,
    ) -> Result<(), Fatal> {
        let class = CommandClass::Prepare;
        if c.multi_statement {
            let e = SqlError::not_supported("several statements in one prepared statement");
            return self.fail(seq, class, &e).await;
        }
        if let Some(reason) = c.pin {
            return self.fail(seq, class, &pin_refusal(reason)).await;
        }
        if matches!(
            c.kind,
            StatementKind::Begin
                | StatementKind::Commit
                | StatementKind::Rollback
                | StatementKind::Set
                | StatementKind::Use
        ) {
            let e = SqlError::new(
                1295,
                "HY000",
                "This command is not supported in the prepared statement protocol on a sharded keyspace; send it as a query",
            );
            return self.fail(seq, class, &e).await;
        }
        let sql = payload.slice(1..);
        let map = self.ctx.map.load_full();
        let ks = &map.keyspaces[ks_index];
        let mut params = Vec::new();
        let generation = self.ctx.map_generation.load(std::sync::atomic::Ordering::Acquire);
        let plan = self.ctx.plans.plan(&sql, &mut params, &map, ks_index, generation);
        if let Action::Reject(r) = &plan.action {
            return self.fail(seq, class, &refusal_error(r)).await;
        }
        // Metadata from one shard (every shard has the same schema); the statement stays prepared on that
        // connection for later executions.
        let pool = self.ctx.pools.get(&ks.shards[0].primary.addr);
        let mut held = match self.checkout_restored(pool).await {
            Ok(h) => h,
            Err(e) => return self.fail(seq, class, &e).await,
        };
        let response = match held.conn.prepare(&sql).await {
            Ok(r) => r,
            Err(e) => {
                drop(held);
                return self.fail(seq, class, &SqlError::backend_lost("(prepare)", e)).await;
            }
        };
        let mut packets = match response {
            Err(e) => {
                held.pool.release(held.conn);
                return self.fail(seq, class, &e).await;
            }
            Ok(p) => p,
        };
        let backend_id = u32::from_le_bytes([packets[0][1], packets[0][2], packets[0][3], packets[0][4]]);
        held.conn.prepared.insert(sql.clone(), backend_id);
        held.pool.release(held.conn);
        let placeholders = usize::from(u16::from_le_bytes([packets[0][7], packets[0][8]]));
        let id = FIRST_ID + self.next_sharded_stmt;
        self.next_sharded_stmt = self.next_sharded_stmt.wrapping_add(1) % FIRST_ID;
        let mut first = packets[0].to_vec();
        first[1..5].copy_from_slice(&id.to_le_bytes());
        packets[0] = Bytes::from(first);
        let mut s = seq;
        let mut out = BytesMut::new();
        for p in &packets {
            write_packets(&mut out, &mut s, p);
        }
        self.client.wbuf.extend_from_slice(&out);
        self.sharded_stmts.insert(
            id,
            ShardedStmt {
                sql,
                keyspace: ks.name.clone(),
                placeholders,
                types: None,
                long_data: vec![None; placeholders],
                flags: StmtFlags::of(c),
                planned: (generation, plan, params),
            },
        );
        self.ctx.metrics.statement(class, true);
        self.client.flush().await.map_err(|_| Fatal)
    }

    /// COM_STMT_EXECUTE / CLOSE / RESET / SEND_LONG_DATA / FETCH of a sharded prepared statement.
    pub(super) async fn sharded_stmt_command(
        &mut self,
        cmd: u8,
        id: u32,
        payload: &Bytes,
        seq: u8,
    ) -> Result<(), Fatal> {
        match cmd {
            command::STMT_CLOSE => {
                self.sharded_stmts.remove(&id);
                Ok(())
            }
            command::STMT_SEND_LONG_DATA => {
                if let (Some(st), Some(p)) = (self.sharded_stmts.get_mut(&id), payload.get(5..7)) {
                    let i = usize::from(u16::from_le_bytes([p[0], p[1]]));
                    if let Some(slot) = st.long_data.get_mut(i) {
                        slot.get_or_insert_with(Vec::new).extend_from_slice(&payload[7..]);
                    }
                }
                Ok(())
            }
            command::STMT_RESET => {
                if let Some(st) = self.sharded_stmts.get_mut(&id) {
                    st.long_data.iter_mut().for_each(|d| *d = None);
                }
                self.reply_ok(seq, CommandClass::StmtOther).await
            }
            command::STMT_FETCH => {
                let e = SqlError::not_supported("cursors (COM_STMT_FETCH) on a sharded keyspace");
                self.fail(seq, CommandClass::Fetch, &e).await
            }
            _ => self.sharded_execute(id, payload, seq).await,
        }
    }

    async fn sharded_execute(&mut self, id: u32, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        let class = CommandClass::Execute;
        let Some(st) = self.sharded_stmts.get_mut(&id) else {
            return self
                .fail(seq, class, &SqlError::unknown_statement(id, "mysqld_stmt_execute"))
                .await;
        };
        if payload.get(5).is_some_and(|f| f & 0x0f != 0) {
            let e = SqlError::not_supported("cursors on prepared statements of a sharded keyspace");
            return self.fail(seq, class, &e).await;
        }
        let decoded = decode_params(payload, st.placeholders, st.types.as_deref(), &st.long_data);
        st.long_data.iter_mut().for_each(|d| *d = None);
        let decoded = match decoded {
            Ok(d) => d,
            Err(m) => return self.fail(seq, class, &SqlError::malformed(m)).await,
        };
        if let Some(t) = decoded.types {
            st.types = Some(t);
        }
        let (sql, keyspace, placeholders, types) =
            (st.sql.clone(), st.keyspace.clone(), st.placeholders, st.types.clone());
        let map = self.ctx.map.load_full();
        let Some(ks_index) = map.keyspaces.iter().position(|k| k.name == keyspace && k.sharded) else {
            let e = SqlError::not_supported(format!(
                "executing a statement prepared on sharded keyspace {keyspace}, which the shard map no longer has as sharded; prepare it again"
            ));
            return self.fail(seq, class, &e).await;
        };
        let ks = &map.keyspaces[ks_index];
        let generation = self.ctx.map_generation.load(std::sync::atomic::Ordering::Acquire);
        let st = self.sharded_stmts.get_mut(&id).expect("looked up above");
        let flags = st.flags;
        if st.planned.0 != generation {
            // The map changed since the last execution: plan again (usually a plan-cache hit).
            let (_, _, params) = &mut st.planned;
            let plan = self.ctx.plans.plan(&sql, params, &map, ks_index, generation);
            st.planned.0 = generation;
            st.planned.1 = plan;
        }
        let plan = st.planned.1.clone();
        let params = std::mem::take(&mut st.planned.2);
        let vals = ParamValues {
            sql: &sql,
            params: &params,
            bound: &decoded.values,
            alias: &[],
        };
        let relay = PreparedRelay {
            sql: sql.clone(),
            placeholders,
            types,
        };
        self.answer_binary = true;
        let r = self
            .run_plan(payload, &sql, seq, flags, ks, &plan, &vals, Some(relay))
            .await;
        self.answer_binary = false;
        if let Some(st) = self.sharded_stmts.get_mut(&id) {
            st.planned.2 = params;
        }
        r
    }
}
