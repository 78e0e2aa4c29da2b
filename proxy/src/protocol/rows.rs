//! Text-protocol rows and column definitions for results the proxy builds from several shards: decoding rows and
//! the column fields the merge needs, and encoding the merged result set.

use super::codec::write_packets;
use super::lenenc;
use super::packets::eof_payload;
use bytes::{Bytes, BytesMut};
use shardgate_router::merge::{ColumnInfo, Row};

/// Decodes a text-protocol row of `columns` values (lenenc strings, 0xFB for NULL).
pub fn parse_text_row(p: &[u8], columns: usize) -> Option<Row> {
    let mut row = Vec::with_capacity(columns);
    let mut i = 0;
    for _ in 0..columns {
        if *p.get(i)? == 0xfb {
            row.push(None);
            i += 1;
            continue;
        }
        let (len, n) = lenenc::read_int(p.get(i..)?)?;
        let start = i + n;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        row.push(Some(p.get(start..end)?.to_vec()));
        i = end;
    }
    (i == p.len()).then_some(row)
}

/// Offset of the fixed-length fields (after the 0x0C length byte) in a column definition payload.
fn fixed_fields(p: &[u8]) -> Option<usize> {
    let mut i = 0;
    for _ in 0..6 {
        let (len, n) = lenenc::read_int(p.get(i..)?)?;
        i += n + usize::try_from(len).ok()?;
    }
    let (_, n) = lenenc::read_int(p.get(i..)?)?;
    let at = i + n;
    (p.len() >= at + 10).then_some(at)
}

/// The fields of a column definition (protocol 4.1) the merge needs.
pub fn column_info(p: &[u8]) -> Option<ColumnInfo> {
    let at = fixed_fields(p)?;
    Some(ColumnInfo {
        collation: u16::from_le_bytes([p[at], p[at + 1]]),
        column_type: p[at + 6],
        flags: u16::from_le_bytes([p[at + 7], p[at + 8]]),
        decimals: p[at + 9],
    })
}

/// A copy of a column definition with another decimals count (and a display length grown to match), for AVG
/// columns computed from a shard-side SUM.
pub fn with_decimals(p: &Bytes, decimals: u8) -> Bytes {
    let Some(at) = fixed_fields(p) else {
        return p.clone();
    };
    let mut v = p.to_vec();
    let old = v[at + 9];
    let len = u32::from_le_bytes([v[at + 2], v[at + 3], v[at + 4], v[at + 5]]);
    let grown = len.saturating_add(u32::from(decimals.saturating_sub(old)));
    v[at + 2..at + 6].copy_from_slice(&grown.to_le_bytes());
    v[at + 9] = decimals;
    Bytes::from(v)
}

/// A copy of a column definition with another column name (the fifth length-encoded string).
pub fn with_name(p: &Bytes, name: &[u8]) -> Bytes {
    let mut i = 0;
    let mut spans = [(0usize, 0usize); 5];
    for span in spans.iter_mut() {
        let Some((len, n)) = p.get(i..).and_then(lenenc::read_int) else {
            return p.clone();
        };
        let end = i + n + len as usize;
        *span = (i, end);
        i = end;
    }
    if i > p.len() {
        return p.clone();
    }
    let (start, end) = spans[4];
    let mut out = BytesMut::with_capacity(p.len() + name.len());
    out.extend_from_slice(&p[..start]);
    lenenc::put_str(&mut out, name);
    out.extend_from_slice(&p[end..]);
    out.freeze()
}

/// Writes a complete result set: column count, definitions, (EOF), one packet per row written by `put_row`, and the
/// end marker with `status` and `warnings`.
#[allow(clippy::too_many_arguments)]
pub fn write_result(
    out: &mut BytesMut,
    seq: &mut u8,
    columns: &[Bytes],
    rows: &[Row],
    status: u16,
    warnings: u16,
    deprecate_eof: bool,
    mut put_row: impl FnMut(&mut BytesMut, &Row),
) {
    let mut b = BytesMut::with_capacity(256);
    lenenc::put_int(&mut b, columns.len() as u64);
    write_packets(out, seq, &b);
    for c in columns {
        write_packets(out, seq, c);
    }
    if !deprecate_eof {
        b.clear();
        eof_payload(&mut b, status, false);
        write_packets(out, seq, &b);
    }
    for row in rows {
        b.clear();
        put_row(&mut b, row);
        write_packets(out, seq, &b);
    }
    b.clear();
    eof_payload(&mut b, status, deprecate_eof);
    if warnings > 0 {
        // Both layouts end with the warning count before/after status; patch it in place.
        let n = b.len();
        if deprecate_eof {
            b[n - 2..].copy_from_slice(&warnings.to_le_bytes());
        } else {
            b[1..3].copy_from_slice(&warnings.to_le_bytes());
        }
    }
    write_packets(out, seq, &b);
}

/// Appends one row in text protocol form (lenenc strings, 0xFB for NULL), keeping the first `width` values.
pub fn put_text_row(out: &mut BytesMut, row: &Row, width: usize) {
    for v in row.iter().take(width) {
        match v {
            Some(s) => lenenc::put_str(out, s),
            None => out.extend_from_slice(&[0xfb]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_a_column_definition() {
        let mut p = BytesMut::new();
        for s in [&b"def"[..], b"app", b"", b"", b"AVG(i + 1)", b""] {
            lenenc::put_str(&mut p, s);
        }
        p.extend_from_slice(&[0x0c, 45, 0, 10, 0, 0, 0, 0xf6, 0, 0, 4, 0, 0]);
        let renamed = with_name(&p.clone().freeze(), b"avg(i+1)");
        let info = column_info(&renamed).unwrap();
        assert_eq!((info.column_type, info.decimals, info.collation), (0xf6, 4, 45));
        let mut want = BytesMut::new();
        for s in [&b"def"[..], b"app", b"", b"", b"avg(i+1)", b""] {
            lenenc::put_str(&mut want, s);
        }
        assert_eq!(&renamed[..want.len()], &want[..]);
    }

    #[test]
    fn rows_round_trip() {
        let mut b = BytesMut::new();
        lenenc::put_str(&mut b, b"abc");
        b.extend_from_slice(&[0xfb]);
        lenenc::put_str(&mut b, &[7u8; 300]);
        let row = parse_text_row(&b, 3).unwrap();
        assert_eq!(row, vec![Some(b"abc".to_vec()), None, Some(vec![7u8; 300])]);
        assert!(parse_text_row(&b, 2).is_none(), "trailing bytes");
        assert!(parse_text_row(&b[..5], 3).is_none(), "truncated");
    }
}
