//! One authenticated backend connection: its socket and read buffer, the session state it currently carries,
//! and helpers to run the small commands the proxy issues itself (state restore, ping, reset).

use crate::protocol::codec::{write_packets, PacketCodec};
use crate::protocol::errors::SqlError;
use crate::protocol::packets::parse_err;
use crate::protocol::response::{Expect, Outcome, ResponseScanner};
use crate::protocol::{command, MAX_PACKET_PAYLOAD};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// Session state a backend connection carries; a client's statement may run on it only when it matches the
/// client's, so the proxy compares and restores it before use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendState {
    /// Current database.
    pub db: Option<String>,
    /// Connection collation (from the handshake or `SET NAMES`).
    pub collation: u16,
    /// Digest of the session-variable `SET` statements replayed on it (0: none).
    pub vars_digest: u64,
}

/// Why a backend connection failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Socket error or end of stream.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The backend broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The backend refused the login.
    #[error("login refused: {0}")]
    Auth(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// Marks a connection whose current database is unknown (after COM_RESET_CONNECTION): it never equals a real one.
pub const UNKNOWN_DB: &str = "\0unknown";

/// Drop guard returned to the pool's accounting when a connection closes.
pub trait Lease: Send + Sync {}

/// Most statements kept prepared per connection for sharded prepared statements; more closes them all.
const MAX_CACHED_STATEMENTS: usize = 256;

/// An authenticated connection to one backend.
pub struct BackendConn {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read from the backend and not yet consumed.
    pub rbuf: BytesMut,
    /// Reused buffer for framing outgoing commands.
    pub wbuf: BytesMut,
    /// Backend address (`host:port`).
    pub addr: Arc<str>,
    /// The backend's connection (thread) id.
    pub thread_id: u32,
    /// Negotiated capability flags.
    pub caps: u32,
    /// The client capabilities (within `RELAY_CAPS`) this connection was opened for: the pool matches clients on it.
    pub relay_caps: u32,
    /// Collation the connection had after login.
    pub handshake_collation: u16,
    /// Session state the connection carries now.
    pub state: BackendState,
    /// Number of times the connection passed from one session to another: a session that finds the same
    /// (address, thread id, uses) again knows nobody else ran a statement on it in between.
    pub uses: u64,
    /// The session that checked the connection out last.
    pub last_session: u32,
    /// When it was last returned to the pool or used.
    pub last_used: Instant,
    /// Set when the connection must not be reused (I/O error, protocol desync).
    pub broken: bool,
    /// How the login went (plugin and path), for the connection log line.
    pub auth_path: &'static str,
    /// Session id this idle connection is kept for: its diagnostics area holds that session's warnings. Other
    /// sessions take it only when the pool has nothing else.
    pub reserved_for: Option<u32>,
    /// Statements the proxy prepared on this connection for sharded prepared statements: text → backend id.
    pub prepared: std::collections::HashMap<Bytes, u32>,
    /// Pool accounting released when the connection is dropped.
    pub(crate) _lease: Option<Box<dyn Lease>>,
}

impl BackendConn {
    /// True when this connection negotiated CLIENT_DEPRECATE_EOF.
    pub fn deprecate_eof(&self) -> bool {
        self.caps & mysql_common::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF.bits() != 0
    }

    /// Sends a command payload as a new command (sequence id 0).
    pub async fn send_command(&mut self, payload: &[u8]) -> Result<(), BackendError> {
        self.wbuf.clear();
        self.wbuf
            .reserve(payload.len() + 4 * (1 + payload.len() / MAX_PACKET_PAYLOAD));
        let mut seq = 0;
        write_packets(&mut self.wbuf, &mut seq, payload);
        let r = self.stream.write_all(&self.wbuf).await;
        if self.wbuf.capacity() > 1 << 20 {
            self.wbuf = BytesMut::new();
        }
        r.map_err(|e| {
            self.broken = true;
            BackendError::Io(e)
        })
    }

    /// Reads more bytes from the backend into `rbuf`; end of stream is an error.
    pub async fn read_more(&mut self) -> Result<usize, BackendError> {
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(16 * 1024);
        }
        match self.stream.read_buf(&mut self.rbuf).await {
            Ok(0) => {
                self.broken = true;
                Err(BackendError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "backend closed the connection",
                )))
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.broken = true;
                Err(BackendError::Io(e))
            }
        }
    }

    /// Reads one logical packet (used during login and for the proxy's own small commands).
    pub async fn read_packet(&mut self) -> Result<crate::protocol::codec::Message, BackendError> {
        let mut codec = PacketCodec { max_payload: 1 << 30 };
        loop {
            match codec.decode(&mut self.rbuf) {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => {
                    self.read_more().await?;
                }
                Err(e) => {
                    self.broken = true;
                    return Err(BackendError::Protocol(e.to_string()));
                }
            }
        }
    }

    /// Runs a command the proxy issues itself and discards its response. `Ok(Err(e))` is a server error
    /// (the connection stays usable); `Err` means the connection is broken.
    pub async fn run(&mut self, payload: &[u8], expect: Expect) -> Result<Result<(), SqlError>, BackendError> {
        self.send_command(payload).await?;
        let mut scanner = ResponseScanner::new(expect, self.deprecate_eof());
        let mut err_packet = None;
        loop {
            let n = scanner.scan(&self.rbuf).map_err(|e| {
                self.broken = true;
                BackendError::Protocol(e.to_string())
            })?;
            if scanner.is_done() {
                if let Outcome::Err(_) = scanner.outcome() {
                    // The ERR packet is the last one in the scanned bytes.
                    err_packet = last_packet(&self.rbuf[..n]).and_then(parse_err);
                }
                let _ = self.rbuf.split_to(n);
                break;
            }
            let _ = self.rbuf.split_to(n);
            self.read_more().await?;
        }
        if !self.rbuf.is_empty() {
            self.broken = true;
            return Err(BackendError::Protocol("unexpected bytes after a response".into()));
        }
        Ok(match scanner.outcome() {
            Outcome::Ok => Ok(()),
            Outcome::Err(code) => Err(match err_packet {
                Some((c, state, msg)) => SqlError::from_backend(c, state, msg),
                None => SqlError::from_backend(*code, "HY000".into(), "backend error".into()),
            }),
            Outcome::LocalInfile => {
                self.broken = true;
                return Err(BackendError::Protocol("unexpected LOCAL INFILE request".into()));
            }
            Outcome::Pending => unreachable!("scanner is done"),
        })
    }

    /// COM_RESET_CONNECTION: clears session variables, user variables, temporary tables, locks and prepared
    /// statements on the backend; on success the tracked state becomes "fresh" (handshake collation, no replayed
    /// SETs, current database unknown).
    pub async fn reset(&mut self) -> Result<Result<(), SqlError>, BackendError> {
        let r = self.run(&[command::RESET_CONNECTION], Expect::Single).await?;
        self.prepared.clear();
        if r.is_ok() {
            self.state = BackendState {
                db: Some(UNKNOWN_DB.to_string()),
                collation: self.handshake_collation,
                vars_digest: 0,
            };
        }
        Ok(r)
    }

    /// Runs a SQL statement issued by the proxy (state restore).
    pub async fn query(&mut self, sql: &[u8]) -> Result<Result<(), SqlError>, BackendError> {
        let mut p = Vec::with_capacity(sql.len() + 1);
        p.push(command::QUERY);
        p.extend_from_slice(sql);
        self.run(&p, Expect::Results).await
    }

    /// The backend id of `sql` prepared on this connection, preparing it first when needed (the metadata response
    /// is read and dropped: the client got it when it prepared the statement with the proxy).
    pub async fn ensure_prepared(&mut self, sql: &Bytes) -> Result<Result<u32, SqlError>, BackendError> {
        if let Some(id) = self.prepared.get(sql) {
            return Ok(Ok(*id));
        }
        if self.prepared.len() >= MAX_CACHED_STATEMENTS {
            for (_, id) in std::mem::take(&mut self.prepared) {
                let mut close = vec![command::STMT_CLOSE];
                close.extend_from_slice(&id.to_le_bytes());
                self.send_command(&close).await?;
            }
        }
        let packets = match self.prepare(sql).await? {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let id = u32::from_le_bytes([packets[0][1], packets[0][2], packets[0][3], packets[0][4]]);
        self.prepared.insert(sql.clone(), id);
        Ok(Ok(id))
    }

    /// Sends COM_STMT_PREPARE and reads the whole response: `Ok(Ok(packets))` (the OK with the statement id, then
    /// the parameter and column definitions with their EOFs), `Ok(Err)` for a server error.
    pub async fn prepare(&mut self, sql: &[u8]) -> Result<Result<Vec<Bytes>, SqlError>, BackendError> {
        let mut p = Vec::with_capacity(sql.len() + 1);
        p.push(command::STMT_PREPARE);
        p.extend_from_slice(sql);
        self.send_command(&p).await?;
        let first = self.read_packet().await?.payload;
        if first.first() == Some(&0xff) {
            let (code, state, msg) = parse_err(&first).unwrap_or((1105, "HY000".into(), "prepare failed".into()));
            return Ok(Err(SqlError::from_backend(code, state, msg)));
        }
        if first.len() < 12 || first[0] != 0 {
            self.broken = true;
            return Err(BackendError::Protocol("malformed COM_STMT_PREPARE response".into()));
        }
        let columns = u16::from_le_bytes([first[5], first[6]]);
        let params = u16::from_le_bytes([first[7], first[8]]);
        let mut packets = vec![first];
        for n in [params, columns] {
            for _ in 0..n {
                packets.push(self.read_packet().await?.payload);
            }
            if n > 0 && !self.deprecate_eof() {
                packets.push(self.read_packet().await?.payload);
            }
        }
        Ok(Ok(packets))
    }

    /// Health check: the socket has no pending data or end-of-stream (no syscall when the reactor saw nothing).
    pub fn looks_alive(&self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.try_read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// The payload of the last complete packet in `buf`.
fn last_packet(buf: &[u8]) -> Option<&[u8]> {
    let mut i = 0;
    let mut last = None;
    while buf.len() >= i + 4 {
        let len = buf[i] as usize | (buf[i + 1] as usize) << 8 | (buf[i + 2] as usize) << 16;
        if buf.len() < i + 4 + len {
            break;
        }
        last = Some(&buf[i + 4..i + 4 + len]);
        i += 4 + len;
    }
    last
}
