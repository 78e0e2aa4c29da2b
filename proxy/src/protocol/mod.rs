//! The MySQL classic protocol as the proxy needs it: framing, the packets the proxy writes itself, and a scanner
//! that follows a backend's response packet by packet without decoding rows (the raw relay's hot path).

pub mod binary;
pub mod codec;
pub mod errors;
pub mod lenenc;
pub mod packets;
pub mod response;
pub mod resultset;
pub mod rows;

/// Largest payload of one physical packet; a logical payload this long or longer continues in the next packet.
pub const MAX_PACKET_PAYLOAD: usize = 0xFF_FFFF;

/// Command bytes (first payload byte of a client command).
pub mod command {
    /// COM_QUIT
    pub const QUIT: u8 = 0x01;
    /// COM_INIT_DB
    pub const INIT_DB: u8 = 0x02;
    /// COM_QUERY
    pub const QUERY: u8 = 0x03;
    /// COM_FIELD_LIST
    pub const FIELD_LIST: u8 = 0x04;
    /// COM_STATISTICS
    pub const STATISTICS: u8 = 0x09;
    /// COM_PING
    pub const PING: u8 = 0x0e;
    /// COM_CHANGE_USER
    pub const CHANGE_USER: u8 = 0x11;
    /// COM_STMT_PREPARE
    pub const STMT_PREPARE: u8 = 0x16;
    /// COM_STMT_EXECUTE
    pub const STMT_EXECUTE: u8 = 0x17;
    /// COM_STMT_SEND_LONG_DATA
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    /// COM_STMT_CLOSE
    pub const STMT_CLOSE: u8 = 0x19;
    /// COM_STMT_RESET
    pub const STMT_RESET: u8 = 0x1a;
    /// COM_SET_OPTION
    pub const SET_OPTION: u8 = 0x1b;
    /// COM_STMT_FETCH
    pub const STMT_FETCH: u8 = 0x1c;
    /// COM_RESET_CONNECTION
    pub const RESET_CONNECTION: u8 = 0x1f;
}

/// Server status flag bits the proxy reads or writes.
pub mod status {
    /// A transaction is open.
    pub const IN_TRANS: u16 = 0x0001;
    /// Autocommit is on.
    pub const AUTOCOMMIT: u16 = 0x0002;
    /// Another result set follows.
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    /// A server-side cursor is open for the statement.
    pub const CURSOR_EXISTS: u16 = 0x0040;
    /// `sql_mode` has NO_BACKSLASH_ESCAPES: clients must escape quotes by doubling them.
    pub const NO_BACKSLASH_ESCAPES: u16 = 0x0200;
    /// The open transaction is read-only.
    pub const IN_TRANS_READONLY: u16 = 0x2000;
    /// The status bits that describe the session (not one statement): the proxy repeats them in the OK and EOF
    /// packets it writes itself, so clients keep escaping and transaction state right.
    pub const SESSION_BITS: u16 = IN_TRANS | AUTOCOMMIT | NO_BACKSLASH_ESCAPES | IN_TRANS_READONLY;
}
