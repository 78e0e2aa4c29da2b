//! MySQL error codes and SQLSTATEs the proxy reports, and the error type that carries them to the client.
//!
//! Messages the proxy writes start with `shardgate:` and say what to do; codes and SQLSTATEs are the server's, so
//! drivers classify them as they would a server error (e.g. 1045 as an authentication failure).

use std::borrow::Cow;
use std::fmt;

/// An error to send to the client as an ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// MySQL error code.
    pub code: u16,
    /// Five-character SQLSTATE.
    pub state: Cow<'static, str>,
    /// Human-readable message (prefixed with `shardgate:` by the constructors).
    pub message: String,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR {} ({}): {}", self.code, self.state, self.message)
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    /// Builds an error with the `shardgate:` prefix.
    pub fn new(code: u16, state: &'static str, message: impl fmt::Display) -> SqlError {
        SqlError {
            code,
            state: Cow::Borrowed(state),
            message: format!("shardgate: {message}"),
        }
    }

    /// An error a backend reported, passed on unchanged (no prefix: it is the server's own message).
    pub fn from_backend(code: u16, state: String, message: String) -> SqlError {
        SqlError {
            code,
            state: Cow::Owned(state),
            message,
        }
    }

    /// 1045 ER_ACCESS_DENIED_ERROR.
    pub fn access_denied(user: &str, host: &str, using_password: bool) -> SqlError {
        let using = if using_password { "YES" } else { "NO" };
        SqlError::new(
            1045,
            "28000",
            format!("Access denied for user '{user}'@'{host}' (using password: {using})"),
        )
    }

    /// 1049 ER_BAD_DB_ERROR.
    pub fn unknown_database(db: &str) -> SqlError {
        SqlError::new(
            1049,
            "42000",
            format!("Unknown database '{db}'; SHOW DATABASES lists the keyspaces of the shard map"),
        )
    }

    /// 1047 ER_UNKNOWN_COM_ERROR.
    pub fn unknown_command(cmd: u8) -> SqlError {
        SqlError::new(1047, "08S01", format!("Unknown command 0x{cmd:02x}"))
    }

    /// 1040 ER_CON_COUNT_ERROR.
    pub fn too_many_connections(what: impl fmt::Display) -> SqlError {
        SqlError::new(1040, "08004", format!("Too many connections: {what}"))
    }

    /// 1243 ER_UNKNOWN_STMT_HANDLER.
    pub fn unknown_statement(id: u32, during: &str) -> SqlError {
        SqlError::new(
            1243,
            "HY000",
            format!("Unknown prepared statement handler ({id}) given to {during}"),
        )
    }

    /// 1153 ER_NET_PACKET_TOO_LARGE.
    pub fn packet_too_large(detail: impl fmt::Display) -> SqlError {
        SqlError::new(
            1153,
            "08S01",
            format!("Got a packet bigger than 'max_allowed_packet' bytes: {detail}"),
        )
    }

    /// 1156 ER_NET_PACKETS_OUT_OF_ORDER.
    pub fn out_of_order(detail: impl fmt::Display) -> SqlError {
        SqlError::new(1156, "08S01", format!("Got packets out of order: {detail}"))
    }

    /// 1835 ER_MALFORMED_PACKET.
    pub fn malformed(detail: impl fmt::Display) -> SqlError {
        SqlError::new(1835, "HY000", format!("Malformed communication packet: {detail}"))
    }

    /// 1158 ER_NET_READ_ERROR (SQLSTATE 08S01, communication link failure): the backend connection broke while a
    /// statement was running. Client-range codes such as 2013 cannot be used: libmariadb rejects an ERR packet
    /// carrying one as malformed.
    pub fn backend_lost(addr: &str, detail: impl fmt::Display) -> SqlError {
        SqlError::new(
            1158,
            "08S01",
            format!("Lost connection to backend {addr} during query ({detail}); the statement may or may not have been applied, check before retrying"),
        )
    }

    /// 1429 ER_CONNECT_TO_FOREIGN_DATA_SOURCE: no connection to the backend could be made.
    pub fn backend_unavailable(addr: &str, detail: impl fmt::Display) -> SqlError {
        SqlError::new(
            1429,
            "HY000",
            format!(
                "Can't connect to backend {addr}: {detail}; check that the server is up and the shard map is right"
            ),
        )
    }

    /// 1235 ER_NOT_SUPPORTED_YET.
    pub fn not_supported(what: impl fmt::Display) -> SqlError {
        SqlError::new(
            1235,
            "42000",
            format!("This version of Shardgate doesn't yet support {what}"),
        )
    }

    /// 1251 ER_NOT_SUPPORTED_AUTH_MODE.
    pub fn auth_mode_not_supported(detail: impl fmt::Display) -> SqlError {
        SqlError::new(
            1251,
            "08004",
            format!("Client does not support authentication protocol requested by server: {detail}"),
        )
    }

    /// 3159 ER_SECURE_TRANSPORT_REQUIRED.
    pub fn secure_transport_required() -> SqlError {
        SqlError::new(
            3159,
            "HY000",
            "Connections using insecure transport are prohibited ([tls] require = true); connect with TLS",
        )
    }

    /// 1094 ER_NO_SUCH_THREAD.
    pub fn no_such_thread(id: u64) -> SqlError {
        SqlError::new(1094, "HY000", format!("Unknown thread id: {id}"))
    }

    /// 1095 ER_KILL_DENIED_ERROR.
    pub fn kill_denied(id: u64) -> SqlError {
        SqlError::new(1095, "HY000", format!("You are not owner of thread {id}"))
    }

    /// 1105 ER_UNKNOWN_ERROR for internal failures.
    pub fn internal(detail: impl fmt::Display) -> SqlError {
        SqlError::new(1105, "HY000", detail)
    }
}
