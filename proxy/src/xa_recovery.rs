//! Resolving in-doubt XA branches: at start, and in the background when a commit could not reach a branch.
//!
//! Branches this proxy created carry its XA prefix (`sg-<name>-`). A prepared branch whose transaction has a
//! decision record is committed; one without is rolled back (the proxy crashed before deciding). Branches of other
//! proxies are left alone.

use crate::backend::collect::Collected;
use crate::backend::{oneshot, Pools};
use crate::xa_log::{Decision, XaLog};
use shardgate_router::ShardMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Branches committed (decision on record).
    pub committed: usize,
    /// Branches rolled back (no decision).
    pub rolled_back: usize,
    /// Backends that could not be asked.
    pub unreachable: Vec<String>,
}

/// Prepared branches on one backend: (gtrid, bqual).
async fn prepared(pools: &Pools, addr: &str) -> Result<Vec<(String, String)>, String> {
    let pool = pools.get(addr);
    match oneshot::run(&pool, b"XA RECOVER").await.map_err(|e| e.message)? {
        Collected::Rows { rows, .. } => Ok(rows
            .into_iter()
            .filter_map(|r| {
                let num = |i: usize| -> Option<usize> { std::str::from_utf8(r.get(i)?.as_deref()?).ok()?.parse().ok() };
                let (g, b) = (num(1)?, num(2)?);
                let data = r.get(3)?.as_deref()?;
                let gtrid = String::from_utf8_lossy(data.get(..g)?).into_owned();
                let bqual = String::from_utf8_lossy(data.get(g..g + b)?).into_owned();
                Some((gtrid, bqual))
            })
            .collect()),
        Collected::Err(e) => Err(e.message),
        Collected::Ok(_) => Ok(Vec::new()),
    }
}

async fn finish(pools: &Pools, addr: &str, gtrid: &str, bqual: &str, commit: bool) -> bool {
    let sql = format!(
        "XA {} '{}','{}'",
        if commit { "COMMIT" } else { "ROLLBACK" },
        gtrid.replace('\'', "''"),
        bqual.replace('\'', "''")
    );
    let pool = pools.get(addr);
    match oneshot::run(&pool, sql.as_bytes()).await {
        Ok(Collected::Ok(_)) => true,
        Ok(Collected::Err(e)) if e.code == 1397 => true, // XAER_NOTA: already resolved
        other => {
            tracing::warn!(backend = addr, gtrid, ?other, "resolving an XA branch failed");
            false
        }
    }
}

/// Resolves every prepared branch with prefix `prefix` on every primary of `map`.
pub async fn recover(pools: &Pools, map: &ShardMap, log: &XaLog, prefix: &str) -> Recovered {
    let decided: Vec<Decision> = log.pending().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the XA decision log");
        Vec::new()
    });
    let committing: HashSet<&str> = decided.iter().map(|d| d.gtrid.as_str()).collect();
    let mut out = Recovered::default();
    let mut unresolved: HashSet<String> = HashSet::new();
    let mut addrs: Vec<&str> = map
        .keyspaces
        .iter()
        .flat_map(|k| &k.shards)
        .map(|s| s.primary.addr.as_str())
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    for addr in addrs {
        let branches = match prepared(pools, addr).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(backend = addr, error = %e, "XA RECOVER failed");
                out.unreachable.push(addr.to_string());
                continue;
            }
        };
        for (gtrid, bqual) in branches {
            if !gtrid.starts_with(prefix) {
                continue;
            }
            let commit = committing.contains(gtrid.as_str());
            if finish(pools, addr, &gtrid, &bqual, commit).await {
                if commit {
                    out.committed += 1;
                } else {
                    out.rolled_back += 1;
                }
                tracing::info!(backend = addr, gtrid, bqual, commit, "resolved an in-doubt XA branch");
            } else {
                unresolved.insert(gtrid);
            }
        }
    }
    if out.unreachable.is_empty() {
        for d in &decided {
            if !unresolved.contains(&d.gtrid) {
                log.done(&d.gtrid);
            }
        }
    }
    out
}

/// Commits the branches of a decided transaction in the background until all are done (bounded retries).
pub fn spawn_resolve(pools: Arc<Pools>, log: XaLog, d: Decision) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        for _ in 0..30 {
            let mut all = true;
            for (addr, bqual) in &d.branches {
                let still = match prepared(&pools, addr).await {
                    Ok(b) => b.iter().any(|(g, q)| *g == d.gtrid && q == bqual),
                    Err(_) => {
                        all = false;
                        continue;
                    }
                };
                if still && !finish(&pools, addr, &d.gtrid, bqual, true).await {
                    all = false;
                }
            }
            if all {
                log.done(&d.gtrid);
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tracing::error!(gtrid = %d.gtrid, "XA branches still prepared after retries; the next proxy start resolves them");
    });
}
