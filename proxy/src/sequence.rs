//! Sequences: ids for AUTO_INCREMENT columns of sharded tables, unique across shards and proxies.
//!
//! A sequence is a one-row table in an unsharded keyspace (`id = 0`, `next_id`). A proxy reserves a block of
//! `cache` ids with one atomic statement, `UPDATE seq SET next_id = LAST_INSERT_ID(next_id + n) WHERE id = 0`,
//! whose OK packet carries the new `next_id`: the block is `[next_id - n, next_id)`. Inserts then take ids from
//! the block in memory; only a block refill touches the sequence table. The table (and its row, starting at 1) is
//! created on first use when missing.

use crate::backend::collect::Collected;
use crate::backend::oneshot;
use crate::backend::Pools;
use crate::protocol::errors::SqlError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Ids reserved and not yet handed out, for one sequence.
#[derive(Debug, Default)]
struct Block {
    next: u64,
    end: u64,
}

/// One sequence's block, behind an async lock so one refill runs at a time.
type SharedBlock = Arc<tokio::sync::Mutex<Block>>;

/// All sequences this proxy draws from.
#[derive(Debug, Default)]
pub struct Sequences {
    blocks: Mutex<HashMap<(String, String), SharedBlock>>,
}

fn quoted(keyspace: &str, table: &str) -> String {
    format!("`{}`.`{}`", keyspace.replace('`', "``"), table.replace('`', "``"))
}

impl Sequences {
    /// Takes `n` ids from sequence `keyspace.table` served at `addr`, reserving blocks of at least `cache`.
    pub async fn take(
        &self,
        pools: &Pools,
        addr: &str,
        keyspace: &str,
        table: &str,
        cache: u64,
        n: usize,
    ) -> Result<Vec<u64>, SqlError> {
        let block = {
            let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
            blocks
                .entry((keyspace.to_string(), table.to_string()))
                .or_default()
                .clone()
        };
        let mut b = block.lock().await;
        let mut ids = Vec::with_capacity(n);
        while ids.len() < n {
            if b.next == b.end {
                let want = cache.max((n - ids.len()) as u64);
                let (start, end) = reserve(pools, addr, keyspace, table, want).await?;
                b.next = start;
                b.end = end;
            }
            let take = ((n - ids.len()) as u64).min(b.end - b.next);
            ids.extend(b.next..b.next + take);
            b.next += take;
        }
        Ok(ids)
    }
}

/// Reserves `n` ids in the sequence table, creating it when missing.
async fn reserve(pools: &Pools, addr: &str, keyspace: &str, table: &str, n: u64) -> Result<(u64, u64), SqlError> {
    let pool = pools.get(addr);
    let name = quoted(keyspace, table);
    let update = format!("UPDATE {name} SET next_id = LAST_INSERT_ID(next_id + {n}) WHERE id = 0");
    for attempt in 0..2 {
        match oneshot::run(&pool, update.as_bytes()).await? {
            Collected::Ok(info) if info.affected_rows == 1 => {
                let end = info.last_insert_id;
                return Ok((end - n, end));
            }
            Collected::Ok(_) if attempt == 0 => init(&pool, &name).await?,
            Collected::Err(e) if e.code == 1146 && attempt == 0 => init(&pool, &name).await?,
            Collected::Err(e) => {
                return Err(SqlError {
                    message: format!(
                        "shardgate: reserving ids from sequence {keyspace}.{table}: {}",
                        e.message
                    ),
                    ..e
                })
            }
            _ => break,
        }
    }
    Err(SqlError::internal(format!(
        "sequence {keyspace}.{table} has no row with id = 0; insert one: INSERT INTO {keyspace}.{table} (id, next_id) VALUES (0, 1)"
    )))
}

/// Creates the sequence table and its row (next id 1) when they do not exist.
async fn init(pool: &crate::backend::BackendPool, name: &str) -> Result<(), SqlError> {
    for sql in [
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (id INT UNSIGNED NOT NULL PRIMARY KEY, next_id BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB COMMENT 'shardgate sequence'"
        ),
        format!("INSERT IGNORE INTO {name} (id, next_id) VALUES (0, 1)"),
    ] {
        if let Collected::Err(e) = oneshot::run(pool, sql.as_bytes()).await? {
            return Err(e);
        }
    }
    Ok(())
}
