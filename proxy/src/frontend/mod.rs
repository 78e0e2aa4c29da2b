//! The classic-protocol front end: per-connection I/O ([`client`]), the server side of the handshake and
//! authentication ([`handshake`]), session state and the command loop ([`session`]), and the raw relay of one
//! command to a backend ([`relay`]).

pub mod client;
pub mod handshake;
pub mod registry;
pub mod relay;
pub mod session;

use crate::auth::UserStore;
use crate::backend::Pools;
use crate::config::ProxySection;
use crate::metrics::Metrics;
use crate::sequence::Sequences;
use crate::xa_log::XaLog;
use arc_swap::ArcSwap;
use shardgate_router::plan::PlanCache;
use shardgate_router::ShardMap;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Everything a client connection needs, shared by all of them.
pub struct Context {
    /// `[proxy]` settings.
    pub proxy: ProxySection,
    /// TLS acceptor when `[tls]` is configured.
    pub tls: Option<TlsAcceptor>,
    /// Refuse clients that do not upgrade to TLS.
    pub tls_required: bool,
    /// Proxy users.
    pub users: UserStore,
    /// Backend pools.
    pub pools: Arc<Pools>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The shard map in use; each statement loads one snapshot.
    pub map: ArcSwap<ShardMap>,
    /// Next client connection id.
    pub next_connection_id: AtomicU32,
    /// Live sessions by connection id (for KILL).
    pub sessions: Arc<registry::SessionRegistry>,
    /// Plans of statements on sharded keyspaces, shared by all sessions.
    pub plans: PlanCache,
    /// Bumped on every shard-map swap; part of the plan-cache key.
    pub map_generation: AtomicU64,
    /// Sequence blocks for AUTO_INCREMENT columns of sharded tables.
    pub sequences: Sequences,
    /// The two-phase-commit decision log.
    pub xa_log: XaLog,
    /// Prefix of the XA transaction ids this proxy incarnation creates (`sg-<name>-<start time>`).
    pub xa_prefix: String,
    /// Next XA transaction number.
    pub next_gtrid: AtomicU64,
}
