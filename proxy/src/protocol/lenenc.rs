//! Length-encoded integers and strings.

use bytes::{BufMut, BytesMut};

/// Reads a length-encoded integer at the start of `buf`, returning it and the bytes it used.
/// `None` for a truncated integer or the NULL/ERR markers (0xFB, 0xFF).
pub fn read_int(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    match first {
        0..=0xfa => Some((first as u64, 1)),
        0xfc if buf.len() >= 3 => Some((u16::from_le_bytes([buf[1], buf[2]]) as u64, 3)),
        0xfd if buf.len() >= 4 => Some((u32::from_le_bytes([buf[1], buf[2], buf[3], 0]) as u64, 4)),
        0xfe if buf.len() >= 9 => Some((u64::from_le_bytes(buf[1..9].try_into().ok()?), 9)),
        _ => None,
    }
}

/// Appends a length-encoded integer.
pub fn put_int(out: &mut BytesMut, v: u64) {
    match v {
        0..=0xfa => out.put_u8(v as u8),
        0xfb..=0xffff => {
            out.put_u8(0xfc);
            out.put_u16_le(v as u16);
        }
        0x1_0000..=0xff_ffff => {
            out.put_u8(0xfd);
            out.put_uint_le(v, 3);
        }
        _ => {
            out.put_u8(0xfe);
            out.put_u64_le(v);
        }
    }
}

/// Appends a length-encoded string.
pub fn put_str(out: &mut BytesMut, s: &[u8]) {
    put_int(out, s.len() as u64);
    out.put_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for v in [0, 250, 251, 0xffff, 0x10000, 0xff_ffff, 0x100_0000, u64::MAX] {
            let mut b = BytesMut::new();
            put_int(&mut b, v);
            assert_eq!(read_int(&b), Some((v, b.len())));
        }
        assert_eq!(read_int(&[0xfb]), None);
        assert_eq!(read_int(&[0xfc, 1]), None);
    }
}
