//! The classic MySQL protocol through a real `shardgate-proxy` in front of a real MariaDB, driven by the
//! `mysql_async` client and by hand-written packets: text and binary protocol, every common column type, payloads
//! beyond 16 MiB, multi-statements and procedures, session state that follows a client across pooled backend
//! connections, login and authentication (incl. TLS), protocol abuse, a backend dying, and many concurrent clients.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{ChangeUserOpts, Conn, OptsBuilder, Row, ServerError, Value};
use shardgate_tests::{keyspaces_map, MariaDb, PoolSettings, Proxy, ProxyConfig, ProxyUser, TlsFiles, UserSecret};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const USER: &str = "app";
const PASS: &str = "app-secret";
/// A proxy user with an empty password, for the hand-written protocol client.
const RAW_USER: &str = "raw";
/// Bound of every single wait on a socket or a statement.
const WAIT: Duration = Duration::from_secs(10);

// ----- setup -------------------------------------------------------------------------------------------------

/// Shard map with two unsharded keyspaces, `app` and `other`, both on `db`.
fn two_keyspace_map(db: &MariaDb) -> String {
    keyspaces_map(1, &[("app", &db.addr()), ("other", &db.addr())])
}

/// A MariaDB with databases `app` and `other`, and a proxy serving both as keyspaces with users `app` and `raw`
/// (empty password); `tweak` adjusts the proxy configuration.
async fn setup(tweak: impl FnOnce(ProxyConfig) -> ProxyConfig) -> (MariaDb, Proxy) {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app; CREATE DATABASE other").await;
    let cfg = ProxyConfig::new(two_keyspace_map(&db))
        .user(USER, PASS)
        .user(RAW_USER, "");
    let proxy = Proxy::start(tweak(cfg)).await;
    (db, proxy)
}

fn pool(max_open: u64, checkout_timeout_ms: u64) -> PoolSettings {
    PoolSettings {
        max_open: Some(max_open),
        checkout_timeout_ms: Some(checkout_timeout_ms),
        ..Default::default()
    }
}

async fn app_conn(proxy: &Proxy) -> Conn {
    proxy.conn(USER, PASS, Some("app")).await
}

/// The server error inside a `mysql_async` error; panics (naming `what`) on any other kind of error.
#[track_caller]
fn server_error(e: mysql_async::Error, what: &str) -> ServerError {
    match e {
        mysql_async::Error::Server(se) => se,
        other => panic!("{what}: expected a server error (ERR packet), got {other:?}"),
    }
}

/// Asserts that `r` failed with MySQL error `code` and SQLSTATE `state`; returns the error.
#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: Result<T, mysql_async::Error>, code: u16, state: &str, what: &str) -> ServerError {
    let e = match r {
        Ok(v) => panic!("{what}: expected error {code} ({state}), got success: {v:?}"),
        Err(e) => server_error(e, what),
    };
    assert_eq!((e.code, e.state.as_str()), (code, state), "{what}: {e:?}");
    e
}

/// Fails if the proxy log shows a panic.
#[track_caller]
fn assert_no_panic(proxy: &Proxy) {
    let log = proxy.log();
    assert!(!log.contains("panicked"), "the proxy panicked:\n{}", proxy.log_tail(80));
}

/// Deterministic pseudo-random bytes (xorshift), so misplaced or reordered bytes are detected.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        let n = (len - out.len()).min(8);
        out.extend_from_slice(&bytes[..n]);
    }
    out
}

fn hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Column metadata that must be identical whether a result comes through the proxy or straight from MariaDB.
/// Schema, table, name, type, flags, character set, length, decimals.
type ColumnMeta = (String, String, String, u8, u16, u16, u32, u8);

fn column_meta(row: &Row) -> Vec<ColumnMeta> {
    row.columns_ref()
        .iter()
        .map(|c| {
            (
                c.schema_str().into_owned(),
                c.org_table_str().into_owned(),
                c.name_str().into_owned(),
                c.column_type() as u8,
                c.flags().bits(),
                c.character_set(),
                c.column_length(),
                c.decimals(),
            )
        })
        .collect()
}

// ----- a minimal hand-written protocol client -----------------------------------------------------------------

/// What came back for a command, as seen by a client that does not negotiate CLIENT_DEPRECATE_EOF.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Ok {
        seq: u8,
    },
    Err {
        seq: u8,
        code: u16,
        state: String,
        message: String,
    },
    /// A result set: the rows' raw payloads.
    Rows {
        columns: usize,
        rows: Vec<Vec<u8>>,
    },
    /// The connection was closed (EOF or reset) instead of a reply.
    Closed,
}

/// A byte stream to the proxy: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Raw {
    s: Box<dyn Stream>,
}

impl Raw {
    async fn connect(addr: &str) -> Raw {
        let s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Raw { s: Box::new(s) }
    }

    /// Reads one packet (`None` when the peer closed the connection); panics if nothing comes within 10 s.
    async fn read_packet(&mut self) -> Option<(u8, Vec<u8>)> {
        read_packet(&mut self.s).await
    }

    async fn write_packet(&mut self, seq: u8, payload: &[u8]) {
        let len = payload.len() as u32;
        let mut p = Vec::with_capacity(payload.len() + 4);
        p.extend_from_slice(&len.to_le_bytes()[..3]);
        p.push(seq);
        p.extend_from_slice(payload);
        self.s.write_all(&p).await.expect("write to the proxy");
        self.s.flush().await.expect("flush to the proxy");
    }

    async fn write_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("write to the proxy");
        self.s.flush().await.expect("flush to the proxy");
    }

    /// Reads the greeting and logs in as `user` with an empty password (mysql_native_password), optionally into
    /// `db`. Returns the reply to the handshake response.
    async fn login(addr: &str, user: &str, db: Option<&str>) -> (Raw, Reply) {
        let mut raw = Raw::connect(addr).await;
        let (seq, greeting) = raw.read_packet().await.expect("greeting");
        assert_eq!(seq, 0);
        assert_eq!(greeting[0], 10, "protocol version 10 greeting");
        raw.write_packet(1, &handshake_response(0, user, db)).await;
        let reply = raw.read_reply().await;
        (raw, reply)
    }

    async fn logged_in(addr: &str) -> Raw {
        let (raw, reply) = Raw::login(addr, RAW_USER, Some("app")).await;
        assert_eq!(reply, Reply::Ok { seq: 2 }, "raw login");
        raw
    }

    /// Reads an OK, an ERR, or a whole result set (with EOF packets, as CLIENT_DEPRECATE_EOF is not negotiated).
    async fn read_reply(&mut self) -> Reply {
        let Some((seq, p)) = self.read_packet().await else {
            return Reply::Closed;
        };
        match p.first() {
            Some(0x00) => Reply::Ok { seq },
            Some(0xff) => parse_err(seq, &p),
            Some(&n) if n < 0xfb => {
                let columns = n as usize;
                for _ in 0..columns {
                    self.read_packet().await.expect("column definition");
                }
                let (_, eof) = self.read_packet().await.expect("EOF after columns");
                assert_eq!(eof[0], 0xfe, "EOF after column definitions: {eof:?}");
                let mut rows = Vec::new();
                loop {
                    let (seq, row) = self.read_packet().await.expect("row or EOF");
                    if row.first() == Some(&0xfe) && row.len() < 9 {
                        break;
                    }
                    if row.first() == Some(&0xff) {
                        return parse_err(seq, &row);
                    }
                    rows.push(row);
                }
                Reply::Rows { columns, rows }
            }
            _ => panic!("unexpected reply packet {p:?}"),
        }
    }

    /// Sends a command (sequence id 0) and reads its reply.
    async fn command(&mut self, payload: &[u8]) -> Reply {
        self.write_packet(0, payload).await;
        self.read_reply().await
    }

    async fn query(&mut self, sql: &str) -> Reply {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.command(&p).await
    }

    /// The first column of the first row of a text result set, as a string.
    async fn query_scalar(&mut self, sql: &str) -> String {
        match self.query(sql).await {
            Reply::Rows { rows, .. } if !rows.is_empty() => text_cell(&rows[0]),
            other => panic!("`{sql}`: expected a row, got {other:?}"),
        }
    }

    /// True once the proxy has closed the connection (reads EOF or a reset; any packet first counts as not closed).
    async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match tokio::time::timeout(WAIT, self.s.read(&mut b)).await {
            Err(_) => false,
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
        }
    }
}

/// Reads one packet (`None` when the peer closed the connection); panics if nothing comes within 10 s.
async fn read_packet(s: &mut (impl AsyncRead + Unpin + ?Sized)) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    match tokio::time::timeout(WAIT, s.read_exact(&mut header)).await {
        Err(_) => panic!("no packet from the proxy within {WAIT:?}"),
        Ok(Err(_)) => return None,
        Ok(Ok(_)) => {}
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    match tokio::time::timeout(WAIT, s.read_exact(&mut payload)).await {
        Err(_) => panic!("incomplete packet from the proxy within {WAIT:?}"),
        Ok(Err(_)) => return None,
        Ok(Ok(_)) => {}
    }
    Some((header[3], payload))
}

/// LONG_PASSWORD | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | MULTI_RESULTS | PLUGIN_AUTH
const RAW_CAPS: u32 = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x2_0000 | 0x8_0000;
/// CLIENT_SSL
const CLIENT_SSL: u32 = 0x800;

/// The fixed 32-byte start of a HandshakeResponse41 (an SSLRequest is exactly this).
fn handshake_prefix(caps: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&[0u8; 23]);
    p
}

/// A HandshakeResponse41 for `user` with an empty password (mysql_native_password), optionally into `db`.
fn handshake_response(extra_caps: u32, user: &str, db: Option<&str>) -> Vec<u8> {
    let mut caps = RAW_CAPS | extra_caps;
    if db.is_some() {
        caps |= 0x8; // CONNECT_WITH_DB
    }
    let mut p = handshake_prefix(caps);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p.push(0); // empty auth response
    if let Some(db) = db {
        p.extend_from_slice(db.as_bytes());
        p.push(0);
    }
    p.extend_from_slice(b"mysql_native_password\0");
    p
}

fn parse_err(seq: u8, p: &[u8]) -> Reply {
    let code = u16::from_le_bytes([p[1], p[2]]);
    let (state, message) = if p.get(3) == Some(&b'#') {
        (
            String::from_utf8_lossy(&p[4..9]).into_owned(),
            String::from_utf8_lossy(&p[9..]).into_owned(),
        )
    } else {
        (String::new(), String::from_utf8_lossy(&p[3..]).into_owned())
    };
    Reply::Err {
        seq,
        code,
        state,
        message,
    }
}

/// The first cell of a text-protocol row (a length-encoded string shorter than 251 bytes).
fn text_cell(row: &[u8]) -> String {
    let len = row[0] as usize;
    assert!(len < 0xfb, "cell too long or NULL: {row:?}");
    String::from_utf8_lossy(&row[1..1 + len]).into_owned()
}

#[track_caller]
fn assert_err_reply(reply: &Reply, code: u16, what: &str) {
    match reply {
        Reply::Err { code: c, .. } if *c == code => {}
        other => panic!("{what}: expected ERR {code}, got {other:?}"),
    }
}

// ----- text and binary protocol --------------------------------------------------------------------------------

#[tokio::test]
async fn text_queries_and_prepared_statements() {
    let (db, proxy) = setup(|c| c).await;
    let mut conn = app_conn(&proxy).await;

    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(50), score DOUBLE NULL)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', NULL)")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 2);

    let rows: Vec<(i32, String, Option<f64>)> = conn.query("SELECT id, name, score FROM t ORDER BY id").await.unwrap();
    assert_eq!(rows, vec![(1, "one".into(), Some(1.5)), (2, "two".into(), None)]);
    let nulls: Vec<(Option<i32>, Option<String>)> = conn.query("SELECT NULL, NULL").await.unwrap();
    assert_eq!(nulls, vec![(None, None)]);

    // Prepared: exec with params, NULL params, exec_first, and reuse of one statement.
    let insert = conn
        .prep("INSERT INTO t (id, name, score) VALUES (?, ?, ?)")
        .await
        .unwrap();
    for i in 3..13 {
        let score = if i % 2 == 0 { Some(i as f64 / 4.0) } else { None };
        conn.exec_drop(&insert, (i, format!("n{i}"), score)).await.unwrap();
        assert_eq!(conn.affected_rows(), 1);
    }
    let select = conn.prep("SELECT name, score FROM t WHERE id = ?").await.unwrap();
    for i in 3..13 {
        let row: Option<(String, Option<f64>)> = conn.exec_first(&select, (i,)).await.unwrap();
        let score = if i % 2 == 0 { Some(i as f64 / 4.0) } else { None };
        assert_eq!(row, Some((format!("n{i}"), score)));
    }
    let none: Option<(String, Option<f64>)> = conn.exec_first(&select, (999,)).await.unwrap();
    assert_eq!(none, None);
    let many: Vec<(i32, String)> = conn
        .exec("SELECT id, name FROM t WHERE id BETWEEN ? AND ? ORDER BY id", (2, 4))
        .await
        .unwrap();
    assert_eq!(many, vec![(2, "two".into()), (3, "n3".into()), (4, "n4".into())]);
    // A NULL parameter compares as unknown: no row.
    let null_param: Vec<i32> = conn
        .exec("SELECT id FROM t WHERE id = ?", (Value::NULL,))
        .await
        .unwrap();
    assert!(null_param.is_empty());

    // Close, then prepare again on the same session.
    conn.close(insert).await.unwrap();
    conn.close(select).await.unwrap();
    let count: Option<i64> = conn
        .exec_first("SELECT COUNT(*) FROM t WHERE id > ?", (0,))
        .await
        .unwrap();
    assert_eq!(count, Some(12));

    // A failing statement is reported and the session goes on.
    let e = expect_err(
        conn.query_drop("SELECT * FROM missing").await,
        1146,
        "42S02",
        "unknown table",
    );
    assert!(e.message.contains("missing"), "{e:?}");
    let e = expect_err(
        conn.exec_drop("SELECT * FROM t WHERE nope = ?", (1,)).await,
        1054,
        "42S22",
        "prepare with an unknown column",
    );
    assert!(e.message.contains("nope"), "{e:?}");
    expect_err(conn.query_drop("SELEC 1").await, 1064, "42000", "syntax error");
    let one: Option<i32> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // What went through the proxy is what MariaDB has.
    let direct: Vec<(i32, String)> = db.query("SELECT id, name FROM app.t ORDER BY id").await;
    assert_eq!(direct.len(), 12);
    assert_eq!(direct[4], (5, "n5".to_string()));
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

const TYPES_DDL: &str = "CREATE TABLE types (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
    de DECIMAL(30,10), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
    c CHAR(10), vc VARCHAR(100) CHARACTER SET utf8mb4, bn BINARY(4), vb VARBINARY(16),
    tx TEXT, bl BLOB, j JSON, e ENUM('a','b','c'), st SET('x','y','z'), bt BIT(10)
) DEFAULT CHARSET=utf8mb4";

#[tokio::test]
async fn every_column_type_round_trips_in_text_and_binary_protocol() {
    let (db, proxy) = setup(|c| c).await;
    let mut conn = app_conn(&proxy).await;
    conn.query_drop(TYPES_DDL).await.unwrap();
    // Row 1: maximum values; row 2: minimum values; row 3: NULLs (text protocol).
    conn.query_drop(
        "INSERT INTO types VALUES
         (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807,
          18446744073709551615, 12345678901234567890.0123456789, 3.5, 1.7976931348623157e308,
          '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155,
          'char', 'héllo 😀 wörld ✓', X'00FF0A0D', X'DEADBEEF00', REPEAT('text ', 100), X'000102FFFE', '{\"k\": [1, \"x\", null]}',
          'c', 'x,z', b'1111111111'),
         (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808,
          0, -12345678901234567890.0123456789, -3.5e-10, -2.2250738585072014e-308,
          '1000-01-01', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.000000', '-838:59:59.000000', 1901,
          '', '', X'00000000', X'', '', X'', '[]', 'a', '', b'0'),
         (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
    // Row 4: binary protocol parameters of every kind.
    let params: Vec<Value> = vec![
        Value::Int(4),
        Value::Int(-5),
        Value::UInt(200),
        Value::Int(-300),
        Value::UInt(60000),
        Value::Int(-70000),
        Value::UInt(70000),
        Value::Int(-2_000_000_000),
        Value::UInt(4_000_000_000),
        Value::Int(i64::MIN + 1),
        Value::UInt(u64::MAX - 1),
        Value::Bytes(b"-0.0000000001".to_vec()),
        Value::Float(0.25),
        Value::Double(std::f64::consts::PI),
        Value::Date(2024, 2, 29, 0, 0, 0, 0),
        Value::Date(2024, 2, 29, 13, 14, 15, 123_456),
        Value::Date(2001, 9, 9, 1, 46, 40, 500_000),
        Value::Time(true, 1, 2, 3, 4, 5),
        Value::Int(2024),
        Value::Bytes(b"ab".to_vec()),
        Value::Bytes("日本語 🎉".as_bytes().to_vec()),
        Value::Bytes(vec![1, 2, 3, 4]),
        Value::Bytes(vec![0, 0, 0xff]),
        Value::Bytes("tx\0with nul".as_bytes().to_vec()),
        Value::Bytes((0..=255u8).collect()),
        Value::Bytes(br#"{"a": {"b": 1.5}}"#.to_vec()),
        Value::Bytes(b"b".to_vec()),
        Value::Bytes(b"y".to_vec()),
        Value::Bytes(vec![0x01, 0x02]),
    ];
    let placeholders = vec!["?"; params.len()].join(", ");
    conn.exec_drop(format!("INSERT INTO types VALUES ({placeholders})"), params)
        .await
        .unwrap();

    let mut direct = db.conn().await;
    direct.query_drop("USE app").await.unwrap();
    let text_sql = "SELECT * FROM types ORDER BY id";
    let bin_sql = "SELECT * FROM types WHERE id >= ? ORDER BY id";
    let via_text: Vec<Row> = conn.query(text_sql).await.unwrap();
    let direct_text: Vec<Row> = direct.query(text_sql).await.unwrap();
    let via_bin: Vec<Row> = conn.exec(bin_sql, (0,)).await.unwrap();
    let direct_bin: Vec<Row> = direct.exec(bin_sql, (0,)).await.unwrap();
    assert_eq!(via_text.len(), 4);
    for (via, direct, protocol) in [(&via_text, &direct_text, "text"), (&via_bin, &direct_bin, "binary")] {
        assert_eq!(via.len(), direct.len(), "{protocol}: row count");
        for (a, b) in via.iter().zip(direct.iter()) {
            assert_eq!(column_meta(a), column_meta(b), "{protocol}: column metadata");
            assert_eq!(
                a.clone().unwrap(),
                b.clone().unwrap(),
                "{protocol}: row values through the proxy differ from MariaDB's"
            );
        }
    }
    // Spot checks, so that a value lost on both paths is noticed too.
    let get = |rows: &[Row], r: usize, col: &str| -> Value {
        let row = &rows[r];
        let idx = row.columns_ref().iter().position(|c| c.name_str() == col).unwrap();
        row.as_ref(idx).unwrap().clone()
    };
    assert_eq!(get(&via_text, 0, "biu"), Value::Bytes(b"18446744073709551615".to_vec()));
    assert_eq!(get(&via_bin, 0, "biu"), Value::UInt(u64::MAX));
    assert_eq!(get(&via_bin, 1, "bi"), Value::Int(i64::MIN));
    assert_eq!(
        get(&via_text, 0, "vc"),
        Value::Bytes("héllo 😀 wörld ✓".as_bytes().to_vec())
    );
    assert_eq!(get(&via_bin, 3, "vc"), Value::Bytes("日本語 🎉".as_bytes().to_vec()));
    assert_eq!(get(&via_bin, 0, "bt"), Value::Bytes(vec![0x03, 0xff]));
    assert_eq!(get(&via_bin, 0, "dtm"), Value::Date(9999, 12, 31, 23, 59, 59, 999_999));
    assert_eq!(get(&via_bin, 3, "tm"), Value::Time(true, 1, 2, 3, 4, 5));
    assert_eq!(get(&via_bin, 3, "bl"), Value::Bytes((0..=255u8).collect()));
    assert_eq!(get(&via_bin, 3, "tx"), Value::Bytes(b"tx\0with nul".to_vec()));
    assert_eq!(get(&via_text, 0, "st"), Value::Bytes(b"x,z".to_vec()));
    assert_eq!(get(&via_bin, 3, "de"), Value::Bytes(b"-0.0000000001".to_vec()));
    assert_eq!(get(&via_bin, 3, "d"), Value::Double(std::f64::consts::PI));
    assert_eq!(get(&via_bin, 3, "f"), Value::Float(0.25));
    for col in ["ti", "de", "dtm", "vc", "j", "bt"] {
        assert_eq!(get(&via_text, 2, col), Value::NULL, "text NULL in {col}");
        assert_eq!(get(&via_bin, 2, col), Value::NULL, "binary NULL in {col}");
    }
    direct.disconnect().await.unwrap();
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

// ----- payloads beyond 16 MiB ----------------------------------------------------------------------------------

#[tokio::test]
async fn blobs_larger_than_one_packet_are_byte_identical() {
    let (db, proxy) = setup(|c| c).await;
    let mut conn = app_conn(&proxy).await;
    let max_packet: Option<u64> = conn.query_first("SELECT @@max_allowed_packet").await.unwrap();
    assert!(
        max_packet.unwrap() >= 256 << 20,
        "the test MariaDB needs max_allowed_packet >= 256 MiB, has {max_packet:?}"
    );
    conn.query_drop("CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB NOT NULL)")
        .await
        .unwrap();

    const MIB: usize = 1 << 20;
    // 16 MiB - 1 (a row packet just over one packet); lengths whose text row (4-byte length prefix) and binary row
    // (+ packet header byte and NULL bitmap) payloads are exactly 0xFFFFFF (followed by an empty packet); 17 MiB;
    // 32 MiB + 5 (three packets).
    let sizes = [16 * MIB - 1, 0xFF_FFFF - 4, 0xFF_FFFF - 6, 17 * MIB, 32 * MIB + 5];

    // Inserted through prepared statements (mysql_async sends large parameters as COM_STMT_SEND_LONG_DATA).
    for (i, &len) in sizes.iter().enumerate() {
        let data = pattern(len, i as u64 + 1);
        conn.exec_drop("INSERT INTO blobs VALUES (?, ?)", (i as i32 + 1, data))
            .await
            .unwrap_or_else(|e| panic!("insert {len} bytes with a prepared statement: {e}"));
    }
    // Inserted with text queries: one COM_QUERY payload of exactly 0xFFFFFF bytes (followed by an empty packet)
    // and one of about 34 MiB (three packets).
    let prefix = "INSERT INTO blobs VALUES (100, X'";
    let mut hex_len = 0xFF_FFFF - 1 - prefix.len() - 2;
    let pad = hex_len % 2;
    hex_len -= pad;
    let exact = pattern(hex_len / 2, 100);
    let sql = format!("{prefix}{}'){}", hex(&exact), " ".repeat(pad));
    assert_eq!(sql.len() + 1, 0xFF_FFFF);
    conn.query_drop(sql)
        .await
        .expect("text insert of exactly 0xFFFFFF bytes");
    let big = pattern(17 * MIB, 101);
    conn.query_drop(format!("INSERT INTO blobs VALUES (101, X'{}')", hex(&big)))
        .await
        .expect("text insert of 34 MiB");

    let mut expected: Vec<(i32, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| (i as i32 + 1, pattern(len, i as u64 + 1)))
        .collect();
    expected.push((100, exact));
    expected.push((101, big));

    let mut direct = db.conn().await;
    for (id, want) in &expected {
        let text: Option<Vec<u8>> = conn
            .query_first(format!("SELECT b FROM blobs WHERE id = {id}"))
            .await
            .unwrap();
        let text = text.expect("row exists");
        assert_eq!(text.len(), want.len(), "id {id}: text protocol length");
        assert!(text == *want, "id {id}: text protocol bytes differ");
        drop(text);
        let bin: Option<Vec<u8>> = conn
            .exec_first("SELECT b FROM blobs WHERE id = ?", (id,))
            .await
            .unwrap();
        let bin = bin.expect("row exists");
        assert_eq!(bin.len(), want.len(), "id {id}: binary protocol length");
        assert!(bin == *want, "id {id}: binary protocol bytes differ");
        drop(bin);
        let stored: Option<Vec<u8>> = direct
            .exec_first("SELECT b FROM app.blobs WHERE id = ?", (id,))
            .await
            .unwrap();
        assert!(stored.as_ref() == Some(want), "id {id}: MariaDB stored different bytes");
    }
    // After the big responses the session is still in step.
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM blobs").await.unwrap();
    assert_eq!(n, Some(expected.len() as i64));
    direct.disconnect().await.unwrap();
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

// ----- multiple results ----------------------------------------------------------------------------------------

#[tokio::test]
async fn multi_statements_and_stored_procedures() {
    let (_db, proxy) = setup(|c| c).await;
    let mut conn = app_conn(&proxy).await;
    conn.query_drop("CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();

    let mut r = conn
        .query_iter("SELECT 1 AS a; SELECT 'x', 'y' UNION ALL SELECT 'z', NULL; INSERT INTO m VALUES (1, 'one'), (2, 'two'); SELECT id FROM m ORDER BY id")
        .await
        .unwrap();
    let first: Vec<i32> = r.collect().await.unwrap();
    assert_eq!(first, vec![1]);
    let second: Vec<(String, Option<String>)> = r.collect().await.unwrap();
    assert_eq!(second, vec![("x".into(), Some("y".into())), ("z".into(), None)]);
    let third: Vec<Row> = r.collect().await.unwrap();
    assert!(third.is_empty());
    assert_eq!(r.affected_rows(), 2);
    let fourth: Vec<i32> = r.collect().await.unwrap();
    assert_eq!(fourth, vec![1, 2]);
    assert!(r.is_empty());
    drop(r);

    // An error in the middle ends the batch; the session stays usable.
    let mut r = conn
        .query_iter("SELECT 10; SELECT * FROM nope; SELECT 30")
        .await
        .unwrap();
    let ten: Vec<i32> = r.collect().await.unwrap();
    assert_eq!(ten, vec![10]);
    let e = r.collect::<Row>().await.unwrap_err();
    assert_eq!(server_error(e, "second statement").code, 1146);
    drop(r);
    let ok: Option<i32> = conn.query_first("SELECT 42").await.unwrap();
    assert_eq!(ok, Some(42));

    // A procedure returning two result sets, called with a text query and with a prepared statement.
    conn.query_drop(
        "CREATE PROCEDURE two_sets(IN n INT)
         BEGIN
           SELECT id, v FROM m WHERE id <= n ORDER BY id;
           SELECT COUNT(*) AS c FROM m;
         END",
    )
    .await
    .unwrap();
    let mut r = conn.query_iter("CALL two_sets(1)").await.unwrap();
    let a: Vec<(i32, String)> = r.collect().await.unwrap();
    assert_eq!(a, vec![(1, "one".into())]);
    let b: Vec<i64> = r.collect().await.unwrap();
    assert_eq!(b, vec![2]);
    drop(r);
    let mut r = conn.exec_iter("CALL two_sets(?)", (2,)).await.unwrap();
    let a: Vec<(i32, String)> = r.collect().await.unwrap();
    assert_eq!(a, vec![(1, "one".into()), (2, "two".into())]);
    let b: Vec<i64> = r.collect().await.unwrap();
    assert_eq!(b, vec![2]);
    drop(r);
    let again: Vec<i32> = conn.query("SELECT id FROM m ORDER BY id").await.unwrap();
    assert_eq!(again, vec![1, 2]);
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

// ----- session state across pooled backend connections ---------------------------------------------------------

async fn scalar<T: mysql_async::prelude::FromValue + Send + 'static>(conn: &mut Conn, sql: &str) -> T {
    let row: Option<T> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}` through the proxy: {e}"));
    row.unwrap_or_else(|| panic!("`{sql}` returned no row"))
}

/// With one backend connection, two unpinned sessions used alternately share it, and each statement still sees
/// its own session's state (restored on every switch); a pinned session keeps the connection from the other.
#[tokio::test]
async fn unpinned_sessions_share_one_backend_connection_and_keep_their_own_state() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 1000))).await;
    db.exec("CREATE TABLE app.ai (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1))")
        .await;
    db.exec("CREATE TABLE other.only_in_other (x INT); INSERT INTO other.only_in_other VALUES (7)")
        .await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;

    // Multiplexing: both sessions run on the same (only) backend connection.
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        ids.insert(scalar::<u64>(&mut a, "SELECT CONNECTION_ID()").await);
        ids.insert(scalar::<u64>(&mut b, "SELECT CONNECTION_ID()").await);
    }
    assert_eq!(ids.len(), 1, "two unpinned sessions with max_open = 1 used {ids:?}");

    // Session variables, character set and current database follow each session.
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.unwrap();
    a.query_drop("SET NAMES latin1").await.unwrap();
    b.query_drop("SET SESSION group_concat_max_len = 4242").await.unwrap();
    b.query_drop("USE other").await.unwrap();
    let latin1_e_acute = "SELECT CONVERT(X'E9' USING latin1)";
    for round in 0..5 {
        assert_eq!(
            scalar::<String>(&mut a, "SELECT @@SESSION.sql_mode").await,
            "ANSI_QUOTES",
            "round {round}"
        );
        assert_eq!(
            scalar::<Vec<u8>>(&mut a, latin1_e_acute).await,
            vec![0xE9],
            "a: latin1 results"
        );
        assert_eq!(
            scalar::<String>(&mut a, "SELECT @@character_set_client").await,
            "latin1"
        );
        assert_eq!(scalar::<String>(&mut a, "SELECT DATABASE()").await, "app");
        // ANSI_QUOTES: "id" is a column, not a string.
        assert_eq!(scalar::<i64>(&mut a, "SELECT COUNT(\"id\") FROM ai").await, 0);

        let mode = scalar::<String>(&mut b, "SELECT @@SESSION.sql_mode").await;
        assert!(!mode.contains("ANSI_QUOTES"), "b sees a's sql_mode: {mode}");
        assert_eq!(
            scalar::<u64>(&mut b, "SELECT @@SESSION.group_concat_max_len").await,
            4242
        );
        assert_eq!(
            scalar::<Vec<u8>>(&mut b, latin1_e_acute).await,
            vec![0xC3, 0xA9],
            "b: utf8mb4 results"
        );
        assert_eq!(scalar::<String>(&mut b, "SELECT DATABASE()").await, "other");
        assert_eq!(scalar::<i32>(&mut b, "SELECT x FROM only_in_other").await, 7);
        assert_ne!(
            scalar::<u64>(&mut a, "SELECT @@SESSION.group_concat_max_len").await,
            4242
        );
    }
    assert_eq!(
        scalar::<u64>(&mut a, "SELECT CONNECTION_ID()").await,
        *ids.first().unwrap()
    );

    // LAST_INSERT_ID() is the session's own, although the other session inserted on the same connection since.
    b.query_drop("USE app").await.unwrap();
    a.query_drop("INSERT INTO ai (who) VALUES ('a')").await.unwrap();
    let a_id = a.last_insert_id().unwrap();
    b.query_drop("INSERT INTO ai (who) VALUES ('b')").await.unwrap();
    let b_id = b.last_insert_id().unwrap();
    assert_ne!(a_id, b_id);
    assert_eq!(scalar::<u64>(&mut a, "SELECT LAST_INSERT_ID()").await, a_id);
    assert_eq!(scalar::<u64>(&mut b, "SELECT LAST_INSERT_ID()").await, b_id);
    assert_eq!(scalar::<u64>(&mut a, "SELECT LAST_INSERT_ID()").await, a_id);

    // A transaction pins the only connection: the other session waits and gets an error after the checkout
    // timeout; once the transaction ends it runs again.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("INSERT INTO ai (who) VALUES ('t')").await.unwrap();
    let e = expect_err(
        b.query_drop("SELECT 1").await,
        1040,
        "08004",
        "statement while the only connection is pinned",
    );
    assert!(e.message.starts_with("shardgate:"), "{e:?}");
    a.query_drop("COMMIT").await.unwrap();
    assert_eq!(scalar::<i64>(&mut b, "SELECT COUNT(*) FROM ai").await, 3);
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

/// Many sessions with different session variables run concurrently over a small pool: every statement sees its
/// own session's values while the sessions move between backend connections.
#[tokio::test]
async fn session_variables_follow_sessions_across_a_churning_pool() {
    const SESSIONS: usize = 8;
    const MAX_OPEN: usize = 3;
    let (_db, proxy) = setup(|c| c.pool(pool(MAX_OPEN as u64, 10_000))).await;
    let proxy = Arc::new(proxy);
    let mut tasks = Vec::new();
    for s in 0..SESSIONS {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = app_conn(&proxy).await;
            let mode = if s % 2 == 0 {
                "ANSI_QUOTES"
            } else {
                "NO_ENGINE_SUBSTITUTION"
            };
            conn.query_drop(format!("SET SESSION sql_mode = '{mode}'"))
                .await
                .unwrap();
            conn.query_drop(format!("SET SESSION group_concat_max_len = {}", 10_000 + s))
                .await
                .unwrap();
            if s % 3 == 0 {
                conn.query_drop("USE other").await.unwrap();
            }
            let db = if s % 3 == 0 { "other" } else { "app" };
            let mut seen = BTreeSet::new();
            for i in 0..40 {
                let row: (u64, String, u64, String) = conn
                    .query_first(
                        "SELECT CONNECTION_ID(), @@SESSION.sql_mode, @@SESSION.group_concat_max_len, DATABASE()",
                    )
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (row.1.as_str(), row.2, row.3.as_str()),
                    (mode, 10_000 + s as u64, db),
                    "session {s}, statement {i}"
                );
                seen.insert(row.0);
            }
            conn.disconnect().await.unwrap();
            seen
        }));
    }
    let mut all = BTreeSet::new();
    let mut moves = 0;
    for t in tasks {
        let seen = t.await.unwrap();
        moves += seen.len() - 1;
        all.extend(seen);
    }
    assert!(all.len() <= MAX_OPEN, "more backend connections than max_open: {all:?}");
    assert!(
        moves > 0,
        "no session ever changed backend connection; the test proved nothing"
    );
    assert_no_panic(&proxy);
}

#[tokio::test]
async fn autocommit_transactions_user_variables_and_temporary_tables() {
    let (db, proxy) = setup(|c| c.pool(pool(4, 10_000))).await;
    db.exec("CREATE TABLE app.tx (id INT PRIMARY KEY) ENGINE=InnoDB").await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;
    let count = "SELECT COUNT(*) FROM tx";

    // Churn: other sessions keep checking connections out and in while `a` works.
    let stop = Arc::new(AtomicBool::new(false));
    let proxy = Arc::new(proxy);
    let mut churners = Vec::new();
    for _ in 0..3 {
        let (proxy, stop) = (proxy.clone(), stop.clone());
        churners.push(tokio::spawn(async move {
            let mut c = app_conn(&proxy).await;
            for _ in 0..100_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _: Option<i64> = c.query_first("SELECT COUNT(*) FROM tx").await.unwrap();
            }
            c.disconnect().await.unwrap();
        }));
    }

    // autocommit=0: nothing is visible elsewhere until COMMIT; ROLLBACK leaves nothing.
    a.query_drop("SET autocommit = 0").await.unwrap();
    a.query_drop("INSERT INTO tx VALUES (1)").await.unwrap();
    for _ in 0..5 {
        assert_eq!(scalar::<i64>(&mut a, count).await, 1);
    }
    assert_eq!(scalar::<i64>(&mut b, count).await, 0);
    assert_eq!(db.query_first::<i64>("SELECT COUNT(*) FROM app.tx").await, Some(0));
    a.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(scalar::<i64>(&mut a, count).await, 0);
    a.query_drop("INSERT INTO tx VALUES (2)").await.unwrap();
    a.query_drop("COMMIT").await.unwrap();
    assert_eq!(scalar::<i64>(&mut b, count).await, 1);
    a.query_drop("SET autocommit = 1").await.unwrap();
    a.query_drop("INSERT INTO tx VALUES (3)").await.unwrap();
    assert_eq!(scalar::<i64>(&mut b, count).await, 2, "autocommit=1 again");

    // BEGIN ... COMMIT / ROLLBACK.
    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("INSERT INTO tx VALUES (4)").await.unwrap();
    for _ in 0..5 {
        assert_eq!(scalar::<i64>(&mut a, "SELECT COUNT(*) FROM tx WHERE id = 4").await, 1);
    }
    assert_eq!(scalar::<i64>(&mut b, "SELECT COUNT(*) FROM tx WHERE id = 4").await, 0);
    a.query_drop("COMMIT").await.unwrap();
    assert_eq!(scalar::<i64>(&mut b, "SELECT COUNT(*) FROM tx WHERE id = 4").await, 1);
    a.query_drop("START TRANSACTION").await.unwrap();
    a.query_drop("INSERT INTO tx VALUES (5)").await.unwrap();
    a.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(
        db.query::<i32>("SELECT id FROM app.tx ORDER BY id").await,
        vec![2, 3, 4]
    );

    // User variables stay with the session.
    a.query_drop("SET @x = 5").await.unwrap();
    for _ in 0..10 {
        assert_eq!(scalar::<i64>(&mut a, "SELECT @x").await, 5);
    }
    assert_eq!(
        scalar::<Option<i64>>(&mut b, "SELECT @x").await,
        None,
        "b sees a's user variable"
    );
    a.query_drop("SET @x = @x + 1").await.unwrap();
    assert_eq!(scalar::<i64>(&mut a, "SELECT @x").await, 6);

    // Temporary tables survive across statements and are private.
    b.query_drop("CREATE TEMPORARY TABLE tmp (v INT)").await.unwrap();
    b.query_drop("INSERT INTO tmp VALUES (1), (2)").await.unwrap();
    b.query_drop("INSERT INTO tmp VALUES (3)").await.unwrap();
    for _ in 0..10 {
        assert_eq!(scalar::<i64>(&mut b, "SELECT SUM(v) FROM tmp").await, 6);
    }
    expect_err(
        a.query_drop("SELECT * FROM tmp").await,
        1146,
        "42S02",
        "another session's temp table",
    );

    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.await.unwrap();
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

/// LAST_INSERT_ID() of each session while all sessions insert concurrently over a small pool.
#[tokio::test]
async fn last_insert_id_is_per_session_while_the_pool_churns() {
    let (db, proxy) = setup(|c| c.pool(pool(2, 10_000))).await;
    db.exec("CREATE TABLE app.ai (id BIGINT AUTO_INCREMENT PRIMARY KEY, who INT NOT NULL)")
        .await;
    let proxy = Arc::new(proxy);
    let mut tasks = Vec::new();
    for s in 0..6i32 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = app_conn(&proxy).await;
            for i in 0..30 {
                conn.query_drop(format!("INSERT INTO ai (who) VALUES ({s})"))
                    .await
                    .unwrap();
                let id = conn.last_insert_id().expect("insert id in the OK packet");
                // Other sessions' statements in between.
                tokio::task::yield_now().await;
                let got: u64 = scalar(&mut conn, "SELECT LAST_INSERT_ID()").await;
                assert_eq!(got, id, "session {s}, insert {i}");
                let who: i32 = scalar(&mut conn, &format!("SELECT who FROM ai WHERE id = {got}")).await;
                assert_eq!(who, s);
            }
            conn.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(db.query_first::<i64>("SELECT COUNT(*) FROM app.ai").await, Some(180));
    assert_no_panic(&proxy);
}

// ----- databases, login errors, session commands --------------------------------------------------------------

#[tokio::test]
async fn show_databases_use_and_login_errors() {
    let (db, proxy) = setup(|c| c).await;
    // Databases on the server that are not keyspaces must not be listed.
    db.exec("CREATE DATABASE not_a_keyspace").await;
    let mut conn = app_conn(&proxy).await;
    let all: Vec<String> = conn.query("SHOW DATABASES").await.unwrap();
    assert_eq!(all, vec!["app", "information_schema", "other"]);
    let rows: Vec<Row> = conn.query("SHOW DATABASES").await.unwrap();
    assert_eq!(rows[0].columns_ref()[0].name_str(), "Database");
    let like: Vec<String> = conn.query("SHOW DATABASES LIKE 'o%'").await.unwrap();
    assert_eq!(like, vec!["other"]);
    let like: Vec<String> = conn.query("show schemas like '%p_'").await.unwrap();
    assert_eq!(like, vec!["app"]);
    let none: Vec<String> = conn.query("SHOW DATABASES LIKE 'zzz%'").await.unwrap();
    assert!(none.is_empty());

    conn.query_drop("USE other").await.unwrap();
    assert_eq!(scalar::<String>(&mut conn, "SELECT DATABASE()").await, "other");
    conn.query_drop("USE `app`").await.unwrap();
    assert_eq!(scalar::<String>(&mut conn, "SELECT DATABASE()").await, "app");
    let e = expect_err(
        conn.query_drop("USE not_a_keyspace").await,
        1049,
        "42000",
        "USE unknown",
    );
    assert!(e.message.contains("not_a_keyspace"), "{e:?}");
    assert_eq!(
        scalar::<String>(&mut conn, "SELECT DATABASE()").await,
        "app",
        "failed USE keeps the database"
    );
    conn.query_drop("USE information_schema").await.unwrap();
    assert!(scalar::<i64>(&mut conn, "SELECT COUNT(*) FROM SCHEMATA").await >= 1);
    conn.disconnect().await.unwrap();

    // Connecting without a database works; with an unknown one it is refused.
    let mut nodb = proxy.conn(USER, PASS, None).await;
    assert_eq!(scalar::<i32>(&mut nodb, "SELECT 1").await, 1);
    nodb.disconnect().await.unwrap();
    let mut with_db = proxy.conn(USER, PASS, Some("other")).await;
    assert_eq!(scalar::<String>(&mut with_db, "SELECT DATABASE()").await, "other");
    with_db.disconnect().await.unwrap();
    expect_err(
        proxy.try_conn(USER, PASS, Some("nope")).await,
        1049,
        "42000",
        "connect with an unknown database",
    );
    let e = expect_err(
        proxy.try_conn(USER, "wrong", Some("app")).await,
        1045,
        "28000",
        "wrong password",
    );
    assert!(e.message.contains("Access denied for user 'app'"), "{e:?}");
    expect_err(
        proxy.try_conn("nobody", PASS, None).await,
        1045,
        "28000",
        "unknown user",
    );
    expect_err(
        proxy.try_conn(USER, "", None).await,
        1045,
        "28000",
        "empty password for a user that has one",
    );

    // COM_INIT_DB, sent by hand.
    let mut raw = Raw::logged_in(&proxy.classic_addr()).await;
    let mut init_db = vec![0x02];
    init_db.extend_from_slice(b"other");
    assert_eq!(raw.command(&init_db).await, Reply::Ok { seq: 1 });
    assert_eq!(raw.query_scalar("SELECT DATABASE()").await, "other");
    let mut bad = vec![0x02];
    bad.extend_from_slice(b"nope");
    let reply = raw.command(&bad).await;
    assert!(
        matches!(&reply, Reply::Err { seq: 1, code: 1049, state, .. } if state == "42000"),
        "{reply:?}"
    );
    assert_eq!(raw.query_scalar("SELECT DATABASE()").await, "other");
    assert_no_panic(&proxy);
}

#[tokio::test]
async fn reset_connection_change_user_and_ping() {
    let (_db, proxy) = setup(|c| c.user("second", "second-pw")).await;
    let mut conn = app_conn(&proxy).await;
    conn.ping().await.unwrap();

    conn.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.unwrap();
    conn.query_drop("SET @v = 'kept?'").await.unwrap();
    conn.query_drop("CREATE TEMPORARY TABLE tmp (x INT)").await.unwrap();
    conn.query_drop("USE other").await.unwrap();
    assert_eq!(scalar::<String>(&mut conn, "SELECT @v").await, "kept?");
    assert!(conn.reset().await.unwrap(), "COM_RESET_CONNECTION not supported");
    assert_eq!(
        scalar::<Option<String>>(&mut conn, "SELECT @v").await,
        None,
        "user variable after reset"
    );
    let mode = scalar::<String>(&mut conn, "SELECT @@SESSION.sql_mode").await;
    assert!(!mode.contains("ANSI_QUOTES"), "sql_mode after reset: {mode}");
    expect_err(
        conn.query_drop("SELECT * FROM tmp").await,
        1146,
        "42S02",
        "temp table after reset",
    );
    // COM_RESET_CONNECTION keeps the current database.
    assert_eq!(scalar::<String>(&mut conn, "SELECT DATABASE()").await, "other");
    conn.ping().await.unwrap();

    // COM_CHANGE_USER to another proxy user: state is reset, the new database applies.
    conn.query_drop("SET @v = 1").await.unwrap();
    conn.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.unwrap();
    conn.change_user(
        ChangeUserOpts::default()
            .with_user(Some("second".into()))
            .with_pass(Some("second-pw".into()))
            .with_db_name(Some("app".into())),
    )
    .await
    .expect("COM_CHANGE_USER to another proxy user");
    assert_eq!(scalar::<Option<i64>>(&mut conn, "SELECT @v").await, None);
    assert_eq!(scalar::<String>(&mut conn, "SELECT DATABASE()").await, "app");
    let mode = scalar::<String>(&mut conn, "SELECT @@SESSION.sql_mode").await;
    assert!(!mode.contains("ANSI_QUOTES"), "sql_mode after change_user: {mode}");
    conn.ping().await.unwrap();
    assert!(
        proxy.log().contains("user=second"),
        "the proxy did not log the new user"
    );
    // And back.
    conn.change_user(
        ChangeUserOpts::default()
            .with_user(Some(USER.into()))
            .with_pass(Some(PASS.into())),
    )
    .await
    .expect("COM_CHANGE_USER back");
    assert_eq!(scalar::<i32>(&mut conn, "SELECT 5").await, 5);

    // A wrong password is refused (and, as on MySQL, ends the connection).
    let r = conn
        .change_user(
            ChangeUserOpts::default()
                .with_user(Some("second".into()))
                .with_pass(Some("wrong".into())),
        )
        .await;
    expect_err(r, 1045, "28000", "change_user with a wrong password");
    let mut other = app_conn(&proxy).await;
    assert_eq!(scalar::<i32>(&mut other, "SELECT 6").await, 6);
    other.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

/// A session that selected no database must not run in the database another session left on the shared backend
/// connection: MySQL says DATABASE() is NULL and unqualified names fail with 1046 "No database selected".
#[tokio::test]
async fn a_session_without_a_database_does_not_inherit_one() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 5000))).await;
    db.exec("CREATE TABLE other.only_in_other (x INT); INSERT INTO other.only_in_other VALUES (7)")
        .await;
    let mut with_db = proxy.conn(USER, PASS, Some("other")).await;
    assert_eq!(scalar::<i32>(&mut with_db, "SELECT x FROM only_in_other").await, 7);
    let mut no_db = proxy.conn(USER, PASS, None).await;
    assert_eq!(
        scalar::<Option<String>>(&mut no_db, "SELECT DATABASE()").await,
        None,
        "a session that selected no database sees one"
    );
    expect_err(
        no_db.query_drop("SELECT x FROM only_in_other").await,
        1046,
        "3D000",
        "unqualified table name without a current database",
    );
    with_db.disconnect().await.unwrap();
    no_db.disconnect().await.unwrap();
}

// ----- authentication and TLS -----------------------------------------------------------------------------------

/// Connects with `opts`; panics if that takes longer than 10 s.
async fn connect(opts: OptsBuilder) -> Result<Conn, mysql_async::Error> {
    tokio::time::timeout(WAIT, Conn::new(opts))
        .await
        .unwrap_or_else(|_| panic!("login hangs"))
}

/// Logs in as `user`/`pw` (optionally over TLS) and runs a statement; the server error if refused.
async fn login(
    proxy: &Proxy,
    user: &str,
    pw: &str,
    ssl: Option<mysql_async::SslOpts>,
) -> Result<(), mysql_async::Error> {
    let mut conn = connect(proxy.opts(user, pw).db_name(Some("app")).ssl_opts(ssl)).await?;
    let one: Option<i32> = conn.query_first("SELECT 1").await?;
    assert_eq!(one, Some(1));
    conn.disconnect().await?;
    Ok(())
}

#[track_caller]
fn assert_denied(r: Result<(), mysql_async::Error>, what: &str) {
    expect_err(r, 1045, "28000", what);
}

/// Users with `mysql_native_password`, `caching_sha2_password` (first login: full authentication with the RSA key
/// exchange, as there is no TLS; then the fast path) and a `password_hash`, with either plugin announced in the
/// greeting.
#[tokio::test]
async fn native_and_caching_sha2_password_logins_without_tls() {
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app").await;
    let hash: String = db.query_first("SELECT PASSWORD('hashed-pw')").await.unwrap();
    for greeting_plugin in ["mysql_native_password", "caching_sha2_password"] {
        let cfg = ProxyConfig::new(two_keyspace_map(&db))
            .user_with_plugin("nat", "nat-pw", "mysql_native_password")
            .user_with_plugin("sha", "sha-pw", "caching_sha2_password")
            .user_with_plugin("sha_new", "sha-new-pw", "caching_sha2_password")
            .user_with_plugin("empty_sha", "", "caching_sha2_password")
            .add_user(ProxyUser {
                name: "hashed".into(),
                secret: UserSecret::Hash(hash.clone()),
                auth_plugin: "mysql_native_password".into(),
            })
            .proxy_line(format!("default_auth_plugin = \"{greeting_plugin}\""));
        db.exec("CREATE DATABASE IF NOT EXISTS other").await;
        let proxy = Proxy::start(cfg).await;
        let ctx = |what: &str| format!("{what} (greeting announces {greeting_plugin})");

        login(&proxy, "nat", "nat-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("native login")));
        assert_denied(
            login(&proxy, "nat", "nat-pw2", None).await,
            &ctx("native, wrong password"),
        );
        login(&proxy, "hashed", "hashed-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("password_hash login")));
        assert_denied(
            login(&proxy, "hashed", "hashed", None).await,
            &ctx("password_hash, wrong password"),
        );

        // A wrong password on the full-authentication path (nothing cached yet).
        assert_denied(
            login(&proxy, "sha", "nope", None).await,
            &ctx("sha2 full auth, wrong password"),
        );
        login(&proxy, "sha", "sha-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("sha2 first login (full auth via RSA)")));
        login(&proxy, "sha", "sha-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("sha2 second login (fast path)")));
        assert_denied(
            login(&proxy, "sha", "sha-pw-", None).await,
            &ctx("sha2 fast path, wrong password"),
        );
        login(&proxy, "sha", "sha-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("sha2 after a failure")));
        login(&proxy, "sha_new", "sha-new-pw", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("second sha2 user")));
        login(&proxy, "empty_sha", "", None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", ctx("sha2 user with an empty password")));
        assert_denied(
            login(&proxy, "empty_sha", "x", None).await,
            &ctx("sha2 empty password, given one"),
        );
        // Concurrent first logins of a fresh proxy user all succeed.
        let mut tasks = Vec::new();
        let proxy = Arc::new(proxy);
        for _ in 0..8 {
            let proxy = proxy.clone();
            tasks.push(tokio::spawn(async move {
                login(&proxy, "sha_new", "sha-new-pw", None).await
            }));
        }
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{}: {e}", ctx("concurrent sha2 logins")));
        }
        let metrics = proxy.metrics().await;
        assert!(
            metrics.contains("shardgate_client_auth_failures_total 5\n"),
            "{}",
            ctx("five refused logins counted")
        );
        assert_no_panic(&proxy);
    }
}

#[tokio::test]
async fn tls_logins_with_both_plugins_and_require() {
    let tls = TlsFiles::generate();
    let db = MariaDb::start().await;
    db.exec("CREATE DATABASE app; CREATE DATABASE other").await;
    let users = |c: ProxyConfig| {
        c.user_with_plugin("nat", "nat-pw", "mysql_native_password")
            .user_with_plugin("sha", "sha-pw", "caching_sha2_password")
    };

    let proxy = Proxy::start(users(ProxyConfig::new(two_keyspace_map(&db))).tls_files(&tls, false)).await;
    let ssl = || Some(tls.client_ssl_opts());
    login(&proxy, "nat", "nat-pw", ssl()).await.expect("native over TLS");
    // caching_sha2 first login over TLS: full authentication with the clear password inside TLS.
    login(&proxy, "sha", "sha-pw", ssl())
        .await
        .expect("sha2 full auth over TLS");
    login(&proxy, "sha", "sha-pw", ssl())
        .await
        .expect("sha2 fast path over TLS");
    assert_denied(
        login(&proxy, "sha", "bad", ssl()).await,
        "sha2 over TLS, wrong password",
    );
    assert_denied(
        login(&proxy, "nat", "bad", ssl()).await,
        "native over TLS, wrong password",
    );
    // Plain connections are still accepted when TLS is optional.
    login(&proxy, "nat", "nat-pw", None)
        .await
        .expect("plain login, TLS optional");
    assert!(proxy.log().contains("tls=true"), "the proxy logged no TLS session");
    // A client that trusts another CA refuses the proxy's certificate.
    let other_ca = TlsFiles::generate();
    let r = login(&proxy, "nat", "nat-pw", Some(other_ca.client_ssl_opts())).await;
    assert!(r.is_err(), "a certificate from an untrusted CA was accepted");
    // Large results over TLS.
    let opts = proxy.opts("nat", "nat-pw").db_name(Some("app")).ssl_opts(ssl());
    let mut conn = connect(opts).await.unwrap();
    let big: String = scalar(&mut conn, "SELECT REPEAT('x', 5000000)").await;
    assert_eq!(big.len(), 5_000_000);
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
    drop(proxy);

    let required = Proxy::start(users(ProxyConfig::new(two_keyspace_map(&db))).tls_files(&tls, true)).await;
    let e = expect_err(
        login(&required, "nat", "nat-pw", None).await,
        3159,
        "HY000",
        "plain login with [tls] require = true",
    );
    assert!(e.message.contains("TLS") || e.message.contains("insecure"), "{e:?}");
    login(&required, "nat", "nat-pw", ssl())
        .await
        .expect("native, TLS required");
    login(&required, "sha", "sha-pw", ssl())
        .await
        .expect("sha2 full auth, TLS required");
    login(&required, "sha", "sha-pw", ssl())
        .await
        .expect("sha2 fast path, TLS required");
    assert_no_panic(&required);
}

/// A client may send its TLS ClientHello right behind the SSLRequest, without waiting (the protocol has no reply
/// to an SSLRequest), so both can arrive in one TCP segment; the server must then start TLS with the bytes it
/// already has. Made deterministic here by buffering the SSLRequest until the ClientHello is flushed with it.
#[tokio::test]
async fn tls_client_hello_in_the_same_segment_as_the_ssl_request() {
    let tls = TlsFiles::generate();
    let (_db, proxy) = setup(|c| c.tls_files(&tls, false)).await;

    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(&tls.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    for same_segment in [false, true] {
        let mut tcp = tokio::time::timeout(WAIT, TcpStream::connect(proxy.classic_addr()))
            .await
            .unwrap()
            .unwrap();
        let (seq, greeting) = read_packet(&mut tcp).await.expect("greeting");
        assert_eq!((seq, greeting[0]), (0, 10));
        let mut ssl_request = vec![32, 0, 0, 1];
        ssl_request.extend_from_slice(&handshake_prefix(RAW_CAPS | CLIENT_SSL | 0x8));
        // Unflushed, the SSLRequest leaves together with the ClientHello; flushed, it leaves alone.
        let mut buffered = tokio::io::BufWriter::new(tcp);
        buffered.write_all(&ssl_request).await.unwrap();
        if !same_segment {
            buffered.flush().await.unwrap();
            // Let the proxy read the SSLRequest alone (not needed for correctness, only to vary the case).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls_stream = tokio::time::timeout(WAIT, connector.connect(name, buffered))
            .await
            .unwrap_or_else(|_| panic!("TLS handshake hangs (same segment: {same_segment})"))
            .unwrap_or_else(|e| {
                panic!(
                    "TLS handshake failed (SSLRequest and ClientHello in the same segment: {same_segment}): {e}\n{}",
                    proxy.log_tail(2)
                )
            });
        let mut raw = Raw {
            s: Box::new(tls_stream),
        };
        raw.write_packet(2, &handshake_response(CLIENT_SSL, RAW_USER, Some("app")))
            .await;
        assert_eq!(raw.read_reply().await, Reply::Ok { seq: 3 }, "login over TLS");
        assert_eq!(raw.query_scalar("SELECT 'over tls'").await, "over tls");
    }
    assert_no_panic(&proxy);
}

// ----- protocol abuse with hand-written packets ---------------------------------------------------------------

/// A normal client still works.
async fn still_serving(proxy: &Proxy, after: &str) {
    let mut conn = tokio::time::timeout(WAIT, proxy.try_conn(USER, PASS, Some("app")))
        .await
        .unwrap_or_else(|_| panic!("after {after}: login hangs"))
        .unwrap_or_else(|e| panic!("after {after}: login failed: {e}"));
    let v: i32 = scalar(&mut conn, "SELECT 41 + 1").await;
    assert_eq!(v, 42, "after {after}");
    conn.disconnect().await.unwrap();
    assert_no_panic(proxy);
}

#[tokio::test]
async fn malformed_client_traffic_gets_an_error_or_a_close_and_never_hurts_others() {
    const MAX_PACKET: usize = 1 << 20;
    let (db, mut proxy) = setup(|c| c.proxy_line(format!("max_packet_size = {MAX_PACKET}"))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY, name VARCHAR(20))")
        .await;
    let addr = proxy.classic_addr();
    // A normal session open all along.
    let mut bystander = app_conn(&proxy).await;

    // 1. Garbage instead of a handshake response (framed, 8 bytes: too short for one).
    let mut raw = Raw::connect(&addr).await;
    raw.read_packet().await.expect("greeting");
    raw.write_packet(1, b"garbage!").await;
    let reply = raw.read_reply().await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { .. }),
        "garbage handshake response: {reply:?}"
    );
    assert!(
        raw.is_closed().await,
        "garbage handshake response: connection left open"
    );
    still_serving(&proxy, "a garbage handshake response").await;

    // 2. Unframed bytes (a TLS ClientHello-like prefix), then end of stream.
    let mut raw = Raw::connect(&addr).await;
    raw.read_packet().await.expect("greeting");
    raw.write_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not mysql at all")
        .await;
    raw.s.shutdown().await.unwrap();
    assert!(raw.is_closed().await, "unframed garbage then EOF: connection left open");
    still_serving(&proxy, "unframed garbage").await;

    // 3. A truncated handshake response, then close.
    let mut raw = Raw::connect(&addr).await;
    raw.read_packet().await.expect("greeting");
    raw.write_raw(&[100, 0, 0, 1, 1, 2, 3, 4, 5]).await;
    drop(raw);
    still_serving(&proxy, "a truncated handshake response").await;

    // 4. A handshake packet header announcing more than max_packet_size.
    let mut raw = Raw::connect(&addr).await;
    raw.read_packet().await.expect("greeting");
    raw.write_raw(&[0xff, 0xff, 0xff, 1, 0, 0, 0, 0]).await;
    let reply = raw.read_reply().await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { .. }),
        "oversized login packet: {reply:?}"
    );
    assert!(raw.is_closed().await, "oversized login packet: connection left open");
    still_serving(&proxy, "an oversized login packet").await;

    // 5. A command packet truncated by a close.
    let mut raw = Raw::logged_in(&addr).await;
    raw.write_raw(&[50, 0, 0, 0, 3, b'S', b'E', b'L']).await;
    drop(raw);
    still_serving(&proxy, "a truncated command").await;

    // 6. A command header announcing more than max_packet_size: ER_NET_PACKET_TOO_LARGE, then close.
    let mut raw = Raw::logged_in(&addr).await;
    let len = (MAX_PACKET + 1) as u32;
    let mut p = len.to_le_bytes()[..3].to_vec();
    p.extend_from_slice(&[0, 3, b'S', b'E', b'L', b'E', b'C', b'T']);
    raw.write_raw(&p).await;
    let reply = raw.read_reply().await;
    assert_err_reply(&reply, 1153, "command larger than max_packet_size");
    assert!(raw.is_closed().await, "oversized command: connection left open");
    still_serving(&proxy, "an oversized command").await;

    // 7. Unknown command bytes: ER_UNKNOWN_COM_ERROR, and the connection stays usable.
    let mut raw = Raw::logged_in(&addr).await;
    for cmd in [0x99u8, 0x00, 0x20, 0xff] {
        let reply = raw.command(&[cmd, 1, 2, 3]).await;
        match &reply {
            Reply::Err { seq: 1, code: 1047, .. } => {}
            other => panic!("unknown command 0x{cmd:02x}: expected ERR 1047 with sequence id 1, got {other:?}"),
        }
        assert_eq!(raw.query_scalar("SELECT 7").await, "7", "after command 0x{cmd:02x}");
    }

    // 8. Prepared-statement commands with unknown or missing statement ids.
    let mut exec = vec![0x17];
    exec.extend_from_slice(&12345u32.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
    assert_err_reply(
        &raw.command(&exec).await,
        1243,
        "COM_STMT_EXECUTE of an unknown statement",
    );
    assert_err_reply(
        &raw.command(&[0x17, 1]).await,
        1835,
        "COM_STMT_EXECUTE without a statement id",
    );
    assert_err_reply(
        &raw.command(&[0x1a, 9, 9, 9, 9]).await,
        1243,
        "COM_STMT_RESET of an unknown statement",
    );
    // COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA have no reply; the next query's reply must be its own.
    raw.write_packet(0, &[0x19, 1, 2, 3, 4]).await;
    raw.write_packet(0, &[0x18, 1, 2, 3, 4, 0, 0, b'x']).await;
    assert_eq!(raw.query_scalar("SELECT 8").await, "8");

    // 9. A prepared statement by hand: prepare, execute twice, close, execute again (unknown now).
    let mut prep = vec![0x16];
    prep.extend_from_slice(b"SELECT 'prepared'");
    raw.write_packet(0, &prep).await;
    let (_, ok) = raw.read_packet().await.expect("prepare reply");
    assert_eq!(ok[0], 0x00, "COM_STMT_PREPARE: {ok:?}");
    let id = u32::from_le_bytes(ok[1..5].try_into().unwrap());
    let columns = u16::from_le_bytes([ok[5], ok[6]]);
    let params = u16::from_le_bytes([ok[7], ok[8]]);
    assert_eq!((columns, params), (1, 0));
    raw.read_packet().await.expect("column definition");
    assert_eq!(raw.read_packet().await.expect("EOF").1[0], 0xfe);
    let mut exec = vec![0x17];
    exec.extend_from_slice(&id.to_le_bytes());
    exec.extend_from_slice(&[0, 1, 0, 0, 0]);
    for _ in 0..2 {
        match raw.command(&exec).await {
            Reply::Rows { columns: 1, rows } => {
                assert_eq!(rows.len(), 1);
                assert!(rows[0].ends_with(b"prepared"), "{:?}", rows[0]);
            }
            other => panic!("COM_STMT_EXECUTE: {other:?}"),
        }
    }
    let mut close = vec![0x19];
    close.extend_from_slice(&id.to_le_bytes());
    raw.write_packet(0, &close).await;
    assert_err_reply(&raw.command(&exec).await, 1243, "execute after COM_STMT_CLOSE");
    assert_eq!(raw.query_scalar("SELECT 9").await, "9");

    // 10. Other commands: empty query, COM_PING, COM_FIELD_LIST, COM_STATISTICS.
    assert_err_reply(&raw.query("").await, 1065, "empty query");
    assert_eq!(raw.command(&[0x0e]).await, Reply::Ok { seq: 1 }, "COM_PING");
    raw.write_packet(0, b"\x04t\0").await;
    let mut names = Vec::new();
    loop {
        let (_, p) = raw.read_packet().await.expect("COM_FIELD_LIST reply");
        assert_ne!(p[0], 0xff, "COM_FIELD_LIST failed: {}", String::from_utf8_lossy(&p));
        if p[0] == 0xfe && p.len() < 9 {
            break;
        }
        names.push(p);
        assert!(names.len() <= 2, "COM_FIELD_LIST: more columns than the table has");
    }
    assert_eq!(names.len(), 2, "COM_FIELD_LIST of a two-column table");
    raw.write_packet(0, &[0x09]).await;
    let (seq, stats) = raw.read_packet().await.expect("COM_STATISTICS reply");
    assert_eq!(seq, 1);
    assert!(
        stats.starts_with(b"Uptime"),
        "COM_STATISTICS: {}",
        String::from_utf8_lossy(&stats)
    );
    assert_eq!(raw.query_scalar("SELECT 10").await, "10");

    // 11. A command whose sequence id is not 0: ER_NET_PACKETS_OUT_OF_ORDER (or a close).
    raw.write_packet(5, b"\x03SELECT 1").await;
    let reply = raw.read_reply().await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { code: 1156, .. }),
        "command with sequence id 5: {reply:?}"
    );
    assert!(
        raw.is_closed().await,
        "command with sequence id 5: connection left open"
    );
    still_serving(&proxy, "a command with sequence id 5").await;

    // 12. An empty command packet; a malformed COM_CHANGE_USER; COM_QUIT.
    let mut raw = Raw::logged_in(&addr).await;
    raw.write_packet(0, b"").await;
    let reply = raw.read_reply().await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { .. }),
        "empty command: {reply:?}"
    );
    let mut raw = Raw::logged_in(&addr).await;
    let reply = raw.command(b"\x11no-terminator").await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { .. }),
        "malformed COM_CHANGE_USER: {reply:?}"
    );
    let mut raw = Raw::logged_in(&addr).await;
    raw.write_packet(0, &[0x01]).await;
    assert!(raw.is_closed().await, "COM_QUIT: connection left open");

    // 13. A client that sends nothing after connecting, and one that claims no protocol 4.1.
    let mut raw = Raw::connect(&addr).await;
    raw.read_packet().await.expect("greeting");
    let mut p = vec![0u8; 32];
    p[0] = 0x01; // LONG_PASSWORD only
    p.extend_from_slice(b"raw\0\0");
    raw.write_packet(1, &p).await;
    let reply = raw.read_reply().await;
    assert!(
        matches!(reply, Reply::Closed | Reply::Err { .. }),
        "pre-4.1 client: {reply:?}"
    );

    // The bystander's session was never disturbed.
    let v: i32 = scalar(&mut bystander, "SELECT 99").await;
    assert_eq!(v, 99);
    bystander.disconnect().await.unwrap();
    still_serving(&proxy, "all of the above").await;
    assert!(proxy.is_running(), "the proxy exited");
}

// ----- the backend dying --------------------------------------------------------------------------------------

/// Options that make `mysql_async` log in without running a statement (it would otherwise read
/// `@@max_allowed_packet` through the proxy, which needs a backend).
fn offline_opts(proxy: &Proxy) -> OptsBuilder {
    proxy
        .opts(USER, PASS)
        .db_name(Some("app"))
        .max_allowed_packet(Some(64 << 20))
        .wait_timeout(Some(28800))
}

#[tokio::test]
async fn backend_killed_mid_query_then_restarted() {
    let (mut db, proxy) = setup(|c| c).await;
    let mut conn = app_conn(&proxy).await;
    let mut conn2 = app_conn(&proxy).await;
    assert_eq!(scalar::<i32>(&mut conn2, "SELECT 1").await, 1);

    let sleeper = tokio::spawn(async move {
        let r = conn.query_drop("SELECT SLEEP(30)").await;
        (conn, r)
    });
    // Wait until the statement runs on the backend.
    let running = db.wait_for_statement("SELECT SLEEP(30)", WAIT).await;
    assert!(running.is_some(), "SELECT SLEEP(30) never showed up on the backend");
    db.kill();

    let (mut conn, r) = tokio::time::timeout(WAIT, sleeper)
        .await
        .expect("the client got no answer within 10 s of the backend's death")
        .unwrap();
    let e = expect_err(r, 1158, "08S01", "statement whose backend died");
    assert!(e.message.contains(&db.addr()), "{e:?}");

    // Backend down at statement time: a clear error, on the old session and on a new one.
    let e = expect_err(
        conn.query_drop("SELECT 1").await,
        1429,
        "HY000",
        "statement while the backend is down",
    );
    assert!(e.message.contains(&db.addr()), "{e:?}");
    let mut fresh = tokio::time::timeout(WAIT, Conn::new(offline_opts(&proxy)))
        .await
        .expect("login hangs while the backend is down")
        .expect("login does not need the backend");
    expect_err(
        fresh.query_drop("SELECT 1").await,
        1429,
        "HY000",
        "new session, backend down",
    );
    expect_err(
        conn2.query_drop("SELECT 1").await,
        1429,
        "HY000",
        "idle session, backend down",
    );

    db.restart().await;
    // The pool must not hand out dead connections: every session works again, each statement bounded.
    for (name, c) in [("old", &mut conn), ("fresh", &mut fresh), ("idle", &mut conn2)] {
        let v = tokio::time::timeout(WAIT, c.query_first::<i32, _>("SELECT 2"))
            .await
            .unwrap_or_else(|_| panic!("{name} session: statement hangs after the restart"))
            .unwrap_or_else(|e| panic!("{name} session: statement after the restart: {e}"));
        assert_eq!(v, Some(2));
    }
    let mut new = match proxy.try_conn(USER, PASS, Some("app")).await {
        Ok(c) => c,
        // One retry of connecting is allowed.
        Err(_) => proxy.conn(USER, PASS, Some("app")).await,
    };
    let v = tokio::time::timeout(WAIT, new.query_first::<i32, _>("SELECT 3"))
        .await
        .expect("statement hangs after the restart")
        .expect("statement on a new connection after the restart");
    assert_eq!(v, Some(3));
    for c in [conn, conn2, fresh, new] {
        c.disconnect().await.unwrap();
    }
    assert_no_panic(&proxy);
}

/// A session that had a transaction open when its backend died is told so and closed; others continue.
#[tokio::test]
async fn backend_killed_during_a_transaction_ends_that_session() {
    let (mut db, proxy) = setup(|c| c).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY)").await;
    let mut tx = app_conn(&proxy).await;
    tx.query_drop("BEGIN").await.unwrap();
    tx.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    db.kill();
    let r = tokio::time::timeout(WAIT, tx.query_drop("INSERT INTO t VALUES (2)"))
        .await
        .expect("statement in a transaction hangs after the backend died");
    assert!(r.is_err(), "a statement of a transaction whose backend died succeeded");
    // The session must not silently continue outside its lost transaction.
    let r = tokio::time::timeout(WAIT, tx.query_drop("COMMIT"))
        .await
        .expect("COMMIT hangs after the backend died");
    assert!(r.is_err(), "COMMIT of a lost transaction succeeded");
    db.restart().await;
    let mut conn = app_conn(&proxy).await;
    assert_eq!(
        scalar::<i64>(&mut conn, "SELECT COUNT(*) FROM t").await,
        0,
        "uncommitted row survived"
    );
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

// ----- many concurrent clients ---------------------------------------------------------------------------------

#[tokio::test]
async fn two_hundred_concurrent_clients() {
    const CLIENTS: usize = 200;
    const INSERTS: usize = 50;
    let (db, proxy) = setup(|c| c.pool(pool(32, 30_000))).await;
    db.exec(
        "CREATE TABLE app.load_t (client INT NOT NULL, n INT NOT NULL, payload VARCHAR(64), PRIMARY KEY (client, n))",
    )
    .await;
    let proxy = Arc::new(proxy);
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = app_conn(&proxy).await;
            for n in 0..INSERTS {
                let payload = format!("c{client}-n{n}");
                if n % 2 == 0 {
                    conn.exec_drop("INSERT INTO load_t VALUES (?, ?, ?)", (client, n, &payload))
                        .await
                        .unwrap();
                } else {
                    conn.query_drop(format!("INSERT INTO load_t VALUES ({client}, {n}, '{payload}')"))
                        .await
                        .unwrap();
                }
                let (count, last): (i64, Option<String>) = conn
                    .query_first(format!(
                        "SELECT COUNT(*), MAX(CASE WHEN n = {n} THEN payload END) FROM load_t WHERE client = {client}"
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (count, last.as_deref()),
                    ((n + 1) as i64, Some(payload.as_str())),
                    "client {client}"
                );
            }
            conn.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total: Option<i64> = db.query_first("SELECT COUNT(*) FROM app.load_t").await;
    assert_eq!(total, Some((CLIENTS * INSERTS) as i64));
    let per_client: Vec<i64> = db.query("SELECT COUNT(*) FROM app.load_t GROUP BY client").await;
    assert_eq!(per_client.len(), CLIENTS);
    assert!(per_client.iter().all(|&c| c == INSERTS as i64));
    // Disconnects are processed asynchronously: poll (bounded) until the gauge is back to 0.
    let mut gauge_zero = false;
    for _ in 0..100 {
        if proxy.metrics().await.contains("shardgate_client_connections 0\n") {
            gauge_zero = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gauge_zero, "shardgate_client_connections did not return to 0");
    assert_no_panic(&proxy);
}

// ----- state must not leak between sessions; more session commands ---------------------------------------------

/// What a session leaves on a backend connection (open transaction, autocommit=0, user variables, temporary
/// tables, session variables) is gone when the next session gets that connection.
#[tokio::test]
async fn a_closed_session_leaves_nothing_behind_on_its_backend_connection() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 10_000))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY)").await;

    for how in ["disconnect", "drop"] {
        let mut a = app_conn(&proxy).await;
        let a_backend: u64 = scalar(&mut a, "SELECT CONNECTION_ID()").await;
        a.query_drop("SET autocommit = 0").await.unwrap();
        a.query_drop("INSERT INTO t VALUES (100)").await.unwrap();
        a.query_drop("SET @leak = 'a'").await.unwrap();
        a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.unwrap();
        a.query_drop("CREATE TEMPORARY TABLE leak_tmp (x INT)").await.unwrap();
        if how == "disconnect" {
            a.disconnect().await.unwrap();
        } else {
            drop(a); // no COM_QUIT from a dropped mysql_async Conn outside a runtime task: the socket just closes
        }

        let mut b = app_conn(&proxy).await;
        assert_eq!(
            scalar::<u64>(&mut b, "SELECT CONNECTION_ID()").await,
            a_backend,
            "{how}: max_open = 1, so the next session gets the same backend connection"
        );
        assert_eq!(
            scalar::<Option<String>>(&mut b, "SELECT @leak").await,
            None,
            "{how}: user variable"
        );
        let mode: String = scalar(&mut b, "SELECT @@SESSION.sql_mode").await;
        assert!(!mode.contains("ANSI_QUOTES"), "{how}: sql_mode leaked: {mode}");
        assert_eq!(
            scalar::<i64>(&mut b, "SELECT @@autocommit").await,
            1,
            "{how}: autocommit"
        );
        expect_err(b.query_drop("SELECT * FROM leak_tmp").await, 1146, "42S02", how);
        assert_eq!(
            scalar::<i64>(&mut b, "SELECT COUNT(*) FROM t").await,
            0,
            "{how}: uncommitted row"
        );
        // b's own insert is autocommitted, not part of a's transaction.
        b.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
        assert_eq!(
            db.query_first::<i64>("SELECT COUNT(*) FROM app.t").await,
            Some(1),
            "{how}"
        );
        b.query_drop("DELETE FROM t").await.unwrap();
        b.disconnect().await.unwrap();
    }
    assert_no_panic(&proxy);
}

/// A prepared statement pins the session until it is closed; COM_RESET_CONNECTION rolls back an open transaction.
#[tokio::test]
async fn prepared_statements_pin_until_closed_and_reset_rolls_back() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 700))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY)").await;
    let mut a = proxy.conn(USER, PASS, Some("app")).await;
    let mut b = app_conn(&proxy).await;

    let stmt = a.prep("SELECT ? + 1").await.unwrap();
    let v: Option<i64> = a.exec_first(&stmt, (1,)).await.unwrap();
    assert_eq!(v, Some(2));
    expect_err(
        b.query_drop("SELECT 1").await,
        1040,
        "08004",
        "while a holds a prepared statement",
    );
    let v: Option<i64> = a.exec_first(&stmt, (41,)).await.unwrap();
    assert_eq!(v, Some(42), "the statement survives another session's wait");
    a.close(stmt).await.unwrap();
    assert_eq!(
        scalar::<i32>(&mut b, "SELECT 1").await,
        1,
        "after the statement was closed"
    );

    a.query_drop("BEGIN").await.unwrap();
    a.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    assert!(a.reset().await.unwrap());
    assert_eq!(
        scalar::<i64>(&mut b, "SELECT COUNT(*) FROM t").await,
        0,
        "reset did not roll back"
    );
    assert_eq!(db.query_first::<i64>("SELECT COUNT(*) FROM app.t").await, Some(0));
    a.query_drop("INSERT INTO t VALUES (2)").await.unwrap();
    assert_eq!(
        scalar::<i64>(&mut b, "SELECT COUNT(*) FROM t").await,
        1,
        "autocommit after reset"
    );
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

/// LAST_INSERT_ID() read through a prepared statement is the session's own as well.
#[tokio::test]
async fn last_insert_id_in_a_prepared_statement_is_the_sessions_own() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 5000))).await;
    db.exec("CREATE TABLE app.ai (id INT AUTO_INCREMENT PRIMARY KEY)").await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;
    a.query_drop("INSERT INTO ai VALUES (NULL)").await.unwrap();
    let a_id = a.last_insert_id().unwrap();
    b.query_drop("INSERT INTO ai VALUES (NULL)").await.unwrap();
    b.query_drop("INSERT INTO ai VALUES (NULL)").await.unwrap();
    let got: Option<u64> = a.exec_first("SELECT LAST_INSERT_ID()", ()).await.unwrap();
    assert_eq!(got, Some(a_id), "prepared SELECT LAST_INSERT_ID()");
}

/// Every way of writing a session-variable assignment is replayed on the connection that serves the session next;
/// a failed SET changes nothing.
#[tokio::test]
async fn session_variable_syntaxes_are_all_tracked() {
    let (_db, proxy) = setup(|c| c.pool(pool(1, 10_000))).await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "SET sql_mode = 'ANSI_QUOTES'",
            "SELECT @@SESSION.sql_mode",
            "ANSI_QUOTES",
        ),
        (
            "SET @@sql_mode = 'PIPES_AS_CONCAT'",
            "SELECT @@SESSION.sql_mode",
            "PIPES_AS_CONCAT",
        ),
        (
            "SET @@SESSION.sql_mode = 'NO_BACKSLASH_ESCAPES'",
            "SELECT @@SESSION.sql_mode",
            "NO_BACKSLASH_ESCAPES",
        ),
        (
            "SET LOCAL sql_mode = 'ONLY_FULL_GROUP_BY'",
            "SELECT @@SESSION.sql_mode",
            "ONLY_FULL_GROUP_BY",
        ),
        (
            "set session time_zone = '+05:30'",
            "SELECT @@SESSION.time_zone",
            "+05:30",
        ),
        (
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SELECT @@SESSION.tx_isolation",
            "SERIALIZABLE",
        ),
        (
            "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
            "SELECT @@collation_connection",
            "utf8mb4_bin",
        ),
        ("SET CHARACTER SET latin1", "SELECT @@character_set_results", "latin1"),
        (
            "SET div_precision_increment = 9, max_sort_length = 2048",
            "SELECT CONCAT(@@div_precision_increment, '/', @@max_sort_length)",
            "9/2048",
        ),
        (
            "/* a comment first */ SET SESSION wait_timeout = 1234",
            "SELECT @@SESSION.wait_timeout",
            "1234",
        ),
    ];
    for (set, check, want) in cases {
        a.query_drop(*set).await.unwrap_or_else(|e| panic!("`{set}`: {e}"));
        // b runs in between on the only backend connection, so a's state must be restored each time.
        for _ in 0..2 {
            let _: u64 = scalar(&mut b, "SELECT CONNECTION_ID()").await;
            let got: String = scalar(&mut a, check).await;
            assert_eq!(got, *want, "after `{set}`, `{check}`");
        }
        let theirs: String = scalar(&mut b, check).await;
        assert_ne!(theirs, *want, "b sees a's `{set}`");
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

/// A failing SET is reported and changes nothing: the session goes on with its earlier values, whether it is
/// unpinned, in a transaction, or holding a prepared statement.
#[tokio::test]
async fn a_failed_set_changes_nothing() {
    let (db, proxy) = setup(|c| c.pool(pool(3, 10_000))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY)").await;
    let mut b = app_conn(&proxy).await;
    for state in ["unpinned", "in a transaction", "holding a prepared statement"] {
        let mut a = app_conn(&proxy).await;
        a.query_drop("SET SESSION time_zone = '+03:00'").await.unwrap();
        let stmt = match state {
            "in a transaction" => {
                a.query_drop("BEGIN").await.unwrap();
                a.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
                None
            }
            "holding a prepared statement" => Some(a.prep("SELECT ?").await.unwrap()),
            _ => None,
        };
        for bad in [
            "SET SESSION time_zone = 'Not/AZone'",
            "SET SESSION sql_mode = 'NO_SUCH_MODE'",
            "SET SESSION no_such_variable = 1",
            "SET SESSION time_zone = '+04:00', sql_mode = 'NO_SUCH_MODE'",
        ] {
            let r = a.query_drop(bad).await;
            assert!(r.is_err(), "{state}: `{bad}` succeeded");
            let what = format!("{state}, after `{bad}`");
            let tz = a.query_first::<String, _>("SELECT @@SESSION.time_zone").await;
            assert_eq!(tz.map_err(|e| e.to_string()), Ok(Some("+03:00".to_string())), "{what}");
            let _: u64 = scalar(&mut b, "SELECT CONNECTION_ID()").await;
            assert_eq!(
                scalar::<String>(&mut a, "SELECT @@SESSION.time_zone").await,
                "+03:00",
                "{what}"
            );
            let mode: String = scalar(&mut a, "SELECT @@SESSION.sql_mode").await;
            assert!(!mode.contains("NO_SUCH_MODE"), "{what}: {mode}");
        }
        if state == "in a transaction" {
            assert_eq!(
                scalar::<i64>(&mut a, "SELECT COUNT(*) FROM t").await,
                1,
                "the transaction goes on"
            );
            a.query_drop("ROLLBACK").await.unwrap();
        }
        if let Some(stmt) = stmt {
            let v: Option<i64> = a.exec_first(&stmt, (5,)).await.unwrap();
            assert_eq!(v, Some(5), "the prepared statement survives");
            a.close(stmt).await.unwrap();
        }
        a.disconnect().await.unwrap();
    }
    b.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

#[tokio::test]
async fn large_results_local_infile_pipelining_and_abandoned_queries() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 10_000))).await;
    db.exec("CREATE TABLE app.li (id INT PRIMARY KEY, s VARCHAR(20))").await;
    let mut conn = app_conn(&proxy).await;

    // Many rows.
    let rows: Vec<(u64, String)> = conn
        .query("SELECT seq, CONCAT('row-', seq) FROM seq_1_to_200000")
        .await
        .unwrap();
    assert_eq!(rows.len(), 200_000);
    assert_eq!(rows[199_999], (200_000, "row-200000".to_string()));
    drop(rows);

    // LOAD DATA LOCAL INFILE: the file's content flows from the client through the proxy.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.tsv");
    let content: String = (1..=1000).map(|i| format!("{i}\tv{i}\n")).collect();
    std::fs::write(&file, &content).unwrap();
    let opts = proxy
        .opts(USER, PASS)
        .db_name(Some("app"))
        .local_infile_handler(Some(mysql_async::WhiteListFsHandler::new(&[&file][..])));
    let mut infile = Conn::new(opts).await.unwrap();
    infile
        .query_drop(format!("LOAD DATA LOCAL INFILE '{}' INTO TABLE li", file.display()))
        .await
        .expect("LOAD DATA LOCAL INFILE through the proxy");
    assert_eq!(infile.affected_rows(), 1000);
    assert_eq!(scalar::<i32>(&mut infile, "SELECT 5").await, 5);
    infile.disconnect().await.unwrap();
    assert_eq!(db.query_first::<i64>("SELECT COUNT(*) FROM app.li").await, Some(1000));

    // Two commands sent back to back without waiting are answered in order.
    let mut raw = Raw::logged_in(&proxy.classic_addr()).await;
    let mut both = Vec::new();
    for sql in ["SELECT 'first'", "SELECT 'second'"] {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        both.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
        both.push(0);
        both.extend_from_slice(&p);
    }
    raw.write_raw(&both).await;
    for want in ["first", "second"] {
        match raw.read_reply().await {
            Reply::Rows { rows, .. } => assert_eq!(text_cell(&rows[0]), want),
            other => panic!("pipelined query: {other:?}"),
        }
    }

    // Clients that vanish mid-query do not leak the only backend connection.
    for i in 0..3 {
        let mut gone = Raw::logged_in(&proxy.classic_addr()).await;
        gone.write_packet(0, b"\x03SELECT SLEEP(0.3)").await;
        drop(gone);
        let v = tokio::time::timeout(WAIT, conn.query_first::<i32, _>("SELECT 7"))
            .await
            .unwrap_or_else(|_| panic!("statement hangs after abandoned query {i}"))
            .unwrap();
        assert_eq!(v, Some(7));
    }
    conn.disconnect().await.unwrap();
    assert_no_panic(&proxy);
}

#[tokio::test]
async fn proxy_max_connections_refuses_with_1040() {
    let (_db, proxy) = setup(|c| c.proxy_line("max_connections = 3")).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(app_conn(&proxy).await);
    }
    // Sent before the greeting, the ERR cannot carry a SQLSTATE (the client has not announced protocol 4.1), so
    // drivers report HY000; only the code is checked here (the format: see the test below).
    let e = server_error(
        proxy.try_conn(USER, PASS, Some("app")).await.unwrap_err(),
        "fourth connection",
    );
    assert_eq!(e.code, 1040, "{e:?}");
    assert!(e.message.contains("max_connections"), "{e:?}");
    let c = held.pop().unwrap();
    c.disconnect().await.unwrap();
    // The slot is released when the proxy notices the disconnect: poll (bounded).
    let mut conn = None;
    for _ in 0..100 {
        match proxy.try_conn(USER, PASS, Some("app")).await {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => {
                assert_eq!(server_error(e, "reconnect").code, 1040);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut conn = conn.expect("a slot was never freed after a disconnect");
    assert_eq!(scalar::<i32>(&mut conn, "SELECT 1").await, 1);
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("shardgate_client_connections_rejected_total{reason=\"max_connections\"}"),
        "rejections not counted"
    );
    assert_no_panic(&proxy);
}

/// `KILL QUERY <id>` with the connection id a client got in its greeting (what the mysql CLI's Ctrl-C, JDBC's
/// Statement.cancel and others send on a second connection) must cancel that client's statement or fail; it must
/// never interrupt an unrelated session. Arranged so that the id of an idle proxy session equals the backend thread
/// id that runs another session's statement.
#[tokio::test]
async fn kill_query_with_a_greeting_connection_id_never_hits_another_session() {
    let (db, proxy) = setup(|c| c).await;
    let mut victim = app_conn(&proxy).await;
    let running = tokio::spawn(async move {
        let r: Result<Option<(i64, String)>, _> = victim.query_first("SELECT SLEEP(3), 'victim'").await;
        r
    });
    let thread = db
        .wait_for_statement("SELECT SLEEP(3), %", Duration::from_secs(2))
        .await
        .expect("the victim's statement never showed up on the backend");
    // Open idle proxy sessions until one's greeting id is that backend thread id.
    let mut idle = Vec::new();
    let mut twin = None;
    for _ in 0..300 {
        let c = app_conn(&proxy).await;
        match u64::from(c.id()).cmp(&thread) {
            std::cmp::Ordering::Less => idle.push(c),
            std::cmp::Ordering::Equal => {
                twin = Some(c);
                break;
            }
            std::cmp::Ordering::Greater => {
                panic!("cannot arrange the id collision: proxy session ids passed backend thread id {thread}")
            }
        }
    }
    let twin = twin.expect("no proxy session got the backend thread's id");
    // Cancel "the statement of session `twin`" (it runs none) from another session.
    let mut killer = app_conn(&proxy).await;
    let kill = killer.query_drop(format!("KILL QUERY {}", twin.id())).await;
    let r = tokio::time::timeout(WAIT, running)
        .await
        .expect("victim hangs")
        .unwrap();
    assert!(
        matches!(r, Ok(Some((0, _)))),
        "KILL QUERY {} (the id of an idle proxy session) interrupted another session's statement: {r:?} \
         (the KILL returned {kill:?})",
        twin.id()
    );
    drop((idle, twin));
    assert_no_panic(&proxy);
}

/// An ERR packet sent instead of the greeting must use the pre-4.1 format (no `#` + SQLSTATE), as MySQL and
/// MariaDB do: a client parses it without knowing the server's capabilities, so a SQLSTATE marker ends up in the
/// message text.
#[tokio::test]
async fn error_before_the_greeting_has_no_sqlstate_marker() {
    let (_db, proxy) = setup(|c| c.proxy_line("max_connections = 1")).await;
    // The harness's readiness probe may still hold the only slot for a moment: retry the first login (bounded).
    let mut first = None;
    for _ in 0..50 {
        match proxy.try_conn(USER, PASS, Some("app")).await {
            Ok(c) => {
                first = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _first = first.expect("the first connection gets the only slot");
    let mut raw = Raw::connect(&proxy.classic_addr()).await;
    let (seq, p) = raw.read_packet().await.expect("an ERR packet instead of the greeting");
    assert_eq!((seq, p[0]), (0, 0xff), "{p:?}");
    assert_eq!(u16::from_le_bytes([p[1], p[2]]), 1040);
    assert_ne!(
        p[3],
        b'#',
        "pre-handshake ERR with a SQLSTATE marker: {}",
        String::from_utf8_lossy(&p[3..])
    );
    let e = server_error(proxy.try_conn(USER, PASS, None).await.unwrap_err(), "second connection");
    assert!(e.message.starts_with("shardgate:"), "{e:?}");
}

/// Like LAST_INSERT_ID(), the diagnostics of a session's previous statement (SHOW WARNINGS, @@warning_count,
/// ROW_COUNT(), FOUND_ROWS()) must be its own even when another session used the backend connection in between.
#[tokio::test]
async fn previous_statement_diagnostics_are_the_sessions_own() {
    // Two backend connections: the proxy may keep a session's connection after a statement with warnings (so
    // `b` then uses the other one), or must restore the diagnostics; with no special handling `b` takes the
    // connection `a` just used (the pool hands out the most recently used one).
    let (db, proxy) = setup(|c| c.pool(pool(2, 5000))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY, v INT); INSERT INTO app.t VALUES (1,0),(2,0),(3,0),(4,0)")
        .await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;

    a.query_drop("SELECT CAST('12abc' AS INTEGER)").await.unwrap();
    assert_eq!(a.get_warnings(), 1);
    // (A statement that uses no table would leave the diagnostics area alone.)
    let _: i32 = scalar(&mut b, "SELECT id FROM t WHERE id = 2").await;
    let warnings: Vec<(String, u32, String)> = a.query("SHOW WARNINGS").await.unwrap();
    assert_eq!(
        warnings.len(),
        1,
        "SHOW WARNINGS lost the session's warning: {warnings:?}"
    );

    a.query_drop("UPDATE t SET v = 1 WHERE id <= 3").await.unwrap();
    let _: i32 = scalar(&mut b, "SELECT id FROM t WHERE id = 2").await;
    assert_eq!(scalar::<i64>(&mut a, "SELECT ROW_COUNT()").await, 3, "ROW_COUNT()");

    let _: Vec<i32> = a.query("SELECT id FROM t").await.unwrap();
    let _: Vec<i32> = b.query("SELECT id FROM t WHERE id = 1").await.unwrap();
    assert_eq!(scalar::<i64>(&mut a, "SELECT FOUND_ROWS()").await, 4, "FOUND_ROWS()");
}

/// A transaction that switches to a keyspace on another backend can still be ended: COMMIT/ROLLBACK belong to the
/// connection that holds the transaction (or the USE is refused right away).
#[tokio::test]
async fn a_transaction_can_be_ended_after_use_of_a_keyspace_on_another_backend() {
    let cluster = shardgate_tests::Cluster::start(2).await;
    cluster[0]
        .exec("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)")
        .await;
    cluster[1].exec("CREATE DATABASE extra").await;
    let map = keyspaces_map(1, &[("app", &cluster[0].addr()), ("extra", &cluster[1].addr())]);
    let proxy = Proxy::start(ProxyConfig::new(map).user(USER, PASS)).await;
    let mut conn = app_conn(&proxy).await;
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    // Either the USE is refused now (and the transaction goes on) ...
    if conn.query_drop("USE extra").await.is_err() {
        conn.query_drop("COMMIT").await.expect("COMMIT after a refused USE");
    } else {
        // ... or the transaction can still be ended.
        conn.query_drop("COMMIT")
            .await
            .expect("COMMIT after USE of a keyspace on another backend");
    }
    assert_eq!(
        cluster[0].query_first::<i64>("SELECT COUNT(*) FROM app.t").await,
        Some(1)
    );
}

#[tokio::test]
async fn connecting_into_information_schema() {
    let (_db, proxy) = setup(|c| c).await;
    // `USE information_schema` works (tested above); connecting with it as the default database must too.
    let mut conn = proxy.conn(USER, PASS, Some("information_schema")).await;
    assert_eq!(
        scalar::<String>(&mut conn, "SELECT DATABASE()").await,
        "information_schema"
    );
    conn.disconnect().await.unwrap();
}

/// KILL with proxy connection ids (those of the greeting, `Conn::id`): `KILL QUERY` cancels that session's running
/// statement and the session goes on; `KILL` ends the session; unknown ids and other users' sessions are refused.
#[tokio::test]
async fn kill_query_and_kill_connection_by_proxy_connection_id() {
    let (_db, proxy) = setup(|c| c.user("other_user", "pw")).await;
    let mut killer = app_conn(&proxy).await;

    let mut victim = app_conn(&proxy).await;
    let victim_id = victim.id();
    let running = tokio::spawn(async move {
        let r: Result<Option<i64>, _> = victim.query_first("SELECT SLEEP(30)").await;
        (victim, r)
    });
    // Bounded wait until the statement is running: KILL QUERY before it starts would cancel nothing.
    let mut result = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        killer.query_drop(format!("KILL QUERY {victim_id}")).await.unwrap();
        if running.is_finished() {
            result = Some(running);
            break;
        }
    }
    let running = result.expect("KILL QUERY never cancelled SELECT SLEEP(30)");
    let (mut victim, r) = tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
    match r {
        // MariaDB reports a SLEEP cut short as 1, or the statement as interrupted.
        Ok(Some(1)) => {}
        Err(e) => assert_eq!(server_error(e, "killed statement").code, 1317),
        other => panic!("SELECT SLEEP(30) after KILL QUERY: {other:?}"),
    }
    assert_eq!(
        scalar::<i32>(&mut victim, "SELECT 3").await,
        3,
        "the session survives KILL QUERY"
    );

    // KILL of an idle session ends it.
    killer.query_drop(format!("KILL {victim_id}")).await.unwrap();
    let r = tokio::time::timeout(WAIT, victim.query_drop("SELECT 4"))
        .await
        .expect("statement of a killed session hangs");
    assert!(r.is_err(), "a killed session ran a statement");

    let e = expect_err(
        killer.query_drop("KILL QUERY 999999").await,
        1094,
        "HY000",
        "KILL of an unknown id",
    );
    assert!(e.message.contains("999999"), "{e:?}");
    let theirs = proxy.conn("other_user", "pw", Some("app")).await;
    expect_err(
        killer.query_drop(format!("KILL {}", theirs.id())).await,
        1095,
        "HY000",
        "KILL of another user's session",
    );
    assert_eq!(scalar::<i32>(&mut killer, "SELECT 5").await, 5);
    drop(theirs);
    assert_no_panic(&proxy);
}

/// A session whose last statement failed or warned, then idles, must not keep a pooled backend connection from
/// everyone else: multiplexing is the point of the pool.
#[tokio::test]
async fn an_idle_session_after_an_error_or_warning_does_not_hold_a_backend_connection() {
    let (db, proxy) = setup(|c| c.pool(pool(1, 1000))).await;
    db.exec("CREATE TABLE app.t (id INT PRIMARY KEY)").await;
    let mut a = app_conn(&proxy).await;
    let mut b = app_conn(&proxy).await;
    for (what, sql) in [
        ("an error", "SELECT * FROM missing"),
        ("a warning", "SELECT CAST('12abc' AS INTEGER)"),
        ("INSERT IGNORE of a duplicate", "INSERT IGNORE INTO t VALUES (1), (1)"),
    ] {
        let _ = a.query_drop(sql).await;
        // `a` now idles; `b` must get the only backend connection.
        let r = b.query_first::<i32, _>("SELECT 1").await;
        assert!(
            matches!(r, Ok(Some(1))),
            "after {what} in an idle session, another session's statement got {r:?}"
        );
    }
}
