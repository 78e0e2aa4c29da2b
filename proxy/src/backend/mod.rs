//! Connections from the proxy to backend servers: login ([`connect`]), the connection and its tracked session
//! state ([`conn`]), and the bounded per-address pool with health checks ([`pool`]).

pub mod collect;
pub mod conn;
pub mod connect;
pub mod oneshot;
pub mod pool;

pub use conn::{BackendConn, BackendError, BackendState};
pub use pool::{BackendPool, Pools};
