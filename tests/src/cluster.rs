//! Several independent MariaDB servers started together (shards, or a primary and its replicas).

use std::ops::{Index, IndexMut};

use crate::mariadb::MariaDb;

/// `n` independent servers, each with its own port, data directory and `server-id`; no replication between them
/// until a test sets it up ([`MariaDb::replicate_from`]). Dropping the cluster kills them all.
#[derive(Debug)]
pub struct Cluster {
    /// The servers, in start order.
    pub servers: Vec<MariaDb>,
}

impl Cluster {
    /// Starts `n` servers concurrently and waits until all accept logins (each within 60 s of its spawn).
    ///
    /// Panics as [`MariaDb::start`] does; servers already started are killed by their `Drop`.
    pub async fn start(n: usize) -> Cluster {
        // Copy the template and spawn on the blocking pool, all at once; then wait for each in turn (their
        // startups overlap, so this is as slow as the slowest one).
        let launches: Vec<_> = (0..n).map(|_| tokio::task::spawn_blocking(MariaDb::launch)).collect();
        let mut servers = Vec::with_capacity(n);
        for launch in launches {
            match launch.await {
                Ok(db) => servers.push(db),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("start a server: {e}"),
            }
        }
        for db in &mut servers {
            db.wait_ready(true).await;
        }
        Cluster { servers }
    }

    /// The number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// True when the cluster has no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Iterates over the servers.
    pub fn iter(&self) -> std::slice::Iter<'_, MariaDb> {
        self.servers.iter()
    }
}

impl Index<usize> for Cluster {
    type Output = MariaDb;

    /// The `i`-th server.
    fn index(&self, i: usize) -> &MariaDb {
        &self.servers[i]
    }
}

impl IndexMut<usize> for Cluster {
    /// The `i`-th server, mutably (to kill or restart it).
    fn index_mut(&mut self, i: usize) -> &mut MariaDb {
        &mut self.servers[i]
    }
}
