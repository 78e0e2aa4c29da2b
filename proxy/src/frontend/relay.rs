//! The raw relay of one command: write the client's command payload to a backend, then copy the backend's
//! response bytes to the client as they arrive while a [`ResponseScanner`] finds the end of the response.
//!
//! Rows are never decoded or re-encoded: each read from the backend is followed by at most one write of the same
//! bytes to the client, so a single-shard statement costs about what a TCP forwarder costs. Sequence ids pass
//! through unchanged because the command keeps the client's framing (it starts at sequence id 0 on both legs).

use super::client::ClientConn;
use crate::backend::{BackendConn, BackendError};
use crate::protocol::packets::OkInfo;
use crate::protocol::response::{Expect, Outcome, ResponseScanner};
use tokio::io::AsyncWriteExt;

/// What a relayed command produced.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// How the response ended.
    pub outcome: Outcome,
    /// Status and counters of the final OK/EOF.
    pub info: OkInfo,
    /// Largest last-insert-id of the response's OK packets.
    pub last_insert_id: u64,
    /// Statement id of a prepare-OK.
    pub stmt_id: Option<u32>,
    /// Bytes copied to the client.
    pub bytes_to_client: u64,
    /// Rows of the last result set.
    pub rows: u64,
    /// The response's last result was a result set.
    pub ended_with_result_set: bool,
}

/// Why a relay stopped early.
#[derive(Debug)]
pub enum RelayError {
    /// The backend failed; `forwarded` tells whether any response byte reached the client and `last_seq` is the
    /// sequence id of the last packet forwarded (an error packet must use the next one).
    Backend {
        /// The failure.
        error: BackendError,
        /// Some response bytes were already written to the client.
        forwarded: bool,
        /// Sequence id of the last forwarded packet.
        last_seq: u8,
    },
    /// The client went away or broke framing (during LOCAL INFILE).
    Client(String),
}

/// Sends `payload` to `be` and relays its response of shape `expect` to `client`.
pub async fn relay(
    client: &mut ClientConn,
    be: &mut BackendConn,
    payload: &[u8],
    expect: Expect,
) -> Result<Relayed, RelayError> {
    let backend_err = |error, forwarded, last_seq| RelayError::Backend {
        error,
        forwarded,
        last_seq,
    };
    be.send_command(payload).await.map_err(|e| backend_err(e, false, 0))?;
    let mut scanner = ResponseScanner::new(expect, be.deprecate_eof());
    let mut forwarded: u64 = 0;
    loop {
        // Whatever is left in the buffer is an incomplete packet: every iteration needs more bytes.
        be.read_more()
            .await
            .map_err(|e| backend_err(e, forwarded > 0, scanner.last_seq))?;
        let n = scanner.scan(&be.rbuf).map_err(|e| {
            be.broken = true;
            backend_err(BackendError::Protocol(e.to_string()), forwarded > 0, scanner.last_seq)
        })?;
        if n > 0 {
            if let Err(e) = client.stream.write_all(&be.rbuf[..n]).await {
                be.broken = true;
                return Err(RelayError::Client(format!("writing to client: {e}")));
            }
            let _ = be.rbuf.split_to(n);
            forwarded += n as u64;
        }
        if scanner.is_done() {
            if *scanner.outcome() == Outcome::LocalInfile {
                relay_infile(client, be).await?;
                scanner.resume_after_infile();
                continue;
            }
            if !be.rbuf.is_empty() {
                be.broken = true;
                return Err(backend_err(
                    BackendError::Protocol("unexpected bytes after the response".into()),
                    true,
                    scanner.last_seq,
                ));
            }
            break;
        }
    }
    if be.rbuf.capacity() > 1 << 20 {
        be.rbuf = bytes::BytesMut::with_capacity(16 * 1024);
    }
    Ok(Relayed {
        outcome: scanner.outcome().clone(),
        info: scanner.info,
        last_insert_id: scanner.last_insert_id,
        stmt_id: scanner.stmt_id,
        bytes_to_client: forwarded,
        rows: scanner.rows,
        ended_with_result_set: scanner.ended_with_result_set,
    })
}

/// Relays the client's LOCAL INFILE packets to the backend until the empty packet that ends the file.
async fn relay_infile(client: &mut ClientConn, be: &mut BackendConn) -> Result<(), RelayError> {
    loop {
        let m = match client.read_message().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                be.broken = true;
                return Err(RelayError::Client(
                    "client closed the connection during LOCAL INFILE".into(),
                ));
            }
            Err(e) => {
                be.broken = true;
                return Err(RelayError::Client(e.to_string()));
            }
        };
        let mut out = bytes::BytesMut::with_capacity(m.payload.len() + 8);
        let mut seq = m.seq;
        crate::protocol::codec::write_packets(&mut out, &mut seq, &m.payload);
        be.stream.write_all(&out).await.map_err(|e| {
            be.broken = true;
            RelayError::Backend {
                error: BackendError::Io(e),
                forwarded: true,
                last_seq: m.last_seq,
            }
        })?;
        if m.payload.is_empty() {
            return Ok(());
        }
    }
}
