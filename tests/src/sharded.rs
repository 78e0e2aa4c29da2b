//! A sharded test deployment: keyspace `app` on two MariaDB servers (shards `-80` and `80-`), keyspace `app_seq`
//! (unsharded: sequences and lookup tables) on a third, and a proxy in front.

use crate::{Cluster, MariaDb, Proxy, ProxyConfig};

/// The shard map of [`ShardedSetup`], with `extra` appended under `keyspaces.app` (e.g. `transaction_mode: multi`).
pub fn sharded_map(version: u64, shards: [&str; 2], unsharded: &str, extra: &str) -> String {
    format!(
        r#"version: {version}
cells: [dc1]
keyspaces:
  app:
    sharded: true
{extra}    vindexes:
      hash_id: {{ type: hash }}
      email_lkp: {{ type: lookup, table: app_seq.email_idx, from: email, to: keyspace_id }}
    tables:
      users:
        column: id
        vindex: hash_id
        auto_increment: {{ column: id, sequence: app_seq.users_seq, cache: 5 }}
        secondary_vindexes: [ {{ column: email, vindex: email_lkp }} ]
      orders: {{ column: user_id, vindex: hash_id }}
      items: {{ column: id, vindex: hash_id }}
      countries: {{ type: reference }}
    shards:
      - {{ name: "-80", cell: dc1, primary: "{a}" }}
      - {{ name: "80-", cell: dc1, primary: "{b}" }}
  app_seq:
    sharded: false
    shards: [ {{ name: "0", cell: dc1, primary: "{unsharded}" }} ]
"#,
        a = shards[0],
        b = shards[1],
    )
}

/// Two shards, one unsharded server, a proxy with user `u`/`p`, and the schema created on every server.
pub struct ShardedSetup {
    /// Servers: `[0]` shard `-80`, `[1]` shard `80-`, `[2]` keyspace `app_seq`.
    pub cluster: Cluster,
    /// The proxy.
    pub proxy: Proxy,
}

/// Schema of keyspace `app`, created on each shard.
pub const APP_SCHEMA: &str = "CREATE DATABASE app; \
    CREATE TABLE app.users (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, email VARCHAR(100), name VARCHAR(100), region VARCHAR(8)); \
    CREATE TABLE app.orders (id BIGINT NOT NULL, user_id BIGINT NOT NULL, amount DECIMAL(10,2), note VARCHAR(50), PRIMARY KEY (user_id, id)); \
    CREATE TABLE app.countries (code CHAR(2) PRIMARY KEY, name VARCHAR(50))";

impl ShardedSetup {
    /// Starts the servers, creates the schema, and starts the proxy; `extra` goes into `keyspaces.app`.
    pub async fn start(extra: &str) -> ShardedSetup {
        ShardedSetup::start_with(extra, |c| c).await
    }

    /// Like [`ShardedSetup::start`], with the proxy configuration adjusted by `cfg`.
    pub async fn start_with(extra: &str, cfg: impl FnOnce(ProxyConfig) -> ProxyConfig) -> ShardedSetup {
        let cluster = Cluster::start(3).await;
        for s in [&cluster[0], &cluster[1]] {
            s.exec(APP_SCHEMA).await;
        }
        cluster[2]
            .exec(
                "CREATE DATABASE app_seq; CREATE TABLE app_seq.email_idx (email VARBINARY(255) NOT NULL, keyspace_id BIGINT UNSIGNED NOT NULL, PRIMARY KEY (email, keyspace_id))",
            )
            .await;
        let map = sharded_map(1, [&cluster[0].addr(), &cluster[1].addr()], &cluster[2].addr(), extra);
        let proxy = Proxy::start(cfg(ProxyConfig::new(map).user("u", "p"))).await;
        ShardedSetup { cluster, proxy }
    }

    /// Shard `i` (0: `-80`, 1: `80-`).
    pub fn shard(&self, i: usize) -> &MariaDb {
        &self.cluster[i]
    }

    /// The unsharded server.
    pub fn unsharded(&self) -> &MariaDb {
        &self.cluster[2]
    }

    /// A client connection to the proxy in keyspace `app`.
    pub async fn conn(&self) -> mysql_async::Conn {
        self.proxy.conn("u", "p", Some("app")).await
    }
}

/// The keyspace id of integer key `id` under the hash vindex, computed independently of the router from the
/// documented function (murmur3's fmix64).
pub fn hash_keyspace_id(id: u64) -> u64 {
    let mut n = id;
    n ^= n >> 33;
    n = n.wrapping_mul(0xff51_afd7_ed55_8ccd);
    n ^= n >> 33;
    n = n.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    n ^= n >> 33;
    n
}

/// The shard (0 for `-80`, 1 for `80-`) that owns integer key `id` under the hash vindex.
pub fn shard_of(id: u64) -> usize {
    usize::from(hash_keyspace_id(id) >= 0x8000_0000_0000_0000)
}
