//! The server side of the connection phase: greeting, optional TLS upgrade, handshake response, authentication
//! with auth switch and `caching_sha2_password`'s extra rounds, and the default-database check.
//!
//! The exchange is written as one linear async function whose steps mirror the protocol's states; every failure
//! is a [`SqlError`] sent to the client before the connection closes.

use super::client::ClientConn;
use super::Context;
use crate::auth::{native, new_scramble, rsa_key, sha2_auth, User};
use crate::config::AuthPlugin;
use crate::protocol::errors::SqlError;
use crate::protocol::status;
use crate::stream::ClientStream;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{HandshakePacket, HandshakeResponse};
use mysql_common::proto::{MyDeserialize, MySerialize};

/// Capabilities the proxy offers clients (CLIENT_SSL is added when TLS is configured).
pub const SERVER_CAPS: u32 = CapabilityFlags::CLIENT_LONG_PASSWORD.bits()
    | CapabilityFlags::CLIENT_FOUND_ROWS.bits()
    | CapabilityFlags::CLIENT_LONG_FLAG.bits()
    | CapabilityFlags::CLIENT_CONNECT_WITH_DB.bits()
    | CapabilityFlags::CLIENT_NO_SCHEMA.bits()
    | CapabilityFlags::CLIENT_LOCAL_FILES.bits()
    | CapabilityFlags::CLIENT_IGNORE_SPACE.bits()
    | CapabilityFlags::CLIENT_PROTOCOL_41.bits()
    | CapabilityFlags::CLIENT_INTERACTIVE.bits()
    | CapabilityFlags::CLIENT_TRANSACTIONS.bits()
    | CapabilityFlags::CLIENT_SECURE_CONNECTION.bits()
    | CapabilityFlags::CLIENT_MULTI_STATEMENTS.bits()
    | CapabilityFlags::CLIENT_MULTI_RESULTS.bits()
    | CapabilityFlags::CLIENT_PS_MULTI_RESULTS.bits()
    | CapabilityFlags::CLIENT_PLUGIN_AUTH.bits()
    | CapabilityFlags::CLIENT_CONNECT_ATTRS.bits()
    | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.bits()
    | CapabilityFlags::CLIENT_DEPRECATE_EOF.bits();

/// Collation announced in the greeting: utf8mb4_general_ci.
pub const GREETING_COLLATION: u8 = 45;

/// What the connection phase established.
#[derive(Debug, Clone)]
pub struct Login {
    /// Authenticated user name.
    pub user: String,
    /// Database from CONNECT_WITH_DB (already checked to be a keyspace).
    pub db: Option<String>,
    /// Collation the client asked for.
    pub collation: u16,
    /// The scramble of the greeting.
    pub scramble: [u8; 20],
}

/// A failed connection phase: the error (if the client should get one) and whether it was an auth failure.
pub struct HandshakeFailure {
    /// Error to send, with its sequence id.
    pub error: Option<(u8, SqlError)>,
    /// Counts as an authentication failure in metrics.
    pub auth_failure: bool,
    /// Why, for the log.
    pub reason: String,
}

impl HandshakeFailure {
    fn send(seq: u8, e: SqlError, auth_failure: bool) -> HandshakeFailure {
        HandshakeFailure {
            reason: e.message.clone(),
            error: Some((seq, e)),
            auth_failure,
        }
    }
    fn silent(reason: impl Into<String>) -> HandshakeFailure {
        HandshakeFailure {
            error: None,
            auth_failure: false,
            reason: reason.into(),
        }
    }
}

/// Runs the connection phase on `conn` (replacing its stream with TLS when the client asks).
pub async fn handshake(ctx: &Context, conn: &mut ClientConn, connection_id: u32) -> Result<Login, HandshakeFailure> {
    let scramble = new_scramble();
    let mut caps = SERVER_CAPS;
    if ctx.tls.is_some() {
        caps |= CapabilityFlags::CLIENT_SSL.bits();
    }
    let mut part2 = scramble[8..].to_vec();
    part2.push(0);
    let greeting = HandshakePacket::new(
        10,
        ctx.proxy.server_version.as_bytes(),
        connection_id,
        scramble[..8].try_into().expect("8 bytes"),
        Some(part2),
        CapabilityFlags::from_bits_truncate(caps),
        GREETING_COLLATION,
        StatusFlags::from_bits_truncate(status::AUTOCOMMIT),
        Some(ctx.proxy.default_auth_plugin.name().as_bytes()),
    );
    let mut buf = Vec::with_capacity(128);
    greeting.serialize(&mut buf);
    let mut seq = 0u8;
    conn.queue(&mut seq, &buf);
    conn.flush()
        .await
        .map_err(|e| HandshakeFailure::silent(format!("writing greeting: {e}")))?;

    let mut msg = read(conn).await?;
    let ssl_bit = CapabilityFlags::CLIENT_SSL.bits();
    // An SSLRequest is exactly the 32-byte head of a handshake response with CLIENT_SSL set.
    if msg.payload.len() == 32 && u32::from_le_bytes(msg.payload[..4].try_into().expect("4 bytes")) & ssl_bit != 0 {
        let Some(acceptor) = ctx.tls.clone() else {
            return Err(HandshakeFailure::send(
                msg.seq.wrapping_add(1),
                SqlError::malformed("SSL requested but the proxy has no [tls] configured"),
                false,
            ));
        };
        let plain = std::mem::replace(&mut conn.stream, ClientStream::Upgrading);
        let ClientStream::Plain(tcp) = plain else {
            return Err(HandshakeFailure::silent("SSLRequest on a TLS connection"));
        };
        // The client may send its ClientHello right behind the SSLRequest: start TLS with what is buffered.
        let early = conn.rbuf.split().freeze();
        let tcp = crate::stream::Prefixed::new(early, tcp);
        let tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| HandshakeFailure::silent(format!("TLS handshake: {e}")))?;
        conn.stream = ClientStream::Tls(Box::new(tls));
        msg = read(conn).await?;
    }
    seq = msg.seq.wrapping_add(1);
    if ctx.tls_required && !conn.stream.is_tls() {
        return Err(HandshakeFailure::send(seq, SqlError::secure_transport_required(), true));
    }
    let resp = HandshakeResponse::deserialize((), &mut ParseBuf(&msg.payload))
        .map_err(|e| HandshakeFailure::send(seq, SqlError::malformed(format!("handshake response: {e}")), false))?;
    let client_caps = resp.capabilities().bits();
    if client_caps & CapabilityFlags::CLIENT_PROTOCOL_41.bits() == 0 {
        return Err(HandshakeFailure::send(
            seq,
            SqlError::auth_mode_not_supported("protocol 4.1 is required; upgrade the MySQL client"),
            false,
        ));
    }
    conn.caps = client_caps & caps;
    let user_name = String::from_utf8_lossy(resp.user()).into_owned();
    let host = conn.peer.ip().to_string();
    let client_plugin = resp
        .auth_plugin()
        .map(|p| p.as_bytes().to_vec())
        .unwrap_or_else(|| b"mysql_native_password".to_vec());
    let auth_data = resp.scramble_buf().to_vec();
    let db = resp
        .db_name()
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let collation = resp.collation() as u16;

    let Some(user) = ctx.users.get(&user_name) else {
        return Err(HandshakeFailure::send(
            seq,
            SqlError::access_denied(&user_name, &host, !auth_data.is_empty()),
            true,
        ));
    };
    authenticate(ctx, conn, &mut seq, user, &host, &scramble, &client_plugin, auth_data).await?;

    if let Some(d) = &db {
        if !d.eq_ignore_ascii_case(super::session::INFORMATION_SCHEMA) && ctx.map.load().keyspace(d).is_none() {
            return Err(HandshakeFailure::send(seq, SqlError::unknown_database(d), false));
        }
    }
    conn.queue_ok(&mut seq, 0, 0, status::AUTOCOMMIT);
    conn.flush()
        .await
        .map_err(|e| HandshakeFailure::silent(format!("writing OK: {e}")))?;
    Ok(Login {
        user: user_name,
        db,
        collation,
        scramble,
    })
}

/// Authenticates `user` given the client's first auth response computed with `client_plugin` over `scramble`;
/// switches plugin when needed. On success the next packet to write has sequence id `*seq`.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate(
    ctx: &Context,
    conn: &mut ClientConn,
    seq: &mut u8,
    user: &User,
    host: &str,
    scramble: &[u8; 20],
    client_plugin: &[u8],
    mut auth_data: Vec<u8>,
) -> Result<(), HandshakeFailure> {
    let deny = |seq: u8, used_password: bool| {
        HandshakeFailure::send(seq, SqlError::access_denied(&user.name, host, used_password), true)
    };
    if AuthPlugin::from_name(client_plugin) != Some(user.plugin) {
        let mut p = vec![0xfe];
        p.extend_from_slice(user.plugin.name().as_bytes());
        p.push(0);
        p.extend_from_slice(scramble);
        p.push(0);
        conn.queue(seq, &p);
        conn.flush()
            .await
            .map_err(|e| HandshakeFailure::silent(e.to_string()))?;
        let m = read(conn).await?;
        *seq = m.seq.wrapping_add(1);
        auth_data = m.payload.to_vec();
    }
    if auth_data.is_empty() {
        return if user.empty_password {
            Ok(())
        } else {
            Err(deny(*seq, false))
        };
    }
    match user.plugin {
        AuthPlugin::MysqlNativePassword => {
            if native::verify(scramble, &auth_data, &user.native_stage2) {
                Ok(())
            } else {
                Err(deny(*seq, true))
            }
        }
        AuthPlugin::CachingSha2Password => {
            if let Some(cached) = ctx.users.cached_sha2(&user.name) {
                if !sha2_auth::verify_fast(scramble, &auth_data, &cached) {
                    return Err(deny(*seq, true));
                }
                conn.queue(seq, &[0x01, sha2_auth::FAST_AUTH_SUCCESS]);
                return Ok(());
            }
            conn.queue(seq, &[0x01, sha2_auth::PERFORM_FULL_AUTHENTICATION]);
            conn.flush()
                .await
                .map_err(|e| HandshakeFailure::silent(e.to_string()))?;
            let mut m = read(conn).await?;
            *seq = m.seq.wrapping_add(1);
            let clear = if conn.stream.is_tls() {
                sha2_auth::clear_password(&m.payload).to_vec()
            } else {
                let key = rsa_key::key_pair()
                    .await
                    .map_err(|e| HandshakeFailure::send(*seq, SqlError::internal(format!("RSA key: {e}")), false))?;
                if m.payload[..] == [sha2_auth::REQUEST_PUBLIC_KEY] {
                    let mut p = vec![0x01];
                    p.extend_from_slice(key.public_pem.as_bytes());
                    conn.queue(seq, &p);
                    conn.flush()
                        .await
                        .map_err(|e| HandshakeFailure::silent(e.to_string()))?;
                    m = read(conn).await?;
                    *seq = m.seq.wrapping_add(1);
                }
                match key.decrypt(&m.payload) {
                    Some(d) => sha2_auth::unxor_password(&d, scramble),
                    None => {
                        return Err(HandshakeFailure::send(
                            *seq,
                            SqlError::auth_mode_not_supported(
                                "caching_sha2_password full authentication needs TLS or the server's RSA public key; enable TLS or let the client request the key",
                            ),
                            true,
                        ))
                    }
                }
            };
            if user.password_matches(&clear) {
                ctx.users.cache_sha2(&user.name, &clear);
                Ok(())
            } else {
                Err(deny(*seq, true))
            }
        }
    }
}

async fn read(conn: &mut ClientConn) -> Result<crate::protocol::codec::Message, HandshakeFailure> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), conn.read_message()).await {
        Ok(Ok(Some(m))) => Ok(m),
        Ok(Ok(None)) => Err(HandshakeFailure::silent("client closed the connection during login")),
        Ok(Err(e)) => Err(HandshakeFailure::silent(format!("reading login packet: {e}"))),
        Err(_) => Err(HandshakeFailure::silent("client sent nothing for 10 s during login")),
    }
}
