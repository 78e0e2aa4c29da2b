//! The binary protocol of prepared statements where the proxy must look inside: decoding COM_STMT_EXECUTE
//! parameters (to route by them), rewriting the statement id, and encoding merged rows as binary result rows.

use super::lenenc;
use bytes::{BufMut, Bytes, BytesMut};
use shardgate_router::merge::{ColumnInfo, Row};
use shardgate_router::SqlValue;
use std::borrow::Cow;

/// Offset of the null bitmap in a COM_STMT_EXECUTE payload (command, id, flags, iteration count).
const PARAMS_AT: usize = 10;

/// The parameters of one COM_STMT_EXECUTE.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteParams {
    /// Decoded values, in placeholder order.
    pub values: Vec<SqlValue<'static>>,
    /// Parameter types sent with this execution (`new_params_bound_flag` = 1), two bytes each.
    pub types: Option<Vec<u8>>,
}

fn take<'a>(p: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let s = p
        .get(*at..*at + n)
        .ok_or_else(|| "COM_STMT_EXECUTE parameters are truncated".to_string())?;
    *at += n;
    Ok(s)
}

/// Decodes the parameters of a COM_STMT_EXECUTE for a statement with `n` placeholders. `known_types` are the
/// types of an earlier execution (clients send them only when they change). `long_data` holds values sent with
/// COM_STMT_SEND_LONG_DATA.
pub fn decode_params(
    payload: &[u8],
    n: usize,
    known_types: Option<&[u8]>,
    long_data: &[Option<Vec<u8>>],
) -> Result<ExecuteParams, String> {
    if n == 0 {
        return Ok(ExecuteParams {
            values: Vec::new(),
            types: None,
        });
    }
    let mut at = PARAMS_AT;
    let bitmap = take(payload, &mut at, n.div_ceil(8))?.to_vec();
    let bound = take(payload, &mut at, 1)?[0];
    let sent = if bound == 1 {
        Some(take(payload, &mut at, 2 * n)?.to_vec())
    } else {
        None
    };
    let types: &[u8] = match (&sent, known_types) {
        (Some(t), _) => t,
        (None, Some(t)) if t.len() == 2 * n => t,
        _ => return Err("COM_STMT_EXECUTE without parameter types for a first execution".into()),
    };
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            values.push(SqlValue::Null);
            continue;
        }
        if let Some(Some(d)) = long_data.get(i) {
            values.push(SqlValue::Bytes(Cow::Owned(d.clone())));
            continue;
        }
        let (ty, unsigned) = (types[2 * i], types[2 * i + 1] & 0x80 != 0);
        let int = |b: &[u8]| -> SqlValue<'static> {
            let mut buf = [0u8; 8];
            buf[..b.len()].copy_from_slice(b);
            let neg = !unsigned && b.last().is_some_and(|x| x & 0x80 != 0);
            if neg {
                for x in buf.iter_mut().skip(b.len()) {
                    *x = 0xff;
                }
            }
            let raw = u64::from_le_bytes(buf);
            if unsigned && raw > i64::MAX as u64 {
                SqlValue::UInt(raw)
            } else {
                SqlValue::Int(raw as i64)
            }
        };
        let v = match ty {
            0x06 => SqlValue::Null,
            0x01 => int(take(payload, &mut at, 1)?),
            0x02 | 0x0d => int(take(payload, &mut at, 2)?),
            0x03 | 0x09 => int(take(payload, &mut at, 4)?),
            0x08 => int(take(payload, &mut at, 8)?),
            0x04 => {
                let b = take(payload, &mut at, 4)?;
                SqlValue::Float(f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
            }
            0x05 => {
                let b = take(payload, &mut at, 8)?;
                SqlValue::Float(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            0x07 | 0x0a | 0x0c => {
                let len = take(payload, &mut at, 1)?[0] as usize;
                SqlValue::Bytes(Cow::Owned(
                    datetime_text(take(payload, &mut at, len)?, ty == 0x0a).into_bytes(),
                ))
            }
            0x0b => {
                let len = take(payload, &mut at, 1)?[0] as usize;
                SqlValue::Bytes(Cow::Owned(time_text(take(payload, &mut at, len)?).into_bytes()))
            }
            _ => {
                let (len, used) =
                    lenenc::read_int(&payload[at.min(payload.len())..]).ok_or("malformed parameter length")?;
                at += used;
                let b = take(
                    payload,
                    &mut at,
                    usize::try_from(len).map_err(|_| "parameter too long")?,
                )?;
                if matches!(ty, 0x00 | 0xf6) {
                    SqlValue::Decimal(Cow::Owned(String::from_utf8_lossy(b).into_owned()))
                } else {
                    SqlValue::Bytes(Cow::Owned(b.to_vec()))
                }
            }
        };
        values.push(v);
    }
    Ok(ExecuteParams { values, types: sent })
}

fn datetime_text(b: &[u8], date_only: bool) -> String {
    let g = |i: usize| b.get(i).copied().unwrap_or(0);
    let year = u16::from_le_bytes([g(0), g(1)]);
    let mut s = format!("{year:04}-{:02}-{:02}", g(2), g(3));
    if !date_only {
        s.push_str(&format!(" {:02}:{:02}:{:02}", g(4), g(5), g(6)));
        if b.len() >= 11 {
            let micro = u32::from_le_bytes([g(7), g(8), g(9), g(10)]);
            s.push_str(&format!(".{micro:06}"));
        }
    }
    s
}

fn time_text(b: &[u8]) -> String {
    let g = |i: usize| b.get(i).copied().unwrap_or(0);
    if b.is_empty() {
        return "00:00:00".into();
    }
    let days = u32::from_le_bytes([g(1), g(2), g(3), g(4)]);
    let hours = days * 24 + u32::from(g(5));
    let mut s = format!("{}{hours:02}:{:02}:{:02}", if g(0) == 1 { "-" } else { "" }, g(6), g(7));
    if b.len() >= 12 {
        let micro = u32::from_le_bytes([g(8), g(9), g(10), g(11)]);
        s.push_str(&format!(".{micro:06}"));
    }
    s
}

/// The client's COM_STMT_EXECUTE re-addressed to backend statement `backend_id`, carrying the parameter types
/// (the backend statement may never have received them: it can be another connection's than the last execution).
pub fn readdress_execute(payload: &[u8], backend_id: u32, n: usize, types: Option<&[u8]>) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 2 * n + 1);
    out.put_u8(payload[0]);
    out.put_u32_le(backend_id);
    out.put_slice(&payload[5..PARAMS_AT.min(payload.len())]);
    if n == 0 || payload.len() <= PARAMS_AT {
        out.put_slice(payload.get(PARAMS_AT..).unwrap_or(&[]));
        return out.freeze();
    }
    let bitmap_end = PARAMS_AT + n.div_ceil(8);
    let Some(bitmap) = payload.get(PARAMS_AT..bitmap_end) else {
        out.put_slice(&payload[PARAMS_AT..]);
        return out.freeze();
    };
    out.put_slice(bitmap);
    match (payload.get(bitmap_end), types) {
        (Some(0), Some(t)) => {
            out.put_u8(1);
            out.put_slice(t);
            out.put_slice(&payload[bitmap_end + 1..]);
        }
        _ => out.put_slice(&payload[bitmap_end..]),
    }
    out.freeze()
}

/// Appends one row in binary protocol form, converting the text values by column type.
pub fn put_binary_row(out: &mut BytesMut, columns: &[ColumnInfo], row: &Row) {
    out.put_u8(0x00);
    let bitmap_at = out.len();
    let bitmap_len = (columns.len() + 7 + 2) / 8;
    out.put_bytes(0, bitmap_len);
    for (i, c) in columns.iter().enumerate() {
        let Some(Some(v)) = row.get(i) else {
            out[bitmap_at + (i + 2) / 8] |= 1 << ((i + 2) % 8);
            continue;
        };
        let text = std::str::from_utf8(v).unwrap_or("");
        let unsigned = c.flags & 0x20 != 0;
        let int = |out: &mut BytesMut, width: usize| {
            let bits = if unsigned {
                text.parse::<u64>().unwrap_or(0)
            } else {
                text.parse::<i64>().unwrap_or(0) as u64
            };
            out.put_slice(&bits.to_le_bytes()[..width]);
        };
        match c.column_type {
            0x01 => int(out, 1),
            0x02 | 0x0d => int(out, 2),
            0x03 | 0x09 => int(out, 4),
            0x08 => int(out, 8),
            0x04 => out.put_f32_le(text.parse().unwrap_or(0.0)),
            0x05 => out.put_f64_le(text.parse().unwrap_or(0.0)),
            0x07 | 0x0a | 0x0c => put_datetime(out, text),
            0x0b => put_time(out, text),
            _ => lenenc::put_str(out, v),
        }
    }
}

fn nums(s: &str) -> Vec<u32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

fn micros(s: &str) -> u32 {
    match s.split_once('.') {
        Some((_, f)) => {
            let f: String = f
                .chars()
                .take_while(char::is_ascii_digit)
                .chain("000000".chars())
                .take(6)
                .collect();
            f.parse().unwrap_or(0)
        }
        None => 0,
    }
}

fn put_datetime(out: &mut BytesMut, text: &str) {
    let n = nums(text.split('.').next().unwrap_or(""));
    let g = |i: usize| n.get(i).copied().unwrap_or(0);
    let micro = micros(text);
    let len: u8 = if micro != 0 {
        11
    } else if n.len() > 3 && (g(3) | g(4) | g(5)) != 0 {
        7
    } else if (g(0) | g(1) | g(2)) != 0 {
        4
    } else {
        0
    };
    out.put_u8(len);
    if len >= 4 {
        out.put_u16_le(g(0) as u16);
        out.put_u8(g(1) as u8);
        out.put_u8(g(2) as u8);
    }
    if len >= 7 {
        out.put_u8(g(3) as u8);
        out.put_u8(g(4) as u8);
        out.put_u8(g(5) as u8);
    }
    if len == 11 {
        out.put_u32_le(micro);
    }
}

fn put_time(out: &mut BytesMut, text: &str) {
    let neg = text.starts_with('-');
    let n = nums(text.split('.').next().unwrap_or(""));
    let g = |i: usize| n.get(i).copied().unwrap_or(0);
    let micro = micros(text);
    let (hours, minutes, seconds) = (g(0), g(1), g(2));
    if hours == 0 && minutes == 0 && seconds == 0 && micro == 0 {
        out.put_u8(0);
        return;
    }
    out.put_u8(if micro != 0 { 12 } else { 8 });
    out.put_u8(u8::from(neg));
    out.put_u32_le(hours / 24);
    out.put_u8((hours % 24) as u8);
    out.put_u8(minutes as u8);
    out.put_u8(seconds as u8);
    if micro != 0 {
        out.put_u32_le(micro);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execute(types: &[u8], values: &[u8], nulls: u8) -> Vec<u8> {
        let mut p = vec![0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0, nulls, 1];
        p.extend_from_slice(types);
        p.extend_from_slice(values);
        p
    }

    #[test]
    fn decodes_parameters() {
        let mut vals = vec![];
        vals.extend_from_slice(&(-5i64).to_le_bytes());
        vals.extend_from_slice(&[3, b'a', b'b', b'c']);
        vals.extend_from_slice(&[4, 0xe8, 0x07, 1, 2]);
        let p = execute(&[0x08, 0, 0xfd, 0, 0x06, 0, 0x0a, 0], &vals, 0b0100);
        let got = decode_params(&p, 4, None, &[]).unwrap();
        assert_eq!(
            got.values,
            vec![
                SqlValue::Int(-5),
                SqlValue::Bytes(Cow::Owned(b"abc".to_vec())),
                SqlValue::Null,
                SqlValue::Bytes(Cow::Owned(b"2024-01-02".to_vec())),
            ]
        );
        assert_eq!(got.types.as_deref(), Some(&[0x08, 0, 0xfd, 0, 0x06, 0, 0x0a, 0][..]));
        let big = execute(&[0x08, 0x80], &u64::MAX.to_le_bytes(), 0);
        assert_eq!(
            decode_params(&big, 1, None, &[]).unwrap().values,
            vec![SqlValue::UInt(u64::MAX)]
        );
        // Without types and none known: an error, not a guess.
        let mut no_types = vec![0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        no_types.extend_from_slice(&5i64.to_le_bytes());
        assert!(decode_params(&no_types, 1, None, &[]).is_err());
        assert_eq!(
            decode_params(&no_types, 1, Some(&[0x08, 0]), &[]).unwrap().values,
            vec![SqlValue::Int(5)]
        );
        assert!(decode_params(&p[..14], 4, None, &[]).is_err(), "truncated");
    }

    #[test]
    fn readdresses_and_adds_types() {
        let mut p = vec![0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        p.extend_from_slice(&5i64.to_le_bytes());
        let r = readdress_execute(&p, 77, 1, Some(&[0x08, 0]));
        assert_eq!(&r[1..5], &77u32.to_le_bytes());
        assert_eq!(&r[10..14], &[0, 1, 0x08, 0]);
        assert_eq!(&r[14..], &5i64.to_le_bytes());
    }

    #[test]
    fn binary_rows_by_type() {
        let col = |t: u8, flags: u16| ColumnInfo {
            column_type: t,
            flags,
            collation: 63,
            decimals: 0,
        };
        let cols = [col(0x03, 0), col(0x0c, 0), col(0xfd, 0), col(0x0b, 0), col(0x08, 0x20)];
        let row: Row = vec![
            Some(b"-2".to_vec()),
            Some(b"2024-05-06 07:08:09".to_vec()),
            None,
            Some(b"-25:00:01".to_vec()),
            Some(b"18446744073709551615".to_vec()),
        ];
        let mut b = BytesMut::new();
        put_binary_row(&mut b, &cols, &row);
        let mut want = vec![0x00, 0b0001_0000];
        want.extend_from_slice(&(-2i32).to_le_bytes());
        want.extend_from_slice(&[7, 0xe8, 0x07, 5, 6, 7, 8, 9]);
        want.extend_from_slice(&[8, 1, 1, 0, 0, 0, 1, 0, 1]);
        want.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(&b[..], &want[..]);
    }
}
