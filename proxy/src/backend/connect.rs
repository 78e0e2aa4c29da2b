//! Logging in to a backend as the configured backend user: the client side of the handshake, with
//! `mysql_native_password`, `caching_sha2_password` (fast path and RSA full authentication) and auth switches.

use super::conn::{BackendConn, BackendError, BackendState};
use crate::protocol::codec::write_packets;
use crate::protocol::packets::parse_err;
use bytes::BytesMut;
use mysql_common::constants::CapabilityFlags;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, HandshakePacket, HandshakeResponse};
use mysql_common::proto::{MyDeserialize, MySerialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Capabilities the proxy always asks a backend for.
pub const BASE_CAPS: u32 = CapabilityFlags::CLIENT_LONG_PASSWORD.bits()
    | CapabilityFlags::CLIENT_LONG_FLAG.bits()
    | CapabilityFlags::CLIENT_PROTOCOL_41.bits()
    | CapabilityFlags::CLIENT_TRANSACTIONS.bits()
    | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
    | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits()
    | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits();

/// Client capabilities that change how the server answers; a backend connection must have the same ones as the
/// client whose bytes it relays, so pooled connections are matched on them.
pub const RELAY_CAPS: u32 = CapabilityFlags::CLIENT_FOUND_ROWS.bits()
    | CapabilityFlags::CLIENT_NO_SCHEMA.bits()
    | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
    | CapabilityFlags::CLIENT_IGNORE_SPACE.bits()
    | CapabilityFlags::CLIENT_INTERACTIVE.bits()
    | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits()
    | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
    | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
    | CapabilityFlags::CLIENT_SESSION_TRACK.bits()
    | CapabilityFlags::CLIENT_DEPRECATE_EOF.bits();

/// Opens and authenticates a connection. `relay_caps` are the client capabilities (within [`RELAY_CAPS`]) the
/// connection must have.
pub async fn connect(
    addr: &Arc<str>,
    user: &str,
    password: &str,
    relay_caps: u32,
    timeout: Duration,
) -> Result<BackendConn, BackendError> {
    tokio::time::timeout(timeout, connect_inner(addr, user, password, relay_caps))
        .await
        .map_err(|_| BackendError::Timeout)?
}

async fn connect_inner(
    addr: &Arc<str>,
    user: &str,
    password: &str,
    relay_caps: u32,
) -> Result<BackendConn, BackendError> {
    let stream = TcpStream::connect(&**addr).await?;
    stream.set_nodelay(true)?;
    let mut conn = BackendConn {
        stream,
        rbuf: BytesMut::with_capacity(16 * 1024),
        wbuf: BytesMut::with_capacity(1024),
        addr: addr.clone(),
        thread_id: 0,
        caps: 0,
        relay_caps: relay_caps & RELAY_CAPS,
        handshake_collation: 0,
        state: BackendState::default(),
        uses: 0,
        last_session: 0,
        last_used: Instant::now(),
        broken: false,
        auth_path: "mysql_native_password",
        reserved_for: None,
        prepared: Default::default(),
        _lease: None,
    };
    let greeting = conn.read_packet().await?;
    if greeting.payload.first() == Some(&0xff) {
        let msg = parse_err(&greeting.payload).map(|e| e.2).unwrap_or_default();
        return Err(BackendError::Auth(msg));
    }
    let hs = HandshakePacket::deserialize((), &mut ParseBuf(&greeting.payload))
        .map_err(|e| BackendError::Protocol(format!("bad greeting: {e}")))?;
    let server_caps = hs.capabilities().bits();
    if server_caps & CapabilityFlags::CLIENT_PROTOCOL_41.bits() == 0 {
        return Err(BackendError::Protocol("backend does not speak protocol 4.1".into()));
    }
    let caps = (BASE_CAPS | (relay_caps & RELAY_CAPS)) & server_caps;
    conn.thread_id = hs.connection_id();
    conn.caps = caps;
    let nonce = hs.nonce();
    let plugin_name = hs.auth_plugin_name_ref().unwrap_or(b"mysql_native_password").to_vec();
    let (plugin, data) = scramble_for(&plugin_name, &nonce, password);
    let resp = HandshakeResponse::new(
        Some(data),
        hs.server_version_parsed().unwrap_or((5, 7, 0)),
        Some(user.as_bytes()),
        None::<&[u8]>,
        Some(plugin),
        CapabilityFlags::from_bits_truncate(caps),
        None,
        1 << 30,
    );
    conn.handshake_collation = resp.collation() as u16;
    conn.state.collation = conn.handshake_collation;
    let mut payload = Vec::new();
    resp.serialize(&mut payload);
    let mut seq = greeting.seq.wrapping_add(1);
    send(&mut conn, &mut seq, &payload).await?;
    let mut nonce = nonce;
    let mut plugin_name = plugin_name;
    loop {
        let p = conn.read_packet().await?;
        seq = p.seq.wrapping_add(1);
        match p.payload.first() {
            Some(0x00) => {
                if plugin_name == b"caching_sha2_password" && conn.auth_path == "mysql_native_password" {
                    conn.auth_path = "caching_sha2_password";
                }
                return Ok(conn);
            }
            Some(0xff) => {
                let msg = parse_err(&p.payload)
                    .map(|e| format!("ERROR {} ({}): {}", e.0, e.1, e.2))
                    .unwrap_or_default();
                return Err(BackendError::Auth(msg));
            }
            Some(0xfe) => {
                // Auth switch: plugin name NUL, plugin data.
                let body = &p.payload[1..];
                let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
                plugin_name = body[..end].to_vec();
                let data = body.get(end + 1..).unwrap_or(&[]);
                nonce = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                let (_, resp) = scramble_for(&plugin_name, &nonce, password);
                send(&mut conn, &mut seq, &resp).await?;
            }
            Some(0x01) if plugin_name == b"caching_sha2_password" => match p.payload.get(1) {
                Some(0x03) => conn.auth_path = "caching_sha2_password (fast path)",
                Some(0x04) => {
                    // Full authentication without TLS: ask for the RSA key, then send the encrypted password.
                    send(&mut conn, &mut seq, &[0x02]).await?;
                    let key = conn.read_packet().await?;
                    seq = key.seq.wrapping_add(1);
                    let pem = key.payload.get(1..).unwrap_or(&[]);
                    let mut clear = password.as_bytes().to_vec();
                    clear.push(0);
                    for (i, b) in clear.iter_mut().enumerate() {
                        *b ^= nonce[i % nonce.len().max(1)];
                    }
                    let pem = pem.to_vec();
                    let ct = tokio::task::spawn_blocking(move || {
                        std::panic::catch_unwind(|| mysql_common::crypto::encrypt(&clear, &pem))
                    })
                    .await
                    .map_err(|e| BackendError::Protocol(e.to_string()))?
                    .map_err(|_| BackendError::Protocol("backend sent an unusable RSA public key".into()))?;
                    send(&mut conn, &mut seq, &ct).await?;
                    conn.auth_path = "caching_sha2_password (full authentication, RSA)";
                }
                _ => return Err(BackendError::Protocol("unexpected caching_sha2_password reply".into())),
            },
            _ => {
                return Err(BackendError::Auth(format!(
                    "unsupported authentication exchange (plugin {})",
                    String::from_utf8_lossy(&plugin_name)
                )))
            }
        }
    }
}

/// The auth response for `plugin` (native scramble for anything the proxy does not know, hoping for a switch).
fn scramble_for(plugin: &[u8], nonce: &[u8], password: &str) -> (AuthPlugin<'static>, Vec<u8>) {
    let nonce = &nonce[..nonce.len().min(20)];
    if plugin == b"caching_sha2_password" {
        let r = mysql_common::scramble::scramble_sha256(nonce, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default();
        (AuthPlugin::CachingSha2Password, r)
    } else {
        let r = mysql_common::scramble::scramble_native(nonce, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default();
        (AuthPlugin::MysqlNativePassword, r)
    }
}

async fn send(conn: &mut BackendConn, seq: &mut u8, payload: &[u8]) -> Result<(), BackendError> {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    write_packets(&mut out, seq, payload);
    conn.stream.write_all(&out).await?;
    Ok(())
}
