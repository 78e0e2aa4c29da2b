//! One client session: the state that follows the client across pooled backend connections, and the command
//! loop that answers locally what it can and relays everything else.
//!
//! Outside a transaction and without pinning state a session owns no backend connection: each statement checks
//! one out of the pool of the keyspace's backend, brings it to the session's state (database, collation, replayed
//! session-variable `SET`s) if it differs, relays the statement and returns it. Transactions, `autocommit=0`,
//! prepared statements and the state listed in [`PinReason`] pin the session to its connection until that state
//! is gone (or, for sticky state, until COM_RESET_CONNECTION / COM_CHANGE_USER).

mod pins;
mod prepared;
mod scatter;
mod sharded;
mod txn;

use super::client::ClientConn;
use super::handshake::{authenticate, Login};
use super::registry::Registered;
use super::relay::{relay, RelayError, Relayed};
use super::Context;
use crate::backend::{BackendConn, BackendError, BackendPool, BackendState};
use crate::metrics::CommandClass;
use crate::protocol::codec::CodecError;
use crate::protocol::errors::SqlError;
use crate::protocol::response::{Expect, Outcome};
use crate::protocol::resultset::TextResultSet;
use crate::protocol::{command, status};
use bytes::Bytes;
use shardgate_router::classify::PinReason;
use shardgate_router::{classify, substitute_counts, PreviousCounts, SessionEffect, ShardMap};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

/// Most session-variable statements replayed on a borrowed connection before the session is pinned instead.
const MAX_REPLAYED_SETS: usize = 64;

/// The pseudo-database every MySQL server has; sessions may select it and it is served by the default keyspace.
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// A backend connection held by the session, with the pool it returns to.
struct Held {
    pool: Arc<BackendPool>,
    conn: BackendConn,
}

/// The cached route of the session's current database under one shard-map snapshot.
struct RouteCache {
    map: Arc<ShardMap>,
    db: Option<String>,
    pool: Arc<BackendPool>,
}

/// The client connection must be closed (the error, if any, was already sent).
struct Fatal;

/// How to run one command on a backend.
struct Exec {
    /// Shape of the response.
    expect: Expect,
    /// Metrics label.
    class: CommandClass,
    /// Route by the session's keyspace (false: the command targets the held connection's prepared statement).
    routed: bool,
    /// The command calls `LAST_INSERT_ID()`: make the session's value present on the connection first.
    reads_last_insert_id: bool,
    /// The command calls `ROW_COUNT()`/`FOUND_ROWS()`: substitute the session's values unless it runs on the
    /// connection that ran the previous statement.
    reads_previous_counts: bool,
    /// The command reads the diagnostics area: on a connection other than the previous statement's, clear it first
    /// so the session never sees another session's warnings.
    reads_diagnostics: bool,
    /// Bookkeeping once the response is known.
    track: Track,
    /// A sharded prepared statement executed on a pooled connection: prepared there on demand.
    prepared: Option<PreparedRelay>,
    /// Connection-local state the statement creates or drops (see [`pins`]).
    pin_changes: Vec<shardgate_router::PinChange>,
}

/// What a sharded prepared statement's execution needs on the backend connection it runs on.
struct PreparedRelay {
    /// Statement text.
    sql: Bytes,
    /// Number of placeholders.
    placeholders: usize,
    /// Parameter types of the latest execution that sent them.
    types: Option<Vec<u8>>,
}

impl Exec {
    fn new(expect: Expect, class: CommandClass) -> Exec {
        Exec {
            expect,
            class,
            routed: true,
            reads_last_insert_id: false,
            reads_previous_counts: false,
            reads_diagnostics: false,
            track: Track::Nothing,
            prepared: None,
            pin_changes: Vec::new(),
        }
    }
}

/// Bookkeeping a command needs once its response is known, done before the connection may return to the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Track {
    /// Nothing beyond status and last insert id.
    Nothing,
    /// A session-variable `SET` (the statement text): replay it on connections that serve the session later.
    SessionSet(Bytes),
    /// COM_STMT_PREPARE: the statement id keeps the connection held; remember whether the statement reads
    /// `LAST_INSERT_ID()`.
    Prepare {
        /// The statement calls `LAST_INSERT_ID()`.
        reads_last_insert_id: bool,
    },
}

/// A client session after login.
pub struct Session<'a> {
    ctx: &'a Context,
    registered: Registered,
    client: ClientConn,
    id: u32,
    user: String,
    collation: u16,
    db: Option<String>,
    vars: Vec<Bytes>,
    vars_digest: u64,
    multi_statements: bool,
    status: u16,
    held: Option<Held>,
    sticky: Option<PinReason>,
    prepared: HashSet<u32>,
    /// Prepared statements that call `LAST_INSERT_ID()`.
    prepared_reading_last_insert_id: HashSet<u32>,
    last_insert_id: u64,
    /// The connection (address, thread id, use count) known to hold the session's `LAST_INSERT_ID()` value.
    last_insert_id_conn: Option<(Arc<str>, u32, u64)>,
    /// The connection that ran the session's previous statement.
    previous_conn: Option<(Arc<str>, u32, u64)>,
    /// `ROW_COUNT()` / `FOUND_ROWS()` of the previous statement.
    counts: PreviousCounts,
    /// The previous statement left warnings or an error on its connection that `SHOW WARNINGS`, `SHOW ERRORS`,
    /// `@@warning_count` or `GET DIAGNOSTICS` may read: the connection goes back to the pool reserved for this
    /// session.
    hold_for_diagnostics: bool,
    route: Option<RouteCache>,
    /// The pool a sharded statement runs on (set for the duration of one statement).
    route_override: Option<Arc<BackendPool>>,
    /// The open transaction on a sharded keyspace.
    tx: Option<txn::ShardTx>,
    /// Parameters of the statement being planned (reused buffer).
    params: Vec<shardgate_router::normalize::Param>,
    /// Prepared statements on sharded keyspaces, by the id the proxy gave the client.
    sharded_stmts: std::collections::HashMap<u32, prepared::ShardedStmt>,
    /// The statement running is a prepared one: results the proxy builds are binary result sets.
    answer_binary: bool,
    /// Counter for the ids of sharded prepared statements.
    next_sharded_stmt: u32,
    /// Connection-local state (temporary tables, locks, …) whose end releases the pin.
    ledger: pins::PinLedger,
}

impl<'a> Session<'a> {
    /// Starts a session for a client that has logged in.
    pub fn new(ctx: &'a Context, client: ClientConn, id: u32, login: Login) -> Session<'a> {
        let multi = client.caps & mysql_common::constants::CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits() != 0;
        let registered = ctx.sessions.register(id, &login.user);
        Session {
            ctx,
            registered,
            client,
            id,
            user: login.user,
            collation: login.collation,
            db: login.db,
            vars: Vec::new(),
            vars_digest: 0,
            multi_statements: multi,
            status: status::AUTOCOMMIT,
            held: None,
            sticky: None,
            prepared: HashSet::new(),
            prepared_reading_last_insert_id: HashSet::new(),
            last_insert_id: 0,
            last_insert_id_conn: None,
            previous_conn: None,
            counts: PreviousCounts::default(),
            hold_for_diagnostics: false,
            route: None,
            route_override: None,
            tx: None,
            params: Vec::new(),
            sharded_stmts: Default::default(),
            answer_binary: false,
            next_sharded_stmt: 0,
            ledger: pins::PinLedger::default(),
        }
    }

    /// Runs the command loop until the client quits, the connection breaks, or state is lost.
    pub async fn run(mut self) {
        loop {
            if self.registered.handle.is_killed() {
                tracing::info!(session = self.id, "session killed");
                break;
            }
            let handle = self.registered.handle.clone();
            let read = tokio::select! {
                r = self.client.read_message() => r,
                _ = handle.killed() => {
                    tracing::info!(session = self.id, "session killed while idle");
                    break;
                }
            };
            let msg = match read {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(CodecError::Io(e)) => {
                    tracing::debug!(session = self.id, error = %e, "client connection ended");
                    break;
                }
                Err(e @ CodecError::TooLarge { .. }) => {
                    let _ = self.client.send_err(1, &SqlError::packet_too_large(&e)).await;
                    tracing::info!(session = self.id, error = %e, "closing client connection");
                    break;
                }
                Err(e @ CodecError::OutOfOrder { .. }) => {
                    let _ = self.client.send_err(1, &SqlError::out_of_order(&e)).await;
                    tracing::info!(session = self.id, error = %e, "closing client connection");
                    break;
                }
            };
            let reply_seq = msg.last_seq.wrapping_add(1);
            if msg.seq != 0 {
                let e = SqlError::out_of_order(format!("a command must start with sequence id 0, got {}", msg.seq));
                let _ = self.client.send_err(reply_seq, &e).await;
                break;
            }
            let Some(&cmd) = msg.payload.first() else {
                let _ = self
                    .client
                    .send_err(reply_seq, &SqlError::malformed("empty command packet"))
                    .await;
                break;
            };
            let r = match cmd {
                command::QUIT => break,
                command::QUERY => self.com_query(&msg.payload, reply_seq).await,
                command::STMT_PREPARE => self.com_stmt_prepare(&msg.payload, reply_seq).await,
                command::STMT_EXECUTE
                | command::STMT_FETCH
                | command::STMT_RESET
                | command::STMT_SEND_LONG_DATA
                | command::STMT_CLOSE => self.com_stmt(cmd, &msg.payload, reply_seq).await,
                command::INIT_DB => {
                    let db = String::from_utf8_lossy(&msg.payload[1..]).into_owned();
                    self.use_database(db, reply_seq, CommandClass::InitDb).await
                }
                command::PING => self.reply_ok(reply_seq, CommandClass::Ping).await,
                command::FIELD_LIST => {
                    self.forward(&msg.payload, reply_seq, Expect::FieldList, CommandClass::FieldList)
                        .await
                }
                command::STATISTICS => {
                    self.forward(&msg.payload, reply_seq, Expect::Single, CommandClass::Statistics)
                        .await
                }
                command::SET_OPTION => self.com_set_option(&msg.payload, reply_seq).await,
                command::RESET_CONNECTION => self.com_reset_connection(reply_seq).await,
                command::CHANGE_USER => self.com_change_user(&msg.payload).await,
                other => {
                    self.ctx.metrics.statement(CommandClass::Unknown, false);
                    self.reply_err(reply_seq, &SqlError::unknown_command(other)).await
                }
            };
            if r.is_err() {
                break;
            }
        }
        self.close().await;
    }

    // ----- local replies -------------------------------------------------------------------------------------

    async fn reply_ok(&mut self, seq: u8, class: CommandClass) -> Result<(), Fatal> {
        let mut s = seq;
        self.client.queue_ok(&mut s, 0, 0, self.status);
        self.ctx.metrics.statement(class, true);
        self.client.flush().await.map_err(|_| Fatal)
    }

    async fn reply_err(&mut self, seq: u8, e: &SqlError) -> Result<(), Fatal> {
        self.client.send_err(seq, e).await.map_err(|_| Fatal)
    }

    async fn fail(&mut self, seq: u8, class: CommandClass, e: &SqlError) -> Result<(), Fatal> {
        self.ctx.metrics.statement(class, false);
        self.reply_err(seq, e).await
    }

    async fn use_database(&mut self, db: String, seq: u8, class: CommandClass) -> Result<(), Fatal> {
        let map = self.ctx.map.load();
        let keyspace = if db == INFORMATION_SCHEMA {
            Some(map.default_keyspace())
        } else {
            map.keyspace(&db)
        };
        let Some(keyspace) = keyspace else {
            return self.fail(seq, class, &SqlError::unknown_database(&db)).await;
        };
        if self.tx.is_some() && map.keyspace(&db).is_none_or(|k| !k.sharded) {
            let e = SqlError::not_supported(format!(
                "USE {db} inside a transaction on a sharded keyspace; COMMIT or ROLLBACK first"
            ));
            return self.fail(seq, class, &e).await;
        }
        // A transaction or pinned state cannot follow the session to another backend: refuse now, so the
        // transaction can still be ended where it lives.
        if let Some(h) = &self.held {
            let target = &keyspace.only_shard().primary.addr;
            if self.has_pinning_state() && **h.pool.addr() != **target {
                let e = SqlError::not_supported(format!(
                    "USE {db} inside a transaction (or with pinned session state) on backend {}: keyspace {db} lives on {target}; COMMIT or ROLLBACK first",
                    h.pool.addr()
                ));
                return self.fail(seq, class, &e).await;
            }
        }
        drop(map);
        self.db = Some(db);
        self.route = None;
        self.reply_ok(seq, class).await
    }

    async fn show_databases(&mut self, pattern: Option<&str>, seq: u8) -> Result<(), Fatal> {
        let map = self.ctx.map.load();
        let mut names: Vec<&str> = std::iter::once(INFORMATION_SCHEMA)
            .chain(map.keyspaces.iter().map(|k| k.name.as_str()))
            .collect();
        names.sort_unstable();
        let rows: Vec<Vec<Option<String>>> = names
            .into_iter()
            .filter(|n| pattern.is_none_or(|p| like_match(p.as_bytes(), n.as_bytes())))
            .map(|n| vec![Some(n.to_string())])
            .collect();
        let column = match pattern {
            Some(p) => format!("Database ({p})"),
            None => "Database".to_string(),
        };
        let mut s = seq;
        let deprecate = self.client.deprecate_eof();
        let rs = TextResultSet {
            schema: INFORMATION_SCHEMA,
            table: "SCHEMATA",
            columns: &[&column],
            rows: &rows,
        };
        rs.write(&mut self.client.wbuf, &mut s, self.status, deprecate);
        self.ctx.metrics.statement(CommandClass::Query, true);
        self.client.flush().await.map_err(|_| Fatal)
    }

    /// `KILL [QUERY] id` with a proxy connection id: cancels the statement that session runs on its backend and,
    /// for KILL CONNECTION, closes the session.
    async fn kill(&mut self, query_only: bool, id: u64, seq: u8) -> Result<(), Fatal> {
        let Some(target) = self.ctx.sessions.get(id) else {
            return self.fail(seq, CommandClass::Query, &SqlError::no_such_thread(id)).await;
        };
        if target.user() != self.user {
            return self.fail(seq, CommandClass::Query, &SqlError::kill_denied(id)).await;
        }
        if target.id != self.id {
            let running = target.running.lock().await;
            if let Some((addr, thread_id)) = running.as_ref() {
                let pool = self.ctx.pools.get(addr);
                match pool
                    .checkout(self.relay_caps(), &BackendState::default(), self.id)
                    .await
                {
                    Ok(mut c) => {
                        let r = c.query(format!("KILL QUERY {thread_id}").as_bytes()).await;
                        if let Ok(Err(e)) = &r {
                            tracing::debug!(error = %e, "KILL QUERY on the backend failed (statement already ended?)");
                        }
                        pool.release(c);
                    }
                    Err(e) => {
                        let e = SqlError::backend_unavailable(addr, e);
                        drop(running);
                        return self.fail(seq, CommandClass::Query, &e).await;
                    }
                }
            }
        }
        if !query_only {
            target.kill();
        }
        self.reply_ok(seq, CommandClass::Query).await
    }

    // ----- commands ------------------------------------------------------------------------------------------

    async fn com_query(&mut self, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        let sql = &payload[1..];
        let c = classify(sql);
        match &c.effect {
            SessionEffect::UseDatabase(db) => return self.use_database(db.to_string(), seq, CommandClass::Query).await,
            SessionEffect::ShowDatabases(p) => {
                let p = p.as_ref().map(|s| s.to_string());
                return self.show_databases(p.as_deref(), seq).await;
            }
            SessionEffect::Kill { query_only, id } => return self.kill(*query_only, *id, seq).await,
            SessionEffect::UnsupportedKill => {
                return self
                    .fail(
                        seq,
                        CommandClass::Query,
                        &SqlError::not_supported("this KILL form; use KILL [CONNECTION|QUERY] <connection id>"),
                    )
                    .await
            }
            SessionEffect::UnsupportedShowDatabases => {
                return self
                    .fail(
                        seq,
                        CommandClass::Query,
                        &SqlError::not_supported("SHOW DATABASES WHERE …; use SHOW DATABASES LIKE 'pattern'"),
                    )
                    .await
            }
            SessionEffect::None | SessionEffect::SessionVariables => {}
        }
        match self.sharded_keyspace(sql, &c) {
            Ok(None) => {}
            Ok(Some(ks)) => return self.sharded_query(payload, seq, &c, ks).await,
            Err(e) => return self.fail(seq, CommandClass::Query, &e).await,
        }
        if !c.qualifiers.is_empty() {
            if let Err(e) = self.check_named_keyspaces(sql, &c.qualifiers) {
                return self.fail(seq, CommandClass::Query, &e).await;
            }
        }
        if let Some(reason) = c.pin {
            if c.sticky_pin {
                if self.sticky.is_none() {
                    tracing::debug!(session = self.id, ?reason, "session pinned to its backend connection");
                }
                self.sticky.get_or_insert(reason);
            }
        }
        let track = if c.effect == SessionEffect::SessionVariables {
            Track::SessionSet(payload.slice(1..))
        } else {
            Track::Nothing
        };
        let reads_last_insert_id = c.reads_last_insert_id;
        let exec = Exec {
            reads_last_insert_id,
            reads_previous_counts: c.reads_previous_statement_counts,
            reads_diagnostics: c.reads_diagnostics,
            track,
            pin_changes: c.pin_changes.clone(),
            ..Exec::new(Expect::Results, CommandClass::Query)
        };
        self.execute(payload, seq, exec).await.map(|_| ())
    }

    async fn com_stmt_prepare(&mut self, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        // The statement lives on the connection that prepares it: the id keeps that connection held. State its
        // executions create (user variables, locks, …) must outlive the statement: pin as for a text query.
        let c = classify(&payload[1..]);
        match self.sharded_keyspace(&payload[1..], &c) {
            Ok(None) => {}
            Ok(Some(ks)) => return self.sharded_prepare(payload, seq, &c, ks).await,
            Err(e) => return self.fail(seq, CommandClass::Prepare, &e).await,
        }
        if !c.qualifiers.is_empty() {
            if let Err(e) = self.check_named_keyspaces(&payload[1..], &c.qualifiers) {
                return self.fail(seq, CommandClass::Prepare, &e).await;
            }
        }
        if let Some(reason) = c.pin {
            self.sticky.get_or_insert(reason);
        }
        let exec = Exec {
            track: Track::Prepare {
                reads_last_insert_id: c.reads_last_insert_id,
            },
            ..Exec::new(Expect::Prepare, CommandClass::Prepare)
        };
        self.execute(payload, seq, exec).await.map(|_| ())
    }

    async fn com_stmt(&mut self, cmd: u8, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        let (class, name) = match cmd {
            command::STMT_EXECUTE => (CommandClass::Execute, "mysqld_stmt_execute"),
            command::STMT_FETCH => (CommandClass::Fetch, "mysqld_stmt_fetch"),
            command::STMT_RESET => (CommandClass::StmtOther, "mysqld_stmt_reset"),
            command::STMT_SEND_LONG_DATA => (CommandClass::StmtOther, "mysqld_stmt_send_long_data"),
            _ => (CommandClass::StmtOther, "mysqld_stmt_close"),
        };
        let no_reply = cmd == command::STMT_CLOSE || cmd == command::STMT_SEND_LONG_DATA;
        let Some(id) = payload
            .get(1..5)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
        else {
            if no_reply {
                return Ok(());
            }
            return self
                .fail(
                    seq,
                    class,
                    &SqlError::malformed(format!("{name} without a statement id")),
                )
                .await;
        };
        if self.sharded_stmts.contains_key(&id) {
            return self.sharded_stmt_command(cmd, id, payload, seq).await;
        }
        if !self.prepared.contains(&id) || self.held.is_none() {
            if no_reply {
                return Ok(());
            }
            return self.fail(seq, class, &SqlError::unknown_statement(id, name)).await;
        }
        if no_reply {
            let held = self.held.as_mut().expect("checked above");
            let sent = held.conn.send_command(payload).await;
            self.ctx.metrics.statement(class, sent.is_ok());
            if cmd == command::STMT_CLOSE {
                self.prepared.remove(&id);
                self.prepared_reading_last_insert_id.remove(&id);
            }
            if sent.is_err() {
                // Nothing to answer; the next command that needs the connection reports the loss.
                if let Some(h) = self.held.take() {
                    drop(h);
                }
                self.prepared.clear();
                self.prepared_reading_last_insert_id.clear();
                return Err(self.lost_state_close(seq, "sending a prepared-statement command").await);
            }
            self.release_if_unpinned();
            return Ok(());
        }
        let expect = match cmd {
            command::STMT_FETCH => Expect::Rows,
            command::STMT_RESET => Expect::Single,
            _ => Expect::Results,
        };
        let exec = Exec {
            routed: false,
            reads_last_insert_id: cmd == command::STMT_EXECUTE && self.prepared_reading_last_insert_id.contains(&id),
            ..Exec::new(expect, class)
        };
        self.execute(payload, seq, exec).await.map(|_| ())
    }

    async fn com_set_option(&mut self, payload: &Bytes, seq: u8) -> Result<(), Fatal> {
        let Some(opt) = payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]])) else {
            return self
                .fail(
                    seq,
                    CommandClass::SetOption,
                    &SqlError::malformed("COM_SET_OPTION without an option"),
                )
                .await;
        };
        let on = match opt {
            0 => true,
            1 => false,
            _ => {
                return self
                    .fail(
                        seq,
                        CommandClass::SetOption,
                        &SqlError::new(1047, "08S01", format!("Unknown COM_SET_OPTION value {opt}")),
                    )
                    .await
            }
        };
        self.multi_statements = on;
        let bit = mysql_common::constants::CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits();
        if let Some(h) = self.held.as_mut() {
            // The held connection keeps its own flag in sync; idle ones are matched by capabilities.
            match h.conn.run(payload, Expect::Single).await {
                Ok(_) => {
                    if on {
                        h.conn.caps |= bit;
                        h.conn.relay_caps |= bit;
                    } else {
                        h.conn.caps &= !bit;
                        h.conn.relay_caps &= !bit;
                    }
                }
                Err(_) => {
                    self.held = None;
                    return Err(self.lost_state_close(seq, "COM_SET_OPTION").await);
                }
            }
        }
        let mut s = seq;
        self.client.queue_eof(&mut s, self.status);
        self.ctx.metrics.statement(CommandClass::SetOption, true);
        self.client.flush().await.map_err(|_| Fatal)
    }

    async fn com_reset_connection(&mut self, seq: u8) -> Result<(), Fatal> {
        self.reset_state().await;
        self.reply_ok(seq, CommandClass::ResetConnection).await
    }

    async fn com_change_user(&mut self, payload: &Bytes) -> Result<(), Fatal> {
        let Some(req) = ChangeUser::parse(&payload[1..], self.client.caps) else {
            let e = SqlError::malformed("COM_CHANGE_USER");
            let _ = self.fail(1, CommandClass::ChangeUser, &e).await;
            return Err(Fatal);
        };
        let host = self.client.peer.ip().to_string();
        let mut seq = 1u8;
        let Some(user) = self.ctx.users.get(&req.user) else {
            self.ctx.metrics.client_auth_failures.inc();
            let _ = self
                .fail(
                    seq,
                    CommandClass::ChangeUser,
                    &SqlError::access_denied(&req.user, &host, true),
                )
                .await;
            return Err(Fatal);
        };
        // Always re-authenticate against a fresh challenge, switching to the user's plugin.
        let scramble = crate::auth::new_scramble();
        if let Err(f) = authenticate(
            self.ctx,
            &mut self.client,
            &mut seq,
            user,
            &host,
            &scramble,
            b"",
            Vec::new(),
        )
        .await
        {
            self.ctx.metrics.client_auth_failures.inc();
            self.ctx.metrics.statement(CommandClass::ChangeUser, false);
            if let Some((s, e)) = f.error {
                let _ = self.client.send_err(s, &e).await;
            }
            return Err(Fatal);
        }
        if let Some(db) = &req.db {
            if db != INFORMATION_SCHEMA && self.ctx.map.load().keyspace(db).is_none() {
                let _ = self
                    .fail(seq, CommandClass::ChangeUser, &SqlError::unknown_database(db))
                    .await;
                return Err(Fatal);
            }
        }
        self.reset_state().await;
        self.registered.handle.set_user(&req.user);
        self.user = req.user;
        self.db = req.db;
        self.route = None;
        if let Some(c) = req.collation {
            self.collation = c;
        }
        tracing::info!(session = self.id, user = %self.user, "COM_CHANGE_USER");
        self.reply_ok(seq, CommandClass::ChangeUser).await
    }

    /// Forwards a command that needs no session bookkeeping beyond the generic one.
    async fn forward(&mut self, payload: &Bytes, seq: u8, expect: Expect, class: CommandClass) -> Result<(), Fatal> {
        self.execute(payload, seq, Exec::new(expect, class)).await.map(|_| ())
    }

    // ----- execution -----------------------------------------------------------------------------------------

    /// Runs one command on a backend connection (held or borrowed) and relays the response. `Ok(None)` when an
    /// error was already reported to the client and the session continues.
    async fn execute(&mut self, payload: &Bytes, seq: u8, exec: Exec) -> Result<Option<Relayed>, Fatal> {
        let Exec {
            expect,
            class,
            routed,
            reads_last_insert_id,
            reads_previous_counts,
            reads_diagnostics,
            track,
            prepared,
            pin_changes,
        } = exec;
        let mut held = match self.acquire(routed).await {
            Ok(h) => h,
            Err(e) => {
                self.fail(seq, class, &e).await?;
                return Ok(None);
            }
        };
        // A sharded prepared statement: prepare it on this connection if it is not yet, and address its id.
        let readdressed;
        let payload = match &prepared {
            None => payload,
            Some(p) => match held.conn.ensure_prepared(&p.sql).await {
                Ok(Ok(id)) => {
                    readdressed =
                        crate::protocol::binary::readdress_execute(payload, id, p.placeholders, p.types.as_deref());
                    &readdressed
                }
                Ok(Err(e)) => {
                    self.held = Some(held);
                    self.release_if_unpinned();
                    self.fail(seq, class, &e).await?;
                    return Ok(None);
                }
                Err(e) => return self.backend_failed(seq, class, held, e, false, 0).await,
            },
        };
        self.hold_for_diagnostics = false;
        let conn_id = (held.conn.addr.clone(), held.conn.thread_id, held.conn.uses);
        if reads_last_insert_id && self.last_insert_id != 0 && self.last_insert_id_conn.as_ref() != Some(&conn_id) {
            let sql = format!("SELECT LAST_INSERT_ID({})", self.last_insert_id);
            if let Err(e) = held.conn.query(sql.as_bytes()).await {
                tracing::debug!(session = self.id, error = %e, "restoring LAST_INSERT_ID failed");
                return self.backend_failed(seq, class, held, e, false, 0).await;
            }
            self.last_insert_id_conn = Some(conn_id.clone());
        }
        if reads_diagnostics && self.previous_conn.as_ref() != Some(&conn_id) {
            // The session's diagnostics were lost with its reserved connection (the pool ran dry): show an empty
            // area rather than another session's. Only statements that use a table reset it.
            if let Err(e) = held
                .conn
                .query(b"DO (SELECT 1 FROM information_schema.ENGINES LIMIT 0)")
                .await
            {
                return self.backend_failed(seq, class, held, e, false, 0).await;
            }
        }
        let rewritten;
        let payload = if reads_previous_counts && self.previous_conn.as_ref() != Some(&conn_id) {
            let mut p = vec![payload[0]];
            p.extend_from_slice(&substitute_counts(&payload[1..], self.counts));
            rewritten = Bytes::from(p);
            &rewritten
        } else {
            payload
        };
        let running = &self.registered.handle.running;
        *running.lock().await = Some((held.conn.addr.clone(), held.conn.thread_id));
        let started = Instant::now();
        let result = relay(&mut self.client, &mut held.conn, payload, expect).await;
        // Under the lock: a KILL QUERY in flight for this connection finishes before the connection can be reused.
        *running.lock().await = None;
        held.pool.duration.observe(started.elapsed().as_secs_f64());
        self.ctx.metrics.bytes_to_backend.inc_by(payload.len() as u64);
        match result {
            Ok(r) => {
                self.ctx.metrics.bytes_to_client.inc_by(r.bytes_to_client);
                self.ctx.metrics.statement(class, r.outcome == Outcome::Ok);
                if r.outcome == Outcome::Ok {
                    self.status = r.info.status & status::SESSION_BITS;
                }
                if r.last_insert_id != 0 {
                    self.last_insert_id = r.last_insert_id;
                    self.last_insert_id_conn = Some(conn_id.clone());
                }
                self.previous_conn = Some(conn_id);
                match r.outcome {
                    Outcome::Ok if r.ended_with_result_set => {
                        self.counts = PreviousCounts {
                            row_count: -1,
                            found_rows: r.rows,
                        }
                    }
                    Outcome::Ok => self.counts.row_count = r.info.affected_rows as i64,
                    _ => self.counts.row_count = -1,
                }
                self.hold_for_diagnostics = r.info.warnings > 0 || matches!(r.outcome, Outcome::Err(_));
                self.ledger
                    .apply(if r.outcome == Outcome::Ok { &pin_changes } else { &[] });
                match (track, &r.outcome) {
                    (Track::SessionSet(stmt), Outcome::Ok) => {
                        self.record_set(stmt);
                        held.conn.state.vars_digest = self.vars_digest;
                    }
                    // A failed SET changes nothing: the server checks every assignment before applying any.
                    (Track::Prepare { reads_last_insert_id }, Outcome::Ok) => {
                        if let Some(id) = r.stmt_id {
                            self.prepared.insert(id);
                            if reads_last_insert_id {
                                self.prepared_reading_last_insert_id.insert(id);
                            }
                        }
                    }
                    _ => {}
                }
                self.held = Some(held);
                self.release_if_unpinned();
                Ok(Some(r))
            }
            Err(RelayError::Client(e)) => {
                tracing::debug!(session = self.id, error = %e, "client lost during relay");
                drop(held);
                Err(Fatal)
            }
            Err(RelayError::Backend {
                error,
                forwarded,
                last_seq,
            }) => self
                .backend_failed(seq, class, held, error, forwarded, last_seq)
                .await
                .map(|_| None),
        }
    }

    /// Reports a backend failure during a statement. The connection is dropped; a session whose state lived on it
    /// (transaction, prepared statements, pinned state) is closed so the client cannot continue as if nothing
    /// happened.
    async fn backend_failed(
        &mut self,
        seq: u8,
        class: CommandClass,
        held: Held,
        error: BackendError,
        forwarded: bool,
        last_seq: u8,
    ) -> Result<Option<Relayed>, Fatal> {
        let addr = held.conn.addr.clone();
        drop(held);
        self.ctx.metrics.statement(class, false);
        tracing::warn!(session = self.id, backend = %addr, error = %error, "backend connection failed during a statement");
        let err_seq = if forwarded { last_seq.wrapping_add(1) } else { seq };
        let had_state = self.has_pinning_state();
        self.reply_err(err_seq, &SqlError::backend_lost(&addr, &error)).await?;
        if had_state {
            tracing::info!(
                session = self.id,
                "closing client connection: its transaction or session state was on the lost backend connection"
            );
            return Err(Fatal);
        }
        Ok(None)
    }

    async fn lost_state_close(&mut self, seq: u8, during: &str) -> Fatal {
        let e = SqlError::backend_lost(
            "(held connection)",
            format!("backend connection failed during {during}"),
        );
        let _ = self.client.send_err(seq, &e).await;
        Fatal
    }

    /// The held connection, or a connection from the pool of the session's current keyspace, in the session's
    /// state.
    async fn acquire(&mut self, routed: bool) -> Result<Held, SqlError> {
        if let Some(h) = self.held.take() {
            if routed {
                let pool = match self.route_pool() {
                    Ok(p) => p,
                    Err(e) => {
                        self.held = Some(h);
                        return Err(e);
                    }
                };
                if pool.addr() != h.pool.addr() {
                    let e = SqlError::not_supported(format!(
                        "switching keyspace to a different backend ({}) while the session is pinned to {} by an open transaction or session state; COMMIT/ROLLBACK or reset the session first",
                        pool.addr(),
                        h.pool.addr()
                    ));
                    self.held = Some(h);
                    return Err(e);
                }
            }
            let mut h = h;
            match self.restore(&mut h.conn, true).await {
                Ok(()) => return Ok(h),
                Err(RestoreError::Server(e)) => {
                    self.held = Some(h);
                    return Err(e);
                }
                Err(RestoreError::Broken(e)) => {
                    let addr = h.conn.addr.clone();
                    drop(h);
                    self.prepared.clear();
                    self.prepared_reading_last_insert_id.clear();
                    return Err(SqlError::backend_lost(&addr, e));
                }
            }
        }
        let pool = self.route_pool()?;
        self.checkout_restored(pool).await
    }

    /// A connection from `pool` brought to the session's state.
    async fn checkout_restored(&mut self, pool: Arc<BackendPool>) -> Result<Held, SqlError> {
        let want = BackendState {
            db: self.db.clone(),
            collation: self.collation,
            vars_digest: self.vars_digest,
        };
        // A pooled connection that fails while being brought to the session's state has run nothing for the
        // client: retry once on another.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut conn = pool
                .checkout(self.relay_caps(), &want, self.id)
                .await
                .map_err(|e| crate::backend::oneshot::checkout_error(&pool, e))?;
            match self.restore(&mut conn, false).await {
                Ok(()) => return Ok(Held { pool, conn }),
                Err(RestoreError::Server(e)) => {
                    pool.release(conn);
                    return Err(e);
                }
                Err(RestoreError::Broken(e)) if attempts >= 2 => return Err(SqlError::backend_lost(pool.addr(), e)),
                Err(RestoreError::Broken(_)) => continue,
            }
        }
    }

    /// Refuses a statement that names (`ks.table`) a keyspace served by another backend than the one the statement
    /// will run on: it would otherwise read or write that keyspace's database on the wrong server.
    fn check_named_keyspaces(&mut self, sql: &[u8], names: &[(usize, usize)]) -> Result<(), SqlError> {
        let route: Arc<str> = match &self.held {
            Some(h) => h.pool.addr().clone(),
            None => self.route_pool()?.addr().clone(),
        };
        let map = self.ctx.map.load();
        for &(start, end) in names {
            let name = shardgate_router::classify::unquote_ident(&sql[start..end]);
            if let Some(ks) = map.keyspace(&name) {
                if ks.sharded {
                    return Err(SqlError::not_supported(format!(
                        "a statement naming sharded keyspace {name} from another keyspace; USE {name} first"
                    )));
                }
                let addr = &ks.only_shard().primary.addr;
                if **addr != *route {
                    return Err(SqlError::not_supported(format!(
                        "a statement naming keyspace {name} (served by {addr}) on the session's backend {route}; USE {name} first, or keep keyspaces queried together on one server"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The pool serving the session's current database under the current shard map.
    fn route_pool(&mut self) -> Result<Arc<BackendPool>, SqlError> {
        if let Some(p) = &self.route_override {
            return Ok(p.clone());
        }
        let map = self.ctx.map.load();
        if let Some(r) = &self.route {
            if Arc::ptr_eq(&r.map, &map) && r.db == self.db {
                return Ok(r.pool.clone());
            }
        }
        let ks = match self.db.as_deref() {
            None | Some(INFORMATION_SCHEMA) => map.default_keyspace(),
            Some(db) => map.keyspace(db).ok_or_else(|| SqlError::unknown_database(db))?,
        };
        let pool = self.ctx.pools.get(&ks.only_shard().primary.addr);
        self.route = Some(RouteCache {
            map: Arc::clone(&map),
            db: self.db.clone(),
            pool: pool.clone(),
        });
        Ok(pool)
    }

    /// Brings `conn` to the session's collation, session variables and database.
    async fn restore(&self, conn: &mut BackendConn, held: bool) -> Result<(), RestoreError> {
        if conn.state.collation != self.collation || conn.state.vars_digest != self.vars_digest {
            if conn.state.vars_digest != 0 || conn.state.collation != conn.handshake_collation {
                if held {
                    return Err(RestoreError::Server(SqlError::internal(
                        "session state diverged from its pinned backend connection; reconnect",
                    )));
                }
                conn.reset().await?.map_err(RestoreError::Server)?;
            }
            if conn.state.collation != self.collation {
                set_names(conn, self.collation).await?;
                conn.state.collation = self.collation;
            }
            for v in &self.vars {
                conn.query(v).await?.map_err(RestoreError::Server)?;
            }
            conn.state.vars_digest = self.vars_digest;
        }
        if let Some(db) = &self.db {
            if conn.state.db.as_deref() != Some(db.as_str()) {
                let mut p = Vec::with_capacity(db.len() + 1);
                p.push(command::INIT_DB);
                p.extend_from_slice(db.as_bytes());
                conn.run(&p, Expect::Single).await?.map_err(RestoreError::Server)?;
                conn.state.db = Some(db.clone());
            }
        }
        Ok(())
    }

    fn relay_caps(&self) -> u32 {
        let bit = mysql_common::constants::CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits();
        let caps = self.client.caps & crate::backend::connect::RELAY_CAPS;
        if self.multi_statements {
            caps | bit
        } else {
            caps & !bit
        }
    }

    /// Records a successful session-variable `SET` so later connections replay it.
    fn record_set(&mut self, stmt: Bytes) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.vars_digest.hash(&mut h);
        stmt.hash(&mut h);
        self.vars_digest = h.finish() | 1;
        self.vars.push(stmt);
        if self.vars.len() > MAX_REPLAYED_SETS {
            self.sticky.get_or_insert(PinReason::ConnectionState);
        }
    }

    fn has_pinning_state(&self) -> bool {
        self.tx.is_some()
            || self.ledger.holds_state()
            || self.status & status::IN_TRANS != 0
            || self.status & status::AUTOCOMMIT == 0
            || self.sticky.is_some()
            || !self.prepared.is_empty()
    }

    /// Returns the held connection to its pool unless the session's state needs it.
    fn release_if_unpinned(&mut self) {
        if self.has_pinning_state() {
            return;
        }
        if let Some(h) = self.held.take() {
            let reserve = self.hold_for_diagnostics.then_some(self.id);
            h.pool.release_reserved(h.conn, reserve);
        }
    }

    /// Clears all session state (COM_RESET_CONNECTION semantics, keeping the current database) and returns the
    /// held connection after resetting it on the backend.
    async fn reset_state(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = self.finish_tx(tx, false).await;
        }
        self.sharded_stmts.clear();
        self.ledger.clear();
        if let Some(mut h) = self.held.take() {
            if matches!(h.conn.reset().await, Ok(Ok(()))) {
                h.pool.release(h.conn);
            }
        }
        self.vars.clear();
        self.vars_digest = 0;
        self.sticky = None;
        self.prepared.clear();
        self.prepared_reading_last_insert_id.clear();
        self.last_insert_id = 0;
        self.last_insert_id_conn = None;
        self.previous_conn = None;
        self.counts = PreviousCounts::default();
        self.hold_for_diagnostics = false;
        self.status = status::AUTOCOMMIT;
        let bit = mysql_common::constants::CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits();
        self.multi_statements = self.client.caps & bit != 0;
    }

    /// Session end: a held connection with session state is reset before it goes back to the pool.
    async fn close(mut self) {
        if let Some(tx) = self.tx.take() {
            let rollback = tokio::time::timeout(std::time::Duration::from_secs(5), self.finish_tx(tx, false)).await;
            if !matches!(rollback, Ok(Ok(()))) {
                tracing::warn!(
                    session = self.id,
                    "rolling back the open shard transaction at session end failed"
                );
            }
        }
        if self.held.is_some() && self.has_pinning_state() {
            let h = self.held.take();
            tokio::spawn(async move {
                if let Some(mut h) = h {
                    let reset = tokio::time::timeout(std::time::Duration::from_secs(5), h.conn.reset()).await;
                    if matches!(reset, Ok(Ok(Ok(())))) {
                        h.pool.release(h.conn);
                    }
                }
            });
        } else if let Some(h) = self.held.take() {
            h.pool.release(h.conn);
        }
    }
}

/// Why a connection could not be brought to the session's state.
enum RestoreError {
    /// The server refused a restore statement (reported to the client; the connection is fine).
    Server(SqlError),
    /// The connection broke.
    Broken(BackendError),
}

impl From<BackendError> for RestoreError {
    fn from(e: BackendError) -> Self {
        RestoreError::Broken(e)
    }
}

/// Sets the connection's character set and collation to those of a handshake collation id.
async fn set_names(conn: &mut BackendConn, collation: u16) -> Result<(), RestoreError> {
    use mysql_common::collations::{Collation, CollationId};
    let c: Collation<'static> = Collation::from(CollationId::from(collation));
    let (charset, name) = (c.charset(), c.collation());
    if charset.is_empty()
        || !charset.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(());
    }
    let full = format!("SET NAMES {charset} COLLATE {name}");
    if conn.query(full.as_bytes()).await?.is_ok() {
        return Ok(());
    }
    // The backend may not know this collation (e.g. MySQL 8 ids on MariaDB): fall back to the charset default.
    let _ = conn.query(format!("SET NAMES {charset}").as_bytes()).await?;
    Ok(())
}

/// SQL `LIKE` matching (`%`, `_`, backslash escape), ASCII case-insensitive as on case-insensitive collations.
fn like_match(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'%', rest)) => (0..=s.len()).any(|i| like_match(rest, &s[i..])),
        Some((b'_', rest)) => !s.is_empty() && like_match(rest, &s[1..]),
        Some((b'\\', rest)) if !rest.is_empty() => {
            !s.is_empty() && s[0].eq_ignore_ascii_case(&rest[0]) && like_match(&rest[1..], &s[1..])
        }
        Some((c, rest)) => !s.is_empty() && s[0].eq_ignore_ascii_case(c) && like_match(rest, &s[1..]),
    }
}

/// A parsed COM_CHANGE_USER (after the command byte).
struct ChangeUser {
    user: String,
    db: Option<String>,
    collation: Option<u16>,
}

impl ChangeUser {
    fn parse(p: &[u8], caps: u32) -> Option<ChangeUser> {
        let nul = |b: &[u8]| b.iter().position(|c| *c == 0);
        let end = nul(p)?;
        let user = String::from_utf8_lossy(&p[..end]).into_owned();
        let mut rest = &p[end + 1..];
        if caps & mysql_common::constants::CapabilityFlags::CLIENT_SECURE_CONNECTION.bits() != 0 {
            let len = *rest.first()? as usize;
            rest = rest.get(1 + len..)?;
        } else {
            let e = nul(rest)?;
            rest = &rest[e + 1..];
        }
        let e = nul(rest).unwrap_or(rest.len());
        let db = String::from_utf8_lossy(&rest[..e]).into_owned();
        rest = rest.get(e + 1..).unwrap_or(&[]);
        let collation = rest.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        Some(ChangeUser {
            user,
            db: if db.is_empty() { None } else { Some(db) },
            collation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_match(b"sb%", b"sbtest"));
        assert!(like_match(b"%TEST", b"sbtest"));
        assert!(like_match(b"s_test", b"sbtest"));
        assert!(!like_match(b"s_test", b"sbbtest"));
        assert!(like_match(b"a\\_b", b"a_b"));
        assert!(!like_match(b"a\\_b", b"axb"));
    }

    #[test]
    fn change_user_parsing() {
        let caps = mysql_common::constants::CapabilityFlags::CLIENT_SECURE_CONNECTION.bits();
        let p = b"bob\0\x02xyapp\0\x2d\x00mysql_native_password\0";
        let c = ChangeUser::parse(p, caps).unwrap();
        assert_eq!(
            (c.user.as_str(), c.db.as_deref(), c.collation),
            ("bob", Some("app"), Some(45))
        );
        assert!(ChangeUser::parse(b"bob", caps).is_none());
        assert!(ChangeUser::parse(b"bob\0\x09ab", caps).is_none());
    }
}
