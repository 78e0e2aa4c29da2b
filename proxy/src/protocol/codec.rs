//! Packet framing: `tokio_util` codec for the 4-byte packet header (3-byte little-endian length, sequence id) and
//! reassembly of payloads that span several packets (16 MiB and more).
//!
//! Decoding a single-packet message is zero-copy (`split_to` + `freeze`); only multi-packet payloads are copied
//! into one buffer. The codec enforces a maximum logical payload size so a client cannot make the proxy buffer
//! without bound.

use super::MAX_PACKET_PAYLOAD;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// One logical message: a payload (possibly reassembled from several packets) and its sequence ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sequence id of the first packet.
    pub seq: u8,
    /// Sequence id of the last packet (equal to `seq` for single-packet messages).
    pub last_seq: u8,
    /// The whole payload.
    pub payload: Bytes,
}

/// Errors that end a connection: the peer broke framing.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A logical payload larger than the configured maximum.
    #[error("packet of {size} bytes is larger than the {max} bytes allowed (max_packet_size)")]
    TooLarge {
        /// Size seen so far.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// Continuation packets whose sequence ids do not follow each other.
    #[error("packets out of order: expected sequence id {expected}, got {got}")]
    OutOfOrder {
        /// Expected id.
        expected: u8,
        /// Received id.
        got: u8,
    },
    /// I/O error from the socket.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Decoder of logical messages with a size cap.
#[derive(Debug, Clone, Copy)]
pub struct PacketCodec {
    /// Largest logical payload accepted.
    pub max_payload: usize,
}

fn header(buf: &[u8]) -> (usize, u8) {
    (
        buf[0] as usize | (buf[1] as usize) << 8 | (buf[2] as usize) << 16,
        buf[3],
    )
}

impl Decoder for PacketCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let (len, seq) = header(src);
        if len > self.max_payload {
            return Err(CodecError::TooLarge {
                size: len,
                max: self.max_payload,
            });
        }
        if len < MAX_PACKET_PAYLOAD {
            if src.len() < 4 + len {
                src.reserve(4 + len - src.len());
                return Ok(None);
            }
            src.advance(4);
            let payload = src.split_to(len).freeze();
            return Ok(Some(Message {
                seq,
                last_seq: seq,
                payload,
            }));
        }
        // Multi-packet payload: make sure every part is buffered before consuming anything.
        let mut off = 0usize;
        let mut total = 0usize;
        let mut expected = seq;
        loop {
            if src.len() < off + 4 {
                return Ok(None);
            }
            let (plen, pseq) = header(&src[off..]);
            if pseq != expected {
                return Err(CodecError::OutOfOrder { expected, got: pseq });
            }
            total += plen;
            if total > self.max_payload {
                return Err(CodecError::TooLarge {
                    size: total,
                    max: self.max_payload,
                });
            }
            if src.len() < off + 4 + plen {
                src.reserve(off + 4 + plen - src.len());
                return Ok(None);
            }
            off += 4 + plen;
            if plen < MAX_PACKET_PAYLOAD {
                break;
            }
            expected = expected.wrapping_add(1);
        }
        let mut payload = BytesMut::with_capacity(total);
        let mut last_seq;
        loop {
            let (plen, pseq) = header(src);
            src.advance(4);
            payload.extend_from_slice(&src[..plen]);
            src.advance(plen);
            last_seq = pseq;
            if plen < MAX_PACKET_PAYLOAD {
                break;
            }
        }
        Ok(Some(Message {
            seq,
            last_seq,
            payload: payload.freeze(),
        }))
    }
}

/// Appends `payload` to `out` as one or more packets starting at sequence id `*seq`, advancing `*seq` past the
/// last packet written. A payload whose length is a multiple of 16 MiB - 1 ends with an empty packet, as the
/// protocol requires.
pub fn write_packets(out: &mut BytesMut, seq: &mut u8, payload: &[u8]) {
    out.reserve(payload.len() + 4 * (1 + payload.len() / MAX_PACKET_PAYLOAD));
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PACKET_PAYLOAD);
        out.put_uint_le(n as u64, 3);
        out.put_u8(*seq);
        out.put_slice(&rest[..n]);
        *seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PACKET_PAYLOAD {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> PacketCodec {
        PacketCodec { max_payload: 64 << 20 }
    }

    #[test]
    fn single_packet_round_trip_and_partial_input() {
        let mut out = BytesMut::new();
        let mut seq = 0;
        write_packets(&mut out, &mut seq, b"\x03select 1");
        assert_eq!(seq, 1);
        let mut c = codec();
        let mut partial = BytesMut::from(&out[..6]);
        assert!(c.decode(&mut partial).unwrap().is_none());
        let m = c.decode(&mut out).unwrap().unwrap();
        assert_eq!((m.seq, &m.payload[..]), (0, &b"\x03select 1"[..]));
        assert!(out.is_empty());
    }

    #[test]
    fn multi_packet_payloads_reassemble() {
        for size in [
            MAX_PACKET_PAYLOAD - 1,
            MAX_PACKET_PAYLOAD,
            MAX_PACKET_PAYLOAD + 10,
            2 * MAX_PACKET_PAYLOAD,
        ] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut out = BytesMut::new();
            let mut seq = 0;
            write_packets(&mut out, &mut seq, &payload);
            let packets = size / MAX_PACKET_PAYLOAD + 1;
            assert_eq!(seq as usize, packets, "size {size}");
            out.extend_from_slice(b"\x01\x00\x00\x00\x0e"); // a following COM_PING
            let mut c = codec();
            let m = c.decode(&mut out).unwrap().unwrap();
            assert_eq!(m.payload.len(), size);
            assert!(m.payload[..] == payload[..]);
            assert_eq!(m.last_seq as usize, packets - 1);
            let ping = c.decode(&mut out).unwrap().unwrap();
            assert_eq!(&ping.payload[..], b"\x0e");
        }
    }

    #[test]
    fn oversized_and_out_of_order_are_errors() {
        let mut c = PacketCodec { max_payload: 10 };
        let mut b = BytesMut::from(&b"\x0b\x00\x00\x00hello world"[..]);
        assert!(matches!(c.decode(&mut b), Err(CodecError::TooLarge { .. })));
        let mut c = codec();
        let mut b = BytesMut::from(&b"\xff\xff\xff\x00"[..]);
        b.extend_from_slice(&vec![0u8; MAX_PACKET_PAYLOAD]);
        b.extend_from_slice(b"\x00\x00\x00\x05");
        assert!(matches!(
            c.decode(&mut b),
            Err(CodecError::OutOfOrder { expected: 1, got: 5 })
        ));
    }
}
