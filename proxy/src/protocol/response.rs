//! Follows a backend's response to one command, packet by packet, without decoding rows.
//!
//! The relay copies backend bytes to the client as they arrive; this scanner only looks at packet headers, the
//! first payload byte of each packet, and the few small packets that matter (the first packet of a result, the
//! intermediate EOF, the final OK/EOF/ERR) to learn where the response ends and what status it leaves behind.
//! Large rows, including rows split over several 16 MiB packets, are skipped by length across read boundaries, so
//! the relay never has to buffer a whole row.

use super::lenenc;
use super::packets::{parse_eof, parse_ok, OkInfo};
use super::{status, MAX_PACKET_PAYLOAD};

/// Which response shape to expect, chosen from the command that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// COM_QUERY / COM_STMT_EXECUTE: OK, ERR, LOCAL INFILE request or result sets, possibly several.
    Results,
    /// COM_STMT_PREPARE: prepare-OK with parameter and column definitions, or ERR.
    Prepare,
    /// COM_FIELD_LIST: column definitions ended by EOF, or ERR.
    FieldList,
    /// COM_STMT_FETCH: rows ended by EOF/OK, or ERR.
    Rows,
    /// Commands answered by exactly one packet (COM_PING, COM_INIT_DB, COM_STATISTICS, COM_RESET_CONNECTION, …).
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepareParams(u16, u16),
    PrepareParamsEof(u16),
    PrepareColumns(u16),
    PrepareColumnsEof,
    Done,
}

/// How the response ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still in progress.
    Pending,
    /// Ended with OK/EOF; the status flags are in [`ResponseScanner::info`].
    Ok,
    /// Ended with an ERR packet with this code.
    Err(u16),
    /// The server asked for a LOCAL INFILE upload; the client's file packets must be relayed, then scanning
    /// resumes (call [`ResponseScanner::resume_after_infile`]).
    LocalInfile,
}

/// A malformed backend response: the connection can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed backend response: {0}")]
pub struct ResponseError(pub &'static str);

/// The scanner. Feed it the bytes read from the backend with [`ResponseScanner::scan`].
#[derive(Debug, Clone)]
pub struct ResponseScanner {
    expect: Expect,
    state: State,
    deprecate_eof: bool,
    /// Bytes of the current packet that lie beyond the buffer last scanned.
    skip: usize,
    /// The current logical packet continues in the next physical packet.
    continuation: bool,
    /// Sequence id of the last packet header seen.
    pub last_seq: u8,
    /// Status and counters from the last OK/EOF seen.
    pub info: OkInfo,
    /// Statement id from a prepare-OK.
    pub stmt_id: Option<u32>,
    /// Largest last insert id reported by any OK in this response (multi-statement batches report several).
    pub last_insert_id: u64,
    /// Rows of the last result set (0 when the response ended without one).
    pub rows: u64,
    /// The last result of the response was a result set (not a bare OK).
    pub ended_with_result_set: bool,
    outcome: Outcome,
}

impl ResponseScanner {
    /// A scanner for the response to a command of shape `expect`; `deprecate_eof` is the connection's
    /// CLIENT_DEPRECATE_EOF capability.
    pub fn new(expect: Expect, deprecate_eof: bool) -> ResponseScanner {
        let state = match expect {
            Expect::Results | Expect::Single | Expect::Prepare => State::Start,
            Expect::FieldList | Expect::Rows => State::Rows,
        };
        ResponseScanner {
            expect,
            state,
            deprecate_eof,
            skip: 0,
            continuation: false,
            last_seq: 0,
            info: OkInfo::default(),
            stmt_id: None,
            last_insert_id: 0,
            rows: 0,
            ended_with_result_set: false,
            outcome: Outcome::Pending,
        }
    }

    /// How the response ended so far.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// True once the whole response has been scanned.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// After the client's LOCAL INFILE data has been relayed, expect the final OK/ERR.
    pub fn resume_after_infile(&mut self) {
        self.state = State::Start;
        self.outcome = Outcome::Pending;
    }

    /// Scans `buf` (bytes read from the backend, starting where the previous call's returned count ended) and
    /// returns how many leading bytes are complete enough to forward. Bytes after that count (a partial packet
    /// the scanner still needs to see whole) must be kept and passed again, with more data appended.
    pub fn scan(&mut self, buf: &[u8]) -> Result<usize, ResponseError> {
        let mut i = self.skip.min(buf.len());
        self.skip -= i;
        while self.state != State::Done {
            if buf.len() - i < 4 {
                break;
            }
            let len = buf[i] as usize | (buf[i + 1] as usize) << 8 | (buf[i + 2] as usize) << 16;
            let seq = buf[i + 3];
            let avail = buf.len() - i - 4;
            let was_continuation = self.continuation;
            self.continuation = len == MAX_PACKET_PAYLOAD;
            if !was_continuation {
                if len == 0 {
                    return Err(ResponseError("empty packet where a response packet was expected"));
                }
                if avail == 0 {
                    self.continuation = was_continuation;
                    break;
                }
                let first = buf[i + 4];
                if self.needs_whole(first, len) {
                    if avail < len {
                        self.continuation = was_continuation;
                        break;
                    }
                    self.on_packet(&buf[i + 4..i + 4 + len])?;
                } else {
                    self.on_boring_packet(first, &buf[i + 4..i + 4 + avail.min(len)])?;
                }
            }
            self.last_seq = seq;
            if avail >= len {
                i += 4 + len;
            } else {
                self.skip = len - avail;
                i = buf.len();
            }
        }
        Ok(i)
    }

    /// Whether the scanner must see the whole packet (small control packets) rather than just its first byte.
    fn needs_whole(&self, first: u8, len: usize) -> bool {
        match self.state {
            State::Start | State::ColumnsEof | State::PrepareParamsEof(_) | State::PrepareColumnsEof => true,
            State::Rows => first == 0xff || (first == 0xfe && len < MAX_PACKET_PAYLOAD),
            State::Columns(_) | State::PrepareParams(..) | State::PrepareColumns(_) => first == 0xff,
            State::Done => false,
        }
    }

    fn finish_ok(&mut self, info: OkInfo) {
        self.info = info;
        self.last_insert_id = self.last_insert_id.max(info.last_insert_id);
        if info.status & status::MORE_RESULTS_EXISTS != 0 && self.expect == Expect::Results {
            self.state = State::Start;
        } else {
            self.state = State::Done;
            self.outcome = Outcome::Ok;
        }
    }

    fn finish_err(&mut self, p: &[u8]) {
        let code = if p.len() >= 3 {
            u16::from_le_bytes([p[1], p[2]])
        } else {
            0
        };
        self.state = State::Done;
        self.outcome = Outcome::Err(code);
    }

    fn eof_or_ok(&self, p: &[u8]) -> Result<OkInfo, ResponseError> {
        let parsed = if self.deprecate_eof { parse_ok(p) } else { parse_eof(p) };
        parsed.ok_or(ResponseError("truncated EOF/OK packet"))
    }

    /// A packet that was seen whole.
    fn on_packet(&mut self, p: &[u8]) -> Result<(), ResponseError> {
        let first = p[0];
        if first == 0xff {
            self.finish_err(p);
            return Ok(());
        }
        match self.state {
            State::Start => match (self.expect, first) {
                (Expect::Single, 0x00) => self.finish_ok(parse_ok(p).ok_or(ResponseError("truncated OK packet"))?),
                (Expect::Single, 0xfe) => {
                    let info = self.eof_or_ok(p)?;
                    self.finish_ok(info)
                }
                (Expect::Single, _) => {
                    // COM_STATISTICS answers with a bare string.
                    self.state = State::Done;
                    self.outcome = Outcome::Ok;
                }
                (Expect::Prepare, 0x00) => {
                    if p.len() < 12 {
                        return Err(ResponseError("truncated prepare-OK packet"));
                    }
                    self.stmt_id = Some(u32::from_le_bytes([p[1], p[2], p[3], p[4]]));
                    let columns = u16::from_le_bytes([p[5], p[6]]);
                    let params = u16::from_le_bytes([p[7], p[8]]);
                    self.enter_params(params, columns);
                }
                (Expect::Prepare, _) => return Err(ResponseError("unexpected packet in prepare response")),
                (_, 0x00) => {
                    self.ended_with_result_set = false;
                    self.finish_ok(parse_ok(p).ok_or(ResponseError("truncated OK packet"))?)
                }
                (_, 0xfb) => {
                    self.state = State::Done;
                    self.outcome = Outcome::LocalInfile;
                }
                (_, _) => {
                    let (n, _) = lenenc::read_int(p).ok_or(ResponseError("bad column count"))?;
                    if n == 0 {
                        return Err(ResponseError("result set with zero columns"));
                    }
                    self.state = State::Columns(n);
                    self.rows = 0;
                    self.ended_with_result_set = true;
                }
            },
            State::ColumnsEof => {
                if first != 0xfe {
                    return Err(ResponseError("expected EOF after column definitions"));
                }
                let info = parse_eof(p).ok_or(ResponseError("truncated EOF packet"))?;
                if info.status & status::CURSOR_EXISTS != 0 {
                    self.finish_ok(info);
                } else {
                    self.state = State::Rows;
                }
            }
            State::Rows => {
                // 0xFE with a short length: end of rows.
                let info = self.eof_or_ok(p)?;
                self.finish_ok(info);
            }
            State::PrepareParamsEof(columns) => {
                if first != 0xfe {
                    return Err(ResponseError("expected EOF after parameter definitions"));
                }
                self.enter_columns(columns);
            }
            State::PrepareColumnsEof => {
                if first != 0xfe {
                    return Err(ResponseError("expected EOF after column definitions"));
                }
                self.finish_prepare();
            }
            State::Columns(_) | State::PrepareParams(..) | State::PrepareColumns(_) | State::Done => {}
        }
        Ok(())
    }

    /// A packet the scanner only needs to count (column definitions, rows).
    fn on_boring_packet(&mut self, _first: u8, _head: &[u8]) -> Result<(), ResponseError> {
        match self.state {
            State::Columns(n) => {
                self.state = if n > 1 {
                    State::Columns(n - 1)
                } else if self.deprecate_eof {
                    State::Rows
                } else {
                    State::ColumnsEof
                };
            }
            State::PrepareParams(n, c) => {
                if n > 1 {
                    self.state = State::PrepareParams(n - 1, c);
                } else if self.deprecate_eof {
                    self.enter_columns(c);
                } else {
                    self.state = State::PrepareParamsEof(c);
                }
            }
            State::PrepareColumns(n) => {
                if n > 1 {
                    self.state = State::PrepareColumns(n - 1);
                } else if self.deprecate_eof {
                    self.finish_prepare();
                } else {
                    self.state = State::PrepareColumnsEof;
                }
            }
            State::Rows => self.rows += 1,
            _ => {}
        }
        Ok(())
    }

    fn enter_params(&mut self, params: u16, columns: u16) {
        if params == 0 {
            self.enter_columns(columns);
        } else {
            self.state = State::PrepareParams(params, columns);
        }
    }

    fn enter_columns(&mut self, columns: u16) {
        if columns == 0 {
            self.finish_prepare();
        } else {
            self.state = State::PrepareColumns(columns);
        }
    }

    fn finish_prepare(&mut self) {
        self.state = State::Done;
        self.outcome = Outcome::Ok;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::write_packets;
    use crate::protocol::errors::SqlError;
    use crate::protocol::packets::{eof_payload, err_payload, ok_payload};
    use bytes::BytesMut;

    fn ok(status: u16, last_id: u64) -> Vec<u8> {
        let mut b = BytesMut::new();
        ok_payload(&mut b, 1, last_id, status, 0);
        b.to_vec()
    }
    fn eof(status: u16, deprecate: bool) -> Vec<u8> {
        let mut b = BytesMut::new();
        eof_payload(&mut b, status, deprecate);
        b.to_vec()
    }
    fn err() -> Vec<u8> {
        let mut b = BytesMut::new();
        err_payload(&mut b, &SqlError::internal("x"));
        b.to_vec()
    }
    const COLDEF: &[u8] = b"\x03def\x00\x00\x00\x01a\x00\x0c\x21\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00";

    fn wire(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let mut seq = 1;
        for p in packets {
            write_packets(&mut out, &mut seq, p);
        }
        out.to_vec()
    }

    /// Feeds `bytes` in chunks of `chunk`, keeping unforwarded bytes like the relay does; returns forwarded count.
    fn feed(s: &mut ResponseScanner, bytes: &[u8], chunk: usize) -> usize {
        let mut pending: Vec<u8> = Vec::new();
        let mut forwarded = 0;
        for c in bytes.chunks(chunk) {
            pending.extend_from_slice(c);
            let n = s.scan(&pending).unwrap();
            forwarded += n;
            pending.drain(..n);
        }
        assert!(pending.is_empty() || s.is_done());
        forwarded
    }

    fn resultset(deprecate: bool, rows: &[Vec<u8>], end_status: u16) -> Vec<Vec<u8>> {
        let mut p = vec![vec![2u8], COLDEF.to_vec(), COLDEF.to_vec()];
        if !deprecate {
            p.push(eof(0x0002, false));
        }
        p.extend(rows.iter().cloned());
        p.push(eof(end_status, deprecate));
        p
    }

    #[test]
    fn result_sets_in_every_chunking() {
        for deprecate in [false, true] {
            let rows = vec![
                b"\x01a\x01b".to_vec(),
                b"\xfb\x02cd".to_vec(),
                b"\xfc\x03\x00abc\x00".to_vec(),
            ];
            let bytes = wire(&resultset(deprecate, &rows, 0x0003));
            for chunk in [1, 2, 3, 5, 7, 64, 4096] {
                let mut s = ResponseScanner::new(Expect::Results, deprecate);
                assert_eq!(feed(&mut s, &bytes, chunk), bytes.len());
                assert!(s.is_done(), "deprecate={deprecate} chunk={chunk}");
                assert_eq!(s.outcome(), &Outcome::Ok);
                assert_eq!(s.info.status, 0x0003);
            }
        }
    }

    #[test]
    fn multiple_results_and_errors() {
        let mut packets = vec![ok(0x0008 | 0x0002, 5)];
        packets.extend(resultset(true, &[b"\x01a\x01b".to_vec()], 0x0008 | 0x0002));
        packets.push(ok(0x0002, 9));
        let bytes = wire(&packets);
        let mut s = ResponseScanner::new(Expect::Results, true);
        assert_eq!(feed(&mut s, &bytes, 3), bytes.len());
        assert_eq!((s.outcome().clone(), s.last_insert_id), (Outcome::Ok, 9));

        let bytes = wire(&[vec![1u8], COLDEF.to_vec(), b"\x01a".to_vec(), err()]);
        let mut s = ResponseScanner::new(Expect::Results, true);
        feed(&mut s, &bytes, 4096);
        assert_eq!(s.outcome(), &Outcome::Err(1105));
    }

    #[test]
    fn huge_rows_are_skipped_across_reads() {
        let big = vec![0x41u8; MAX_PACKET_PAYLOAD + 100];
        let mut row = vec![0xfe];
        row.extend_from_slice(&(big.len() as u64).to_le_bytes());
        row.extend_from_slice(&big);
        let bytes = wire(&resultset(true, &[row], 0x0002));
        let mut s = ResponseScanner::new(Expect::Results, true);
        assert_eq!(feed(&mut s, &bytes, 65536), bytes.len());
        assert!(s.is_done());
    }

    #[test]
    fn prepare_responses() {
        for deprecate in [false, true] {
            let mut head = vec![0u8];
            head.extend_from_slice(&7u32.to_le_bytes());
            head.extend_from_slice(&1u16.to_le_bytes()); // columns
            head.extend_from_slice(&2u16.to_le_bytes()); // params
            head.extend_from_slice(&[0, 0, 0]);
            let mut p = vec![head, COLDEF.to_vec(), COLDEF.to_vec()];
            if !deprecate {
                p.push(eof(2, false));
            }
            p.push(COLDEF.to_vec());
            if !deprecate {
                p.push(eof(2, false));
            }
            let bytes = wire(&p);
            let mut s = ResponseScanner::new(Expect::Prepare, deprecate);
            assert_eq!(feed(&mut s, &bytes, 1), bytes.len());
            assert!(s.is_done() && s.stmt_id == Some(7));
        }
    }

    #[test]
    fn local_infile_and_single() {
        let mut s = ResponseScanner::new(Expect::Results, true);
        let bytes = wire(&[b"\xfb/tmp/x".to_vec()]);
        feed(&mut s, &bytes, 4096);
        assert_eq!(s.outcome(), &Outcome::LocalInfile);
        s.resume_after_infile();
        let bytes = wire(&[ok(2, 0)]);
        feed(&mut s, &bytes, 4096);
        assert_eq!(s.outcome(), &Outcome::Ok);

        let mut s = ResponseScanner::new(Expect::Single, true);
        let bytes = wire(&[b"Uptime: 5  Threads: 1".to_vec()]);
        assert_eq!(feed(&mut s, &bytes, 4096), bytes.len());
        assert!(s.is_done());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut s = ResponseScanner::new(Expect::Results, true);
        assert!(s.scan(&[0, 0, 0, 1]).is_err());
        let mut s = ResponseScanner::new(Expect::Prepare, false);
        assert!(s.scan(&[2, 0, 0, 1, 0, 1]).is_err());
    }
}
