//! Transactions on sharded keyspaces: participants joined lazily per shard, committed with XA two-phase commit
//! (`twopc`), shard by shard (`multi`), or limited to one shard (`single`).
//!
//! BEGIN opens nothing on a backend; the first statement on each shard checks out a connection and starts the
//! branch there (`XA START` in twopc mode, else the client's own BEGIN text). COMMIT with one participant is a
//! one-phase commit. With several in twopc mode: `XA END` and `XA PREPARE` on every branch; if all prepared, the
//! decision is written to the fsync'd [`crate::xa_log::XaLog`] and then every branch gets `XA COMMIT`. A branch
//! that fails to prepare rolls the whole transaction back.

use super::{Fatal, Held, Session};
use crate::backend::BackendPool;
use crate::metrics::CommandClass;
use crate::protocol::errors::SqlError;
use crate::protocol::status;
use crate::xa_log::Decision;
use bytes::Bytes;
use shardgate_router::shardmap::TransactionMode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One shard's branch of a transaction.
pub(super) struct Branch {
    /// Backend address.
    addr: Arc<str>,
    /// XA branch qualifier in twopc mode.
    bqual: Option<String>,
}

/// A transaction on a sharded keyspace.
pub(super) struct ShardTx {
    /// Branches started so far (in join order).
    branches: Vec<Branch>,
    /// Their connections while not running a statement.
    conns: Vec<Held>,
    /// The client's BEGIN text, sent to each non-XA branch.
    begin: Bytes,
    /// Policy of the keyspace the transaction runs in.
    mode: TransactionMode,
    /// XA global transaction id (twopc).
    gtrid: String,
    /// Backends whose branch did not end cleanly: their connections are closed, never pooled (the server rolls
    /// an unprepared branch back when its connection closes).
    unclean: Vec<Arc<str>>,
}

impl ShardTx {
    /// Takes back a connection after a statement.
    pub(super) fn push_conn(&mut self, h: Held) {
        self.conns.push(h);
    }

    fn new(begin: Bytes, mode: TransactionMode, gtrid: String) -> ShardTx {
        ShardTx {
            branches: Vec::new(),
            conns: Vec::new(),
            begin,
            mode,
            gtrid,
            unclean: Vec::new(),
        }
    }
}

/// `'gtrid','bqual'` as written in XA statements (ids are generated from safe characters only).
fn xid(gtrid: &str, bqual: &str) -> String {
    format!("'{gtrid}','{bqual}'")
}

impl Session<'_> {
    /// A shard transaction is open (BEGIN, or autocommit off).
    pub(super) fn in_shard_tx(&self) -> bool {
        self.tx.is_some() || self.status & status::AUTOCOMMIT == 0
    }

    fn new_tx(&self, begin: Bytes) -> ShardTx {
        let map = self.ctx.map.load();
        let mode = match self.db.as_deref().and_then(|d| map.keyspace(d)) {
            Some(k) => k.transaction_mode,
            None => map.default_keyspace().transaction_mode,
        };
        let n = self.ctx.next_gtrid.fetch_add(1, Ordering::Relaxed);
        let gtrid = format!("{}-{}", self.ctx.xa_prefix, n);
        ShardTx::new(begin, mode, gtrid)
    }

    /// A transaction the proxy opens around one multi-shard write outside a client transaction.
    pub(super) fn implicit_tx(&self) -> ShardTx {
        self.new_tx(Bytes::from_static(b"BEGIN"))
    }

    /// The transaction's connection to `pool`'s backend, joining that shard to the transaction if needed.
    pub(super) async fn tx_participant(&mut self, pool: &Arc<BackendPool>) -> Result<Held, SqlError> {
        if self.tx.is_none() {
            self.tx = Some(self.new_tx(Bytes::from_static(b"BEGIN")));
        }
        let tx = self.tx.as_mut().expect("set above");
        if let Some(i) = tx.conns.iter().position(|h| h.pool.addr() == pool.addr()) {
            return Ok(tx.conns.swap_remove(i));
        }
        if tx.mode == TransactionMode::Single && !tx.branches.is_empty() {
            return Err(SqlError::not_supported(format!(
                "a transaction on a second shard ({}) with transaction_mode: single; the transaction already runs on {}; COMMIT first or set transaction_mode: twopc",
                pool.addr(),
                tx.branches[0].addr
            )));
        }
        let (twopc, begin, gtrid, n) = (
            tx.mode == TransactionMode::TwoPc,
            tx.begin.clone(),
            tx.gtrid.clone(),
            tx.branches.len(),
        );
        let mut held = self.checkout_restored(pool.clone()).await?;
        let bqual = twopc.then(|| n.to_string());
        let start = match &bqual {
            Some(b) => format!("XA START {}", xid(&gtrid, b)).into_bytes(),
            None => begin.to_vec(),
        };
        match held.conn.query(&start).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                held.pool.release(held.conn);
                return Err(e);
            }
            Err(e) => return Err(SqlError::backend_lost(pool.addr(), e)),
        }
        let tx = self.tx.as_mut().expect("set above");
        tx.branches.push(Branch {
            addr: pool.addr().clone(),
            bqual,
        });
        Ok(held)
    }

    /// Puts the connection a statement left held into the shard transaction (starting one when the statement
    /// itself opened a transaction on it).
    pub(super) fn keep_in_tx(&mut self) {
        let Some(h) = self.held.take() else { return };
        if self.tx.is_none() {
            let mut tx = self.new_tx(Bytes::from_static(b"BEGIN"));
            tx.branches.push(Branch {
                addr: h.pool.addr().clone(),
                bqual: None,
            });
            self.tx = Some(tx);
        }
        self.tx.as_mut().expect("set above").conns.push(h);
    }

    /// After an error that rolled the whole transaction back on its shard (deadlock, XA rollback), ends the shard
    /// transaction everywhere, as MySQL does for a deadlock victim: the client's next statement starts afresh.
    pub(super) async fn abort_tx_if_rolled_back(&mut self, code: u16) {
        // 1213 ER_LOCK_DEADLOCK; 1614 ER_XA_RBDEADLOCK; 1402 ER_XA_RBROLLBACK; 1613 ER_XA_RBTIMEOUT.
        if !matches!(code, 1213 | 1614 | 1402 | 1613) {
            return;
        }
        if let Some(tx) = self.tx.take() {
            tracing::debug!(
                session = self.id,
                code,
                "transaction rolled back by a shard: ending it on every shard"
            );
            let _ = self.finish_tx(tx, false).await;
            self.status &= !status::IN_TRANS;
        }
    }

    /// BEGIN / START TRANSACTION on a sharded keyspace: commits an open transaction (as MySQL does), then opens a
    /// new one locally; branches start on first use.
    pub(super) async fn tx_begin(&mut self, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        if let Some(tx) = self.tx.take() {
            if let Err(e) = self.finish_tx(tx, true).await {
                return self.fail(seq, CommandClass::Query, &e).await;
            }
        }
        self.tx = Some(self.new_tx(payload.slice(1..)));
        self.status |= status::IN_TRANS;
        self.reply_ok(seq, CommandClass::Query).await
    }

    /// COMMIT (`commit`) or ROLLBACK of the shard transaction.
    pub(super) async fn tx_end(&mut self, commit: bool, seq: u8) -> Result<(), Fatal> {
        let r = match self.tx.take() {
            Some(tx) => self.finish_tx(tx, commit).await,
            None => Ok(()),
        };
        self.status &= !status::IN_TRANS;
        match r {
            Ok(()) => self.reply_ok(seq, CommandClass::Query).await,
            Err(e) => self.fail(seq, CommandClass::Query, &e).await,
        }
    }

    /// Ends a transaction and returns its connections to their pools.
    pub(super) async fn finish_tx(&mut self, mut tx: ShardTx, commit: bool) -> Result<(), SqlError> {
        if let Some(h) = self.held.take() {
            tx.conns.push(h);
        }
        // Branches whose connection was lost are gone (the server rolled them back).
        let lost: Vec<Arc<str>> = tx
            .branches
            .iter()
            .filter(|b| !tx.conns.iter().any(|h| *h.pool.addr() == b.addr))
            .map(|b| b.addr.clone())
            .collect();
        let result = if !lost.is_empty() && commit {
            let _ = self.rollback_branches(&mut tx).await;
            Err(SqlError::new(
                1402,
                "XA100",
                format!(
                    "transaction rolled back: the connection to {} was lost during the transaction",
                    lost.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
                ),
            ))
        } else if commit {
            self.commit_branches(&mut tx).await
        } else {
            self.rollback_branches(&mut tx).await
        };
        for h in tx.conns.drain(..) {
            if tx.unclean.iter().any(|a| **a == **h.pool.addr()) {
                tracing::info!(session = self.id, backend = %h.pool.addr(), "closing a connection whose transaction branch did not end cleanly");
                continue;
            }
            h.pool.release(h.conn);
        }
        let outcome = match (&result, commit, tx.branches.len()) {
            (Err(_), _, _) => "failed",
            (Ok(()), false, _) => "rollback",
            (Ok(()), true, 0 | 1) => "one_phase",
            (Ok(()), true, _) if tx.branches.iter().all(|b| b.bqual.is_some()) => "two_phase",
            (Ok(()), true, _) => "multi",
        };
        self.ctx.metrics.shard_transactions.with_label_values(&[outcome]).inc();
        result
    }

    fn bqual_of<'t>(tx: &'t ShardTx, h: &Held) -> Option<&'t str> {
        tx.branches
            .iter()
            .find(|b| *b.addr == **h.pool.addr())
            .and_then(|b| b.bqual.as_deref())
    }

    /// Runs one statement on every connection of the transaction (in order); the first error wins.
    async fn on_each(
        &mut self,
        tx: &mut ShardTx,
        stmt: impl Fn(Option<&str>) -> Option<String>,
    ) -> Result<(), SqlError> {
        let mut first_err = None;
        let mut kept = Vec::with_capacity(tx.conns.len());
        for mut h in std::mem::take(&mut tx.conns) {
            let Some(sql) = stmt(Self::bqual_of(tx, &h)) else {
                kept.push(h);
                continue;
            };
            match h.conn.query(sql.as_bytes()).await {
                Ok(Ok(())) => kept.push(h),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                    tx.unclean.push(h.pool.addr().clone());
                    kept.push(h);
                }
                Err(e) => {
                    first_err.get_or_insert(SqlError::backend_lost(h.pool.addr(), e));
                }
            }
        }
        tx.conns = kept;
        first_err.map_or(Ok(()), Err)
    }

    /// Rolls every XA branch back before a commit decision and returns the error the client gets (1402, XA100).
    async fn abandon_xa(&mut self, tx: &mut ShardTx, why: String) -> SqlError {
        let gtrid = tx.gtrid.clone();
        let _ = self
            .on_each(tx, |b| b.map(|b| format!("XA ROLLBACK {}", xid(&gtrid, b))))
            .await;
        SqlError::new(1402, "XA100", format!("transaction rolled back: {why}"))
    }

    async fn rollback_branches(&mut self, tx: &mut ShardTx) -> Result<(), SqlError> {
        let gtrid = tx.gtrid.clone();
        // XA END fails on a branch already marked rollback-only (a deadlock victim); XA ROLLBACK still ends it.
        let before = tx.unclean.len();
        let _ = self
            .on_each(tx, |b| b.map(|b| format!("XA END {}", xid(&gtrid, b))))
            .await;
        tx.unclean.truncate(before);
        self.on_each(tx, |b| {
            Some(match b {
                Some(b) => format!("XA ROLLBACK {}", xid(&gtrid, b)),
                None => "ROLLBACK".to_string(),
            })
        })
        .await
    }

    async fn commit_branches(&mut self, tx: &mut ShardTx) -> Result<(), SqlError> {
        let gtrid = tx.gtrid.clone();
        let all_xa = tx.branches.iter().all(|b| b.bqual.is_some());
        if tx.conns.len() <= 1 || !all_xa {
            // One branch (one-phase commit), or branches not all XA (multi mode, or a transaction the backend
            // opened by itself): commit shard by shard.
            self.on_each(tx, |b| b.map(|b| format!("XA END {}", xid(&gtrid, b))))
                .await?;
            let mut committed = Vec::new();
            let mut kept = Vec::new();
            let conns = std::mem::take(&mut tx.conns);
            let mut failure = None;
            for mut h in conns {
                if failure.is_some() {
                    kept.push(h);
                    continue;
                }
                let sql = match Self::bqual_of(tx, &h) {
                    Some(b) => format!("XA COMMIT {} ONE PHASE", xid(&gtrid, b)),
                    None => "COMMIT".to_string(),
                };
                match h.conn.query(sql.as_bytes()).await {
                    Ok(Ok(())) => {
                        committed.push(h.pool.addr().to_string());
                        kept.push(h);
                    }
                    Ok(Err(e)) => {
                        failure = Some(e);
                        kept.push(h);
                    }
                    Err(e) => failure = Some(SqlError::backend_lost(h.pool.addr(), e)),
                }
            }
            tx.conns = kept;
            if let Some(e) = failure {
                // The remaining branches roll back; report what was committed already (multi mode's risk).
                tx.branches.retain(|b| !committed.iter().any(|c| **c == *b.addr));
                tx.conns.retain(|h| !committed.iter().any(|c| **c == **h.pool.addr()));
                let _ = self.rollback_branches(tx).await;
                let done = if committed.is_empty() {
                    String::new()
                } else {
                    format!(" (already committed on {})", committed.join(", "))
                };
                return Err(SqlError {
                    message: format!(
                        "shardgate: COMMIT failed: {}{done}",
                        e.message.trim_start_matches("shardgate: ")
                    ),
                    ..e
                });
            }
            return Ok(());
        }
        // Two-phase commit.
        if let Err(e) = self
            .on_each(tx, |b| b.map(|b| format!("XA END {}", xid(&gtrid, b))))
            .await
        {
            return Err(self.abandon_xa(tx, format!("XA END failed: {}", e.message)).await);
        }
        if let Err(e) = self
            .on_each(tx, |b| b.map(|b| format!("XA PREPARE {}", xid(&gtrid, b))))
            .await
        {
            let why = format!(
                "a shard could not prepare it ({})",
                e.message.trim_start_matches("shardgate: ")
            );
            return Err(self.abandon_xa(tx, why).await);
        }
        crate::failpoint::crash_point("xa-after-prepare");
        let decision = Decision {
            gtrid: gtrid.clone(),
            branches: tx
                .conns
                .iter()
                .filter_map(|h| Self::bqual_of(tx, h).map(|b| (h.pool.addr().to_string(), b.to_string())))
                .collect(),
        };
        if let Err(e) = self.ctx.xa_log.record(&decision) {
            tracing::error!(gtrid = %gtrid, error = %e, "cannot write the XA decision record; rolling back");
            let why = format!("the proxy could not record its commit decision ({e})");
            return Err(self.abandon_xa(tx, why).await);
        }
        crate::failpoint::crash_point("xa-after-decision");
        if let Err(e) = self
            .on_each(tx, |b| b.map(|b| format!("XA COMMIT {}", xid(&gtrid, b))))
            .await
        {
            // The decision is durable: recovery commits the branches left prepared. The commit stands.
            tracing::warn!(gtrid = %gtrid, error = %e, "XA COMMIT failed on a branch; it stays prepared until recovery commits it");
            crate::xa_recovery::spawn_resolve(self.ctx.pools.clone(), self.ctx.xa_log.clone(), decision);
            return Ok(());
        }
        self.ctx.xa_log.done(&gtrid);
        Ok(())
    }
}
