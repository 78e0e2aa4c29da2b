//! Process wiring: load the shard map, bind the listeners, accept clients (with a connection limit), reload the
//! map on SIGHUP, and run pool maintenance.

use crate::auth::UserStore;
use crate::backend::pool::PoolSettings;
use crate::backend::Pools;
use crate::config::Config;
use crate::frontend::client::ClientConn;
use crate::frontend::handshake::handshake;
use crate::frontend::session::Session;
use crate::frontend::Context;
use crate::metrics::Metrics;
use crate::protocol::errors::SqlError;
use crate::sequence::Sequences;
use crate::stream::ClientStream;
use crate::xa_log::XaLog;
use arc_swap::ArcSwap;
use shardgate_router::plan::PlanCache;
use shardgate_router::ShardMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Reads and validates a shard map file; errors name the file and the path inside it.
pub fn load_map(path: &Path) -> Result<ShardMap, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the shard map: {e}", path.display()))?;
    ShardMap::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds the shared context from a loaded configuration.
pub fn build_context(cfg: &Config) -> Result<Arc<Context>, String> {
    let map = load_map(&cfg.shardmap.file)?;
    let metrics = Arc::new(Metrics::new());
    metrics.shardmap_version.set(map.version as i64);
    let tls = match &cfg.tls {
        Some(t) => Some(tokio_rustls::TlsAcceptor::from(
            crate::tls::server_config(&t.cert, &t.key).map_err(|e| format!("[tls]: {e}"))?,
        )),
        None => None,
    };
    let pools = Arc::new(Pools::new(
        PoolSettings {
            pool: cfg.pool.clone(),
            backend: cfg.backend.clone(),
        },
        metrics.clone(),
    ));
    let xa_dir = cfg.proxy.xa_log_dir.clone().unwrap_or_else(|| PathBuf::from("xa-log"));
    let xa_log = XaLog::open(&xa_dir).map_err(|e| format!("proxy.xa_log_dir = {}: {e}", xa_dir.display()))?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(Arc::new(Context {
        proxy: cfg.proxy.clone(),
        tls_required: cfg.tls.as_ref().is_some_and(|t| t.require),
        tls,
        users: UserStore::from_config(&cfg.users),
        pools,
        metrics,
        map: ArcSwap::from_pointee(map),
        next_connection_id: AtomicU32::new(1),
        sessions: Arc::default(),
        plans: PlanCache::default(),
        map_generation: AtomicU64::new(0),
        sequences: Sequences::default(),
        xa_log,
        xa_prefix: format!("{}{started}", xa_prefix(&cfg.proxy.effective_name())),
        next_gtrid: AtomicU64::new(1),
    }))
}

/// The XA id prefix of every incarnation of the proxy called `name`.
pub fn xa_prefix(name: &str) -> String {
    format!("sg-{name}-")
}

/// Replaces the shard map with the file's current content if it is valid and not older.
pub fn reload_map(ctx: &Context, path: &Path) -> Result<u64, String> {
    let new = load_map(path)?;
    let cur = ctx.map.load();
    if new.version < cur.version {
        return Err(format!(
            "{}: version {} is older than the running version {}; versions only increase",
            path.display(),
            new.version,
            cur.version
        ));
    }
    let v = new.version;
    ctx.map.store(Arc::new(new));
    ctx.map_generation.fetch_add(1, Ordering::AcqRel);
    ctx.metrics.shardmap_version.set(v as i64);
    Ok(v)
}

/// Runs the proxy until the process is stopped.
pub async fn run(cfg: Config) -> Result<(), String> {
    let ctx = build_context(&cfg)?;
    let classic = TcpListener::bind(cfg.proxy.classic_listen).await.map_err(|e| {
        format!(
            "proxy.classic_listen = {}: cannot listen: {e}",
            cfg.proxy.classic_listen
        )
    })?;
    let admin = TcpListener::bind(cfg.proxy.admin_listen)
        .await
        .map_err(|e| format!("proxy.admin_listen = {}: cannot listen: {e}", cfg.proxy.admin_listen))?;
    tracing::info!(
        classic = %cfg.proxy.classic_listen,
        admin = %cfg.proxy.admin_listen,
        cell = %cfg.proxy.cell,
        map_version = ctx.map.load().version,
        tls = ctx.tls.is_some(),
        "shardgate-proxy listening"
    );
    let recovered = crate::xa_recovery::recover(
        &ctx.pools,
        &ctx.map.load(),
        &ctx.xa_log,
        &xa_prefix(&cfg.proxy.effective_name()),
    )
    .await;
    if recovered != Default::default() {
        tracing::info!(
            committed = recovered.committed,
            rolled_back = recovered.rolled_back,
            unreachable = ?recovered.unreachable,
            "resolved in-doubt XA transactions"
        );
    }
    tokio::spawn(crate::admin::serve(admin, ctx.clone()));
    tokio::spawn(ctx.pools.clone().maintain_forever());
    tokio::spawn(reload_on_sighup(ctx.clone(), cfg.shardmap.file.clone()));
    accept_loop(classic, ctx, cfg.proxy.max_connections).await;
    Ok(())
}

async fn reload_on_sighup(ctx: Arc<Context>, path: PathBuf) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; shard map reloads are disabled");
        return;
    };
    while hup.recv().await.is_some() {
        match reload_map(&ctx, &path) {
            Ok(v) => {
                ctx.metrics.shardmap_reloads.with_label_values(&["ok"]).inc();
                tracing::info!(version = v, file = %path.display(), "shard map reloaded");
            }
            Err(e) => {
                ctx.metrics.shardmap_reloads.with_label_values(&["refused"]).inc();
                tracing::error!(error = %e, "shard map reload refused; keeping the running map");
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Context>, max_connections: usize) {
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    serve_client(&ctx, stream, peer).await;
                    drop(permit);
                });
            }
            Err(_) => {
                ctx.metrics
                    .client_rejected
                    .with_label_values(&["max_connections"])
                    .inc();
                tokio::spawn(async move {
                    let mut c = ClientConn::new(ClientStream::Plain(stream), peer, 1024);
                    let e =
                        SqlError::too_many_connections(format!("proxy.max_connections = {max_connections} reached"));
                    let mut p = bytes::BytesMut::new();
                    crate::protocol::packets::err_payload_before_greeting(&mut p, &e);
                    let mut seq = 0;
                    c.queue(&mut seq, &p);
                    let _ = c.flush().await;
                });
            }
        }
    }
}

async fn serve_client(ctx: &Context, stream: TcpStream, peer: std::net::SocketAddr) {
    let id = ctx.next_connection_id.fetch_add(1, Ordering::Relaxed);
    ctx.metrics.client_connections_total.inc();
    ctx.metrics.client_connections.inc();
    let mut conn = ClientConn::new(ClientStream::Plain(stream), peer, ctx.proxy.max_packet_size);
    match handshake(ctx, &mut conn, id).await {
        Ok(login) => {
            tracing::info!(session = id, %peer, user = %login.user, tls = conn.stream.is_tls(), "client connected");
            Session::new(ctx, conn, id, login).run().await;
            tracing::info!(session = id, "client disconnected");
        }
        Err(f) => {
            if f.auth_failure {
                ctx.metrics.client_auth_failures.inc();
            } else {
                ctx.metrics.client_rejected.with_label_values(&["handshake"]).inc();
            }
            if let Some((seq, e)) = &f.error {
                let _ = conn.send_err(*seq, e).await;
            }
            tracing::info!(session = id, %peer, reason = %f.reason, "client login failed");
        }
    }
    ctx.metrics.client_connections.dec();
}
