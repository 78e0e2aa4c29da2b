//! Packets the proxy writes itself (OK, EOF, ERR) and parsing of the OK/EOF packets it reads from backends.
//!
//! `mysql_common` has no OK-packet writer, so OK/EOF are written here; ERR uses the same layout as
//! `mysql_common::packets::ServerError`.

use super::errors::SqlError;
use super::lenenc;
use bytes::{BufMut, BytesMut};

/// Payload of an OK packet (header 0x00).
pub fn ok_payload(out: &mut BytesMut, affected_rows: u64, last_insert_id: u64, status: u16, warnings: u16) {
    out.put_u8(0x00);
    lenenc::put_int(out, affected_rows);
    lenenc::put_int(out, last_insert_id);
    out.put_u16_le(status);
    out.put_u16_le(warnings);
}

/// Payload that ends a result set or answers COM_SET_OPTION: an OK packet with header 0xFE when the client
/// negotiated CLIENT_DEPRECATE_EOF, else a classic EOF packet.
pub fn eof_payload(out: &mut BytesMut, status: u16, deprecate_eof: bool) {
    out.put_u8(0xfe);
    if deprecate_eof {
        lenenc::put_int(out, 0);
        lenenc::put_int(out, 0);
        out.put_u16_le(status);
        out.put_u16_le(0);
    } else {
        out.put_u16_le(0);
        out.put_u16_le(status);
    }
}

/// Payload of an ERR packet (protocol 4.1 layout with SQLSTATE).
pub fn err_payload(out: &mut BytesMut, e: &SqlError) {
    out.put_u8(0xff);
    out.put_u16_le(e.code);
    out.put_u8(b'#');
    let state = e.state.as_bytes();
    out.put_slice(&state[..5.min(state.len())]);
    out.put_slice(e.message.as_bytes());
}

/// Payload of an ERR packet sent instead of the greeting: the client does not know the server's capabilities
/// yet, so the pre-4.1 layout (no `#` + SQLSTATE) is used, as MySQL and MariaDB do.
pub fn err_payload_before_greeting(out: &mut BytesMut, e: &SqlError) {
    out.put_u8(0xff);
    out.put_u16_le(e.code);
    out.put_slice(e.message.as_bytes());
}

/// The fields of an OK (or EOF) packet the proxy tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkInfo {
    /// Rows affected.
    pub affected_rows: u64,
    /// Last insert id (0 when the statement generated none).
    pub last_insert_id: u64,
    /// Server status flags.
    pub status: u16,
    /// Warning count.
    pub warnings: u16,
}

/// Parses an OK packet payload (header 0x00 or 0xFE).
pub fn parse_ok(p: &[u8]) -> Option<OkInfo> {
    let mut i = 1;
    let (affected_rows, n) = lenenc::read_int(p.get(i..)?)?;
    i += n;
    let (last_insert_id, n) = lenenc::read_int(p.get(i..)?)?;
    i += n;
    let b = p.get(i..i + 4)?;
    Some(OkInfo {
        affected_rows,
        last_insert_id,
        status: u16::from_le_bytes([b[0], b[1]]),
        warnings: u16::from_le_bytes([b[2], b[3]]),
    })
}

/// Parses a classic EOF packet payload (0xFE, warnings, status).
pub fn parse_eof(p: &[u8]) -> Option<OkInfo> {
    let b = p.get(1..5)?;
    Some(OkInfo {
        warnings: u16::from_le_bytes([b[0], b[1]]),
        status: u16::from_le_bytes([b[2], b[3]]),
        ..OkInfo::default()
    })
}

/// Parses an ERR packet payload into code, SQLSTATE and message.
pub fn parse_err(p: &[u8]) -> Option<(u16, String, String)> {
    let code = u16::from_le_bytes([*p.get(1)?, *p.get(2)?]);
    let rest = p.get(3..)?;
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        Some((
            code,
            String::from_utf8_lossy(&rest[1..6]).into_owned(),
            String::from_utf8_lossy(&rest[6..]).into_owned(),
        ))
    } else {
        Some((code, "HY000".to_string(), String::from_utf8_lossy(rest).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_round_trip() {
        let mut b = BytesMut::new();
        ok_payload(&mut b, 3, 70000, 0x0002, 1);
        assert_eq!(
            parse_ok(&b),
            Some(OkInfo {
                affected_rows: 3,
                last_insert_id: 70000,
                status: 2,
                warnings: 1
            })
        );
        b.clear();
        eof_payload(&mut b, 0x0003, false);
        assert_eq!(parse_eof(&b).unwrap().status, 3);
        b.clear();
        eof_payload(&mut b, 0x0003, true);
        assert_eq!(parse_ok(&b).unwrap().status, 3);
        assert_eq!(parse_ok(&[0x00, 0xfc]), None);
    }

    #[test]
    fn err_round_trip() {
        let mut b = BytesMut::new();
        err_payload(&mut b, &SqlError::unknown_database("x"));
        let (code, state, msg) = parse_err(&b).unwrap();
        assert_eq!((code, state.as_str()), (1049, "42000"));
        assert!(msg.starts_with("shardgate: Unknown database 'x'"));
    }
}
