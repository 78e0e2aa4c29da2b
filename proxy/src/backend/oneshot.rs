//! Statements the proxy runs on its own behalf (sequence blocks, lookup-table reads and writes): borrow a pooled
//! connection, run, return it.

use super::collect::Collected;
use super::pool::{BackendPool, CheckoutError};
use super::BackendState;
use crate::protocol::errors::SqlError;

/// Maps a checkout failure to the error a client sees.
pub fn checkout_error(pool: &BackendPool, e: CheckoutError) -> SqlError {
    match e {
        CheckoutError::Connect(e) => SqlError::backend_unavailable(pool.addr(), e),
        t @ CheckoutError::Timeout { .. } => SqlError::too_many_connections(format!("backend {}: {t}", pool.addr())),
    }
}

/// Runs `sql` on a connection of `pool` (no session state; names must be fully qualified) and returns the whole
/// response. Server errors come back as `Ok(Collected::Err)`; connection failures as `Err`. The connection is
/// opened with the capabilities clients use (any work: the response is read whole), so it serves them later.
pub async fn run(pool: &BackendPool, sql: &[u8]) -> Result<Collected, SqlError> {
    let mut conn = pool
        .checkout(pool.usual_caps(), &BackendState::default(), 0)
        .await
        .map_err(|e| checkout_error(pool, e))?;
    match conn.collect(sql).await {
        Ok(c) => {
            pool.release(conn);
            Ok(c)
        }
        Err(e) => Err(SqlError::backend_lost(pool.addr(), e)),
    }
}
