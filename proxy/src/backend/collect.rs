//! Reading a whole response into memory, for statements whose results the proxy combines (scatter reads,
//! multi-shard writes, sequence and lookup queries). The single-shard path never does this: it relays.

use super::conn::{BackendConn, BackendError};
use crate::protocol::command;
use crate::protocol::errors::SqlError;
use crate::protocol::packets::{parse_eof, parse_err, parse_ok, OkInfo};
use crate::protocol::rows::parse_text_row;
use bytes::Bytes;
use shardgate_router::merge::Row;

/// A complete response to one statement.
#[derive(Debug)]
pub enum Collected {
    /// An OK packet.
    Ok(OkInfo),
    /// An ERR packet.
    Err(SqlError),
    /// A text result set: raw column definition payloads, decoded rows, and the final status.
    Rows {
        /// Column definition packet payloads as the backend sent them.
        columns: Vec<Bytes>,
        /// Rows in text protocol form.
        rows: Vec<Row>,
        /// Final EOF/OK fields.
        end: OkInfo,
    },
}

fn protocol(conn: &mut BackendConn, what: &str) -> BackendError {
    conn.broken = true;
    BackendError::Protocol(what.to_string())
}

impl BackendConn {
    /// Runs `sql` (COM_QUERY) and reads its whole response. One result only: a response announcing more results
    /// breaks the connection (the proxy never sends multi-statements down this path).
    pub async fn collect(&mut self, sql: &[u8]) -> Result<Collected, BackendError> {
        let mut p = Vec::with_capacity(sql.len() + 1);
        p.push(command::QUERY);
        p.extend_from_slice(sql);
        self.send_command(&p).await?;
        let first = self.read_packet().await?.payload;
        let collected = match first.first() {
            Some(0x00) => Collected::Ok(parse_ok(&first).ok_or_else(|| protocol(self, "malformed OK packet"))?),
            Some(0xff) => {
                let (code, state, msg) = parse_err(&first).ok_or_else(|| protocol(self, "malformed ERR packet"))?;
                return Ok(Collected::Err(SqlError::from_backend(code, state, msg)));
            }
            Some(0xfb) => return Err(protocol(self, "unexpected LOCAL INFILE request")),
            Some(_) => {
                let (n, _) = crate::protocol::lenenc::read_int(&first)
                    .ok_or_else(|| protocol(self, "malformed column count"))?;
                let mut columns = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    columns.push(self.read_packet().await?.payload);
                }
                let deprecate = self.deprecate_eof();
                if !deprecate {
                    let eof = self.read_packet().await?.payload;
                    if eof.first() != Some(&0xfe) {
                        return Err(protocol(self, "missing EOF after column definitions"));
                    }
                }
                let mut rows = Vec::new();
                let end = loop {
                    let pkt = self.read_packet().await?.payload;
                    match pkt.first() {
                        Some(0xfe) if pkt.len() < 0xff_ffff && (deprecate || pkt.len() < 9) => {
                            let info = if deprecate { parse_ok(&pkt) } else { parse_eof(&pkt) };
                            break info.ok_or_else(|| protocol(self, "malformed end of rows"))?;
                        }
                        Some(0xff) => {
                            let (code, state, msg) =
                                parse_err(&pkt).ok_or_else(|| protocol(self, "malformed ERR packet"))?;
                            return Ok(Collected::Err(SqlError::from_backend(code, state, msg)));
                        }
                        _ => rows
                            .push(parse_text_row(&pkt, columns.len()).ok_or_else(|| protocol(self, "malformed row"))?),
                    }
                };
                Collected::Rows { columns, rows, end }
            }
            None => return Err(protocol(self, "empty response packet")),
        };
        let status = match &collected {
            Collected::Ok(i) | Collected::Rows { end: i, .. } => i.status,
            Collected::Err(_) => 0,
        };
        if status & crate::protocol::status::MORE_RESULTS_EXISTS != 0 {
            return Err(protocol(self, "unexpected further result sets"));
        }
        Ok(collected)
    }
}
