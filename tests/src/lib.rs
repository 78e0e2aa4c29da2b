//! Integration-test harness for Shardgate: real MariaDB servers and a real `shardgate-proxy` process per test.
//!
//! Every integration test of the workspace starts what it needs through this crate and never depends on a server
//! someone else started:
//!
//! - [`MariaDb`] / [`Cluster`]: `mariadbd` servers copied from a per-process `mariadb-install-db` template (three
//!   start in a second or two), each on a free 127.0.0.1 port with its own data dir, binary log and `server-id`;
//!   `root` logs in over TCP with an empty password. SQL helpers ([`MariaDb::exec`], [`MariaDb::query`]), process
//!   control ([`MariaDb::kill`], [`MariaDb::stop`], [`MariaDb::restart`]) and GTID replication
//!   ([`MariaDb::replicate_from`], [`MariaDb::wait_for_gtid`], [`MariaDb::promote`]).
//! - [`Proxy`] / [`ProxyConfig`]: the proxy binary (from `SHARDGATE_PROXY_BIN`, else built once per test process)
//!   started with a generated `proxy.toml` and shard map, ready when its classic port and `/healthz` answer.
//! - [`TlsFiles`]: a throwaway CA and server certificate; [`free_port`]; [`process::spawn`] for other helper
//!   processes.
//!
//! Nothing outlives a test: values kill their processes and remove their directories on `Drop` (also when a test
//! panics), and every child is spawned so the kernel kills it if the test process dies. Every wait is bounded and
//! panics with the relevant log tail. If MariaDB is not installed, starting a server panics naming
//! `bash scripts/setup.sh`; nothing is skipped silently.
//!
//! ```no_run
//! # async fn demo() {
//! use shardgate_tests::{unsharded_map, Cluster, Proxy, ProxyConfig};
//! let cluster = Cluster::start(2).await;
//! cluster[1].replicate_from(&cluster[0]).await;
//! cluster[0].exec("CREATE DATABASE app").await;
//! let pos = cluster[0].gtid_current_pos().await;
//! cluster[1].wait_for_gtid(&pos, std::time::Duration::from_secs(10)).await;
//! let proxy = Proxy::start(ProxyConfig::new(unsharded_map("app", &cluster[0])).user("app", "secret")).await;
//! let conn = proxy.conn("app", "secret", Some("app")).await;
//! # drop(conn);
//! # }
//! ```

mod cluster;
mod http;
mod mariadb;
pub mod ports;
pub mod process;
mod proxy;
mod proxy_bin;
mod proxy_config;
mod replication;
mod sharded;
pub mod sysbench;
mod tempdirs;
mod template;
mod tls;

pub use cluster::Cluster;
pub use http::{http_get, HttpResponse};
pub use mariadb::MariaDb;
pub use ports::free_port;
pub use proxy::Proxy;
pub use proxy_bin::{proxy_binary, workspace_root};
pub use proxy_config::{
    keyspaces_map, unsharded_map, PoolSettings, ProxyConfig, ProxyUser, TlsSettings, UserSecret, DEFAULT_CELL,
};
pub use replication::ReplicationStatus;
pub use sharded::{hash_keyspace_id, shard_of, sharded_map, ShardedSetup, APP_SCHEMA};
pub use tls::TlsFiles;
