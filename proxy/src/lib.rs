//! `shardgate-proxy`: the Shardgate data plane.
//!
//! One async process that terminates MySQL classic-protocol clients, authenticates them as proxy users, and runs
//! their statements on pooled backend connections. Statements bound for one backend are relayed as raw packets:
//! the proxy reads the client's command bytes, writes them to the backend, and copies the backend's response bytes
//! back while a [`protocol::response::ResponseScanner`] watches only packet headers and the final status. The
//! shard map is held behind `arc-swap` and replaced whole on reload.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod config;
pub mod failpoint;
pub mod frontend;
pub mod metrics;
pub mod protocol;
pub mod sequence;
pub mod server;
pub mod stream;
pub mod tls;
pub mod xa_log;
pub mod xa_recovery;
