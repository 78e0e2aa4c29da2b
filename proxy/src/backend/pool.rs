//! A bounded pool of backend connections per backend address.
//!
//! Checkout prefers the most recently used idle connection whose capabilities match the client's and whose
//! session state already equals the client's (no restore round trips); it health-checks the connection first (a
//! readiness probe that costs no syscall when the socket is quiet, plus a COM_PING after a long idle period).
//! Opening is capped by a semaphore (`max_open`); statements beyond the cap wait up to `checkout_timeout_ms`. A
//! background task closes connections idle past `idle_timeout_ms` and keeps `min_idle` open.

use super::conn::{BackendConn, BackendError, BackendState, Lease};
use super::connect::connect;
use crate::config::{BackendSection, PoolSection};
use crate::metrics::Metrics;
use crate::protocol::command;
use crate::protocol::response::Expect;
use prometheus::{Histogram, IntCounter, IntGauge};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Settings shared by every pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Limits and timeouts.
    pub pool: PoolSection,
    /// Backend credentials.
    pub backend: BackendSection,
}

struct Shared {
    addr: Arc<str>,
    notify: Notify,
    open: IntGauge,
}

struct PoolLease {
    _permit: OwnedSemaphorePermit,
    shared: Weak<Shared>,
}

impl Lease for PoolLease {}

impl Drop for PoolLease {
    fn drop(&mut self) {
        if let Some(s) = self.shared.upgrade() {
            s.open.dec();
            s.notify.notify_one();
        }
    }
}

/// The pool of one backend address.
pub struct BackendPool {
    shared: Arc<Shared>,
    settings: Arc<PoolSettings>,
    sem: Arc<Semaphore>,
    idle: Mutex<Vec<BackendConn>>,
    idle_gauge: IntGauge,
    waiting: IntGauge,
    connect_failures: IntCounter,
    /// Statement latency histogram of this backend.
    pub duration: Histogram,
    last_caps: std::sync::atomic::AtomicU32,
}

impl BackendPool {
    fn new(addr: &str, settings: Arc<PoolSettings>, metrics: &Metrics) -> BackendPool {
        BackendPool {
            shared: Arc::new(Shared {
                addr: Arc::from(addr),
                notify: Notify::new(),
                open: metrics.backend_open.with_label_values(&[addr]),
            }),
            sem: Arc::new(Semaphore::new(settings.pool.max_open)),
            settings,
            idle: Mutex::new(Vec::new()),
            idle_gauge: metrics.backend_idle.with_label_values(&[addr]),
            waiting: metrics.backend_waiting.with_label_values(&[addr]),
            connect_failures: metrics.backend_connect_failures.with_label_values(&[addr]),
            duration: metrics.duration_for(addr),
            last_caps: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The backend address.
    pub fn addr(&self) -> &Arc<str> {
        &self.shared.addr
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<BackendConn>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the best idle connection with capabilities `caps` for session `session`: the one reserved for it, else
    /// one already in `want` state, else the most recently used; connections reserved for other sessions only when
    /// `steal` is set.
    fn take_idle(&self, caps: u32, want: &BackendState, session: u32, steal: bool) -> Option<BackendConn> {
        let mut idle = self.lock_idle();
        let mut fallback = None;
        let take = |idle: &mut Vec<BackendConn>, i: usize| {
            self.idle_gauge.dec();
            let mut c = idle.remove(i);
            c.reserved_for = None;
            c
        };
        if let Some(i) = idle
            .iter()
            .rposition(|c| c.reserved_for == Some(session) && c.relay_caps == caps)
        {
            return Some(take(&mut idle, i));
        }
        for i in (0..idle.len()).rev() {
            if idle[i].reserved_for.is_some() != steal {
                continue;
            }
            if idle[i].relay_caps != caps {
                continue;
            }
            // MySQL cannot deselect a database: a session without one needs a connection that never selected one.
            if want.db.is_none() && idle[i].state.db.is_some() {
                continue;
            }
            if idle[i].state == *want {
                return Some(take(&mut idle, i));
            }
            if fallback.is_none() {
                fallback = Some(i);
            }
        }
        fallback.map(|i| take(&mut idle, i))
    }

    /// Closes the least recently used idle, unreserved connection opened for other capabilities than `caps`.
    fn evict_unusable(&self, caps: u32) -> bool {
        let mut idle = self.lock_idle();
        match idle
            .iter()
            .position(|c| c.relay_caps != caps && c.reserved_for.is_none())
        {
            Some(i) => {
                idle.remove(i);
                self.idle_gauge.dec();
                true
            }
            None => false,
        }
    }

    /// The client capabilities of the latest checkout: the proxy's own statements use them, so their connections
    /// serve clients afterwards.
    pub fn usual_caps(&self) -> u32 {
        self.last_caps.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the least recently used idle connection (of any capabilities) to free a slot.
    fn evict_one(&self) -> bool {
        let mut idle = self.lock_idle();
        if idle.is_empty() {
            return false;
        }
        idle.remove(0);
        self.idle_gauge.dec();
        true
    }

    async fn open(&self, permit: OwnedSemaphorePermit, caps: u32) -> Result<BackendConn, BackendError> {
        let s = &self.settings;
        match connect(
            &self.shared.addr,
            &s.backend.user,
            &s.backend.password,
            caps,
            Duration::from_millis(s.pool.connect_timeout_ms),
        )
        .await
        {
            Ok(mut c) => {
                self.shared.open.inc();
                tracing::info!(backend = %self.shared.addr, thread_id = c.thread_id, auth = c.auth_path, "backend connection opened");
                c._lease = Some(Box::new(PoolLease {
                    _permit: permit,
                    shared: Arc::downgrade(&self.shared),
                }));
                Ok(c)
            }
            Err(e) => {
                self.connect_failures.inc();
                Err(e)
            }
        }
    }

    /// Checks a connection out for a statement of a client with relay capabilities `caps` and session state
    /// `want` (the caller restores state that differs).
    pub async fn checkout(&self, caps: u32, want: &BackendState, session: u32) -> Result<BackendConn, CheckoutError> {
        self.last_caps.store(caps, std::sync::atomic::Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.settings.pool.checkout_timeout_ms);
        let ping_after = Duration::from_millis(self.settings.pool.ping_after_idle_ms);
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let found = self.take_idle(caps, want, session, false).or_else(|| {
                // Nothing free and no slot: close an idle connection this client cannot use (other capabilities)
                // to open one, before taking a connection reserved for another session's diagnostics.
                if self.sem.available_permits() == 0 && !self.evict_unusable(caps) {
                    self.take_idle(caps, want, session, true)
                } else {
                    None
                }
            });
            if let Some(mut c) = found {
                if !c.looks_alive() {
                    continue;
                }
                if c.last_used.elapsed() >= ping_after {
                    let ping = tokio::time::timeout(
                        Duration::from_millis(self.settings.pool.connect_timeout_ms),
                        c.run(&[command::PING], Expect::Single),
                    )
                    .await;
                    if !matches!(ping, Ok(Ok(Ok(())))) {
                        continue;
                    }
                }
                if c.last_session != session {
                    c.uses += 1;
                    c.last_session = session;
                }
                return Ok(c);
            }
            if let Ok(permit) = self.sem.clone().try_acquire_owned() {
                let mut c = self.open(permit, caps).await.map_err(CheckoutError::Connect)?;
                c.uses = 1;
                c.last_session = session;
                return Ok(c);
            }
            if self.evict_one() {
                continue;
            }
            self.waiting.inc();
            let r = tokio::time::timeout_at(deadline, notified).await;
            self.waiting.dec();
            if r.is_err() {
                return Err(CheckoutError::Timeout {
                    max_open: self.settings.pool.max_open,
                    waited_ms: self.settings.pool.checkout_timeout_ms,
                });
            }
        }
    }

    /// Returns a connection; broken ones (or ones with unread bytes) are closed instead.
    pub fn release(&self, c: BackendConn) {
        self.release_reserved(c, None);
    }

    /// Returns a connection, kept for session `reserved_for` when given (see [`BackendConn::reserved_for`]).
    pub fn release_reserved(&self, mut c: BackendConn, reserved_for: Option<u32>) {
        if c.broken || !c.rbuf.is_empty() {
            return;
        }
        c.reserved_for = reserved_for;
        c.last_used = Instant::now();
        self.lock_idle().push(c);
        self.idle_gauge.inc();
        self.shared.notify.notify_one();
    }

    /// Closes idle connections past the idle timeout (keeping `min_idle`) and opens connections up to `min_idle`.
    async fn maintain(&self) {
        let timeout = Duration::from_millis(self.settings.pool.idle_timeout_ms);
        let min_idle = self.settings.pool.min_idle;
        {
            let mut idle = self.lock_idle();
            while idle.len() > min_idle && idle.first().is_some_and(|c| c.last_used.elapsed() >= timeout) {
                idle.remove(0);
                self.idle_gauge.dec();
            }
            idle.retain(|c| c.looks_alive());
            self.idle_gauge.set(idle.len() as i64);
        }
        let missing = min_idle.saturating_sub(self.lock_idle().len());
        for _ in 0..missing {
            let Ok(permit) = self.sem.clone().try_acquire_owned() else {
                break;
            };
            let caps = self.last_caps.load(std::sync::atomic::Ordering::Relaxed);
            match self.open(permit, caps).await {
                Ok(c) => self.release(c),
                Err(e) => {
                    tracing::warn!(backend = %self.shared.addr, error = %e, "cannot open idle backend connection");
                    break;
                }
            }
        }
    }
}

/// Why no connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Opening a new connection failed.
    #[error("{0}")]
    Connect(BackendError),
    /// The pool stayed full.
    #[error("no connection became free within {waited_ms} ms (pool max_open = {max_open}); raise [pool] max_open or checkout_timeout_ms")]
    Timeout {
        /// The cap.
        max_open: usize,
        /// How long the statement waited.
        waited_ms: u64,
    },
}

/// Every backend's pool, created on first use.
pub struct Pools {
    settings: Arc<PoolSettings>,
    metrics: Arc<Metrics>,
    pools: RwLock<HashMap<String, Arc<BackendPool>>>,
}

impl Pools {
    /// Creates the registry.
    pub fn new(settings: PoolSettings, metrics: Arc<Metrics>) -> Pools {
        Pools {
            settings: Arc::new(settings),
            metrics,
            pools: RwLock::new(HashMap::new()),
        }
    }

    /// The pool for `addr`.
    pub fn get(&self, addr: &str) -> Arc<BackendPool> {
        if let Some(p) = self.pools.read().unwrap_or_else(|e| e.into_inner()).get(addr) {
            return p.clone();
        }
        let mut w = self.pools.write().unwrap_or_else(|e| e.into_inner());
        w.entry(addr.to_string())
            .or_insert_with(|| Arc::new(BackendPool::new(addr, self.settings.clone(), &self.metrics)))
            .clone()
    }

    /// Runs pool maintenance forever (spawn it once).
    pub async fn maintain_forever(self: Arc<Self>) {
        let period = Duration::from_millis((self.settings.pool.idle_timeout_ms / 4).clamp(100, 1000));
        loop {
            tokio::time::sleep(period).await;
            let pools: Vec<_> = self
                .pools
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for p in pools {
                p.maintain().await;
            }
        }
    }
}
