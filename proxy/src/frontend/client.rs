//! One client socket: a read buffer decoded into logical messages with the size cap, and a write buffer for the
//! packets the proxy writes itself (relayed backend bytes bypass it and go straight to the socket).

use crate::protocol::codec::{write_packets, CodecError, Message, PacketCodec};
use crate::protocol::errors::SqlError;
use crate::protocol::packets::{eof_payload, err_payload, ok_payload};
use crate::stream::ClientStream;
use bytes::BytesMut;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// A client connection's transport and buffers.
pub struct ClientConn {
    /// The socket (plain or TLS).
    pub stream: ClientStream,
    /// Bytes read and not yet decoded.
    pub rbuf: BytesMut,
    /// Packets queued by the proxy, written by [`ClientConn::flush`].
    pub wbuf: BytesMut,
    /// Framing with the size cap.
    pub codec: PacketCodec,
    /// The client's address.
    pub peer: SocketAddr,
    /// Capabilities in effect (client ∩ server); 0 before the handshake response.
    pub caps: u32,
}

impl ClientConn {
    /// Wraps a freshly accepted socket.
    pub fn new(stream: ClientStream, peer: SocketAddr, max_payload: usize) -> ClientConn {
        ClientConn {
            stream,
            rbuf: BytesMut::with_capacity(8 * 1024),
            wbuf: BytesMut::with_capacity(1024),
            codec: PacketCodec { max_payload },
            peer,
            caps: 0,
        }
    }

    /// True when CLIENT_DEPRECATE_EOF is in effect.
    pub fn deprecate_eof(&self) -> bool {
        self.caps & mysql_common::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF.bits() != 0
    }

    /// Reads the next logical message; `Ok(None)` when the client closed the connection between messages.
    pub async fn read_message(&mut self) -> Result<Option<Message>, CodecError> {
        loop {
            if let Some(m) = self.codec.decode(&mut self.rbuf)? {
                if self.rbuf.is_empty() && self.rbuf.capacity() > 1 << 20 {
                    self.rbuf = BytesMut::with_capacity(8 * 1024);
                }
                return Ok(Some(m));
            }
            if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                self.rbuf.reserve(8 * 1024);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(CodecError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "client closed the connection in the middle of a packet",
                )));
            }
        }
    }

    /// Queues a payload as packets starting at `*seq`.
    pub fn queue(&mut self, seq: &mut u8, payload: &[u8]) {
        write_packets(&mut self.wbuf, seq, payload);
    }

    /// Queues an OK packet.
    pub fn queue_ok(&mut self, seq: &mut u8, affected_rows: u64, last_insert_id: u64, status: u16) {
        let mut p = BytesMut::with_capacity(16);
        ok_payload(&mut p, affected_rows, last_insert_id, status, 0);
        self.queue(seq, &p);
    }

    /// Queues an EOF (or 0xFE OK with CLIENT_DEPRECATE_EOF) packet.
    pub fn queue_eof(&mut self, seq: &mut u8, status: u16) {
        let mut p = BytesMut::with_capacity(16);
        eof_payload(&mut p, status, self.deprecate_eof());
        self.queue(seq, &p);
    }

    /// Queues an ERR packet.
    pub fn queue_err(&mut self, seq: &mut u8, e: &SqlError) {
        let mut p = BytesMut::with_capacity(16 + e.message.len());
        err_payload(&mut p, e);
        self.queue(seq, &p);
    }

    /// Writes queued packets.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        self.stream.flush().await
    }

    /// Writes an ERR packet with sequence id `seq` and flushes.
    pub async fn send_err(&mut self, seq: u8, e: &SqlError) -> std::io::Result<()> {
        let mut s = seq;
        self.queue_err(&mut s, e);
        self.flush().await
    }
}
