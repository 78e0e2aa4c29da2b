//! One real `mariadbd` server owned by a test: its directories, its process, and SQL helpers to talk to it.
//!
//! A server runs from a copy of the per-process template data directory (see `template.rs`), with its own generated
//! `my.cnf`, a free port on 127.0.0.1, a distinct `server-id`, binary logging (ROW, GTID strict mode) so any server
//! can be a primary or a replica, and settings that trade durability for speed. `root` logs in with an empty
//! password over TCP from 127.0.0.1 (as the proxy does) and over the unix socket.
//!
//! Lifetime: [`Drop`] kills the process (SIGKILL, then reaps it) and removes the directories, also while a test
//! panics; if the test process itself is killed, the kernel kills the server (see [`crate::process`]).
//!
//! SQL helpers open a fresh connection per call, so they keep working across [`MariaDb::kill`] and
//! [`MariaDb::restart`] and across tokio runtimes; for many statements in a row use [`MariaDb::conn`] or
//! [`MariaDb::pool`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts, OptsBuilder, Pool};
use tempfile::TempDir;

use crate::ports::free_port;
use crate::process::{self, tail};
use crate::tempdirs;
use crate::template::{self, arg};

/// How long a server may take from spawn to accepting a TCP login.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a first start may move to another port because its port was taken.
const PORT_RETRIES: u32 = 5;
/// Error-log lines shown in panics.
const LOG_LINES: usize = 40;

/// The next `server-id`; distinct for every server of the process (replication needs distinct ids).
static NEXT_SERVER_ID: AtomicU32 = AtomicU32::new(1);

/// One running (or stopped) `mariadbd` with its own data directory, port and `server-id`.
#[derive(Debug)]
pub struct MariaDb {
    /// The server process; `None` once killed or stopped.
    child: Option<Child>,
    port: u16,
    server_id: u32,
    /// When the current process was spawned: the start deadline counts from here.
    spawned_at: Instant,
    /// Length of the error log when the current process was spawned: panics show only this run's lines.
    log_offset: u64,
    /// `my.cnf`, `data/`, `tmp/`, `error.log`, `stderr.log`.
    dir: TempDir,
    /// Holds the unix socket; a short path under /tmp (socket paths must stay under 108 bytes).
    sock_dir: TempDir,
}

impl MariaDb {
    /// Starts a new server and waits (at most 60 s) until `root` can log in over TCP.
    ///
    /// Panics, with the tail of the error log, if the server exits or does not become ready in time, and with the
    /// setup command to run if MariaDB is not installed.
    pub async fn start() -> MariaDb {
        let mut db = blocking(MariaDb::launch).await;
        db.wait_ready(true).await;
        db
    }

    /// Copies the template, writes `my.cnf` and spawns the server, without waiting for it.
    pub(crate) fn launch() -> MariaDb {
        let datadir_template = template::template_datadir();
        let dir = tempdirs::create("mariadb", None);
        let sock_dir = tempdirs::create("sock", Some(Path::new("/tmp")));
        std::fs::create_dir(dir.path().join("tmp"))
            .unwrap_or_else(|e| panic!("create tmp/ in {}: {e}", dir.path().display()));
        let out = Command::new("cp")
            .arg("-a")
            .arg(datadir_template)
            .arg(dir.path().join("data"))
            .output()
            .unwrap_or_else(|e| panic!("run cp: {e}"));
        assert!(
            out.status.success(),
            "cp -a {} {}: {}",
            datadir_template.display(),
            dir.path().join("data").display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut db = MariaDb {
            child: None,
            port: free_port(),
            server_id: NEXT_SERVER_ID.fetch_add(1, Ordering::Relaxed),
            spawned_at: Instant::now(),
            log_offset: 0,
            dir,
            sock_dir,
        };
        db.spawn_process();
        db
    }

    /// Writes `my.cnf` for the current port and spawns `mariadbd` with it.
    fn spawn_process(&mut self) {
        debug_assert!(self.child.is_none());
        let cnf = self.cnf_path();
        std::fs::write(&cnf, self.cnf_text()).unwrap_or_else(|e| panic!("write {}: {e}", cnf.display()));
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .unwrap_or_else(|e| panic!("open stderr.log in {}: {e}", self.dir.path().display()));
        self.log_offset = std::fs::metadata(self.error_log()).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(template::mariadbd());
        // --defaults-file must be the first argument; it keeps /etc/mysql out.
        cmd.arg(arg("--defaults-file=", &cnf))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        self.spawned_at = Instant::now();
        self.child =
            Some(process::spawn(cmd).unwrap_or_else(|e| panic!("spawn mariadbd: {e}; {}", template::SETUP_HINT)));
    }

    /// The server's `my.cnf`. `log-basename` must precede `log-error`, or the error log silently moves.
    ///
    /// `tmpdir` is the server's own: at startup `mariadbd` deletes every `#sql*` file in its tmpdir, which with
    /// the default `/tmp` destroys the temporary tables of every other server (and of a concurrent
    /// `mariadb-install-db`: "Unknown table 'mysql.tmp_user_sys'").
    fn cnf_text(&self) -> String {
        format!(
            "[mariadbd]
user=root
port={port}
bind-address=127.0.0.1
socket={socket}
datadir={datadir}
tmpdir={tmpdir}
log-basename=mariadb
log-error={error_log}
log-bin
binlog_format=ROW
server-id={server_id}
gtid_strict_mode=ON
log_slave_updates=ON
innodb_flush_log_at_trx_commit=2
sync_binlog=0
performance_schema=OFF
innodb_buffer_pool_size=64M
skip-name-resolve
max_connections=1000
max_allowed_packet=1G
",
            port = self.port,
            socket = self.socket().display(),
            datadir = self.datadir().display(),
            tmpdir = self.dir.path().join("tmp").display(),
            error_log = self.error_log().display(),
            server_id = self.server_id,
        )
    }

    /// Waits until `root` logs in over TCP; on a first start, moves to another port if the port was taken.
    pub(crate) async fn wait_ready(&mut self, may_change_port: bool) {
        let mut port_retries = 0;
        loop {
            let child = self.child.as_mut().expect("wait_ready without a process");
            if let Some(status) = child.try_wait().expect("poll mariadbd") {
                self.child = None;
                let log = self.log_tail(LOG_LINES);
                if may_change_port && port_retries < PORT_RETRIES && log.contains("Address already in use") {
                    port_retries += 1;
                    self.port = free_port();
                    self.spawn_process();
                    continue;
                }
                panic!(
                    "mariadbd ({}) exited during startup with {status}; error log tail:\n{log}",
                    self.dir.path().display()
                );
            }
            match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts())).await {
                Ok(Ok(conn)) => {
                    let _ = conn.disconnect().await;
                    return;
                }
                // The server only listens once fully started, so a refused login is final.
                Ok(Err(mysql_async::Error::Server(e))) if [1045, 1130, 1698].contains(&e.code) => {
                    panic!(
                        "mariadbd at {} refuses root over TCP with an empty password: {e}; error log tail:\n{}",
                        self.addr(),
                        self.log_tail(LOG_LINES)
                    );
                }
                _ => {}
            }
            if self.spawned_at.elapsed() > START_TIMEOUT {
                if let Some(mut child) = self.child.take() {
                    let _ = process::kill_and_wait(&mut child);
                }
                panic!(
                    "mariadbd at {} not ready after {START_TIMEOUT:?}; error log tail:\n{}",
                    self.addr(),
                    self.log_tail(LOG_LINES)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The TCP port on 127.0.0.1 (stays the same across [`MariaDb::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1:PORT"`, the form shard maps and `CHANGE MASTER TO` use.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's `server-id` (distinct for every server of the test process).
    pub fn server_id(&self) -> u32 {
        self.server_id
    }

    /// The process id, while the process is running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's own directory (`my.cnf`, `data/`, logs). Its path appears in the server's command line.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory.
    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The generated `my.cnf` the server runs with (`--defaults-file`).
    pub fn cnf_path(&self) -> PathBuf {
        self.dir.path().join("my.cnf")
    }

    /// The error log.
    pub fn error_log(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// The unix socket (root logs in there through `unix_socket` auth or with an empty password).
    pub fn socket(&self) -> PathBuf {
        self.sock_dir.path().join("mariadb.sock")
    }

    /// The last `lines` lines the current (or last) process wrote to the error log, plus its stderr if any.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut log = process::tail_from(&self.error_log(), self.log_offset, lines);
        let stderr = tail(&self.dir.path().join("stderr.log"), lines);
        if !stderr.trim().is_empty() {
            log.push_str("\n--- stderr ---\n");
            log.push_str(&stderr);
        }
        log
    }

    /// Connection options: `root`, no password, TCP to 127.0.0.1 (never switching to the unix socket).
    pub fn opts(&self) -> Opts {
        self.opts_builder().into()
    }

    /// [`MariaDb::opts`] as a builder, to add a database, TLS or pool options.
    pub fn opts_builder(&self) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("root"))
            .pass(None::<String>)
            .prefer_socket(false)
    }

    /// A new connection pool to this server. Create it inside the runtime that uses it; the caller owns it (call
    /// `disconnect` when done, or just drop it).
    pub fn pool(&self) -> Pool {
        Pool::new(self.opts())
    }

    /// A new connection as `root`; panics if the server does not accept it.
    pub async fn conn(&self) -> Conn {
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(self.opts())).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => panic!("connect to mariadbd at {}: {e}", self.addr()),
            Err(_) => panic!(
                "connect to mariadbd at {}: timed out after {CONNECT_TIMEOUT:?}",
                self.addr()
            ),
        }
    }

    /// Runs `sql` (one or more `;`-separated statements), discarding results; the error if it fails.
    pub async fn try_exec(&self, sql: &str) -> Result<(), mysql_async::Error> {
        let mut conn = self.conn().await;
        let result = conn.query_drop(sql).await;
        let _ = conn.disconnect().await;
        result
    }

    /// Runs `sql` (one or more `;`-separated statements), discarding results; panics with the SQL and the error.
    pub async fn exec(&self, sql: &str) {
        if let Err(e) = self.try_exec(sql).await {
            panic!("mariadbd at {}: `{sql}` failed: {e}", self.addr());
        }
    }

    /// Runs a query and returns all rows of its first result; panics with the SQL and the error.
    pub async fn query<T: FromRow + Send + 'static>(&self, sql: &str) -> Vec<T> {
        let mut conn = self.conn().await;
        let rows = conn
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("mariadbd at {}: `{sql}` failed: {e}", self.addr()));
        let _ = conn.disconnect().await;
        rows
    }

    /// Runs a query and returns its first row, if any; panics with the SQL and the error.
    pub async fn query_first<T: FromRow + Send + 'static>(&self, sql: &str) -> Option<T> {
        let mut conn = self.conn().await;
        let row = conn
            .query_first(sql)
            .await
            .unwrap_or_else(|e| panic!("mariadbd at {}: `{sql}` failed: {e}", self.addr()));
        let _ = conn.disconnect().await;
        row
    }

    /// Waits (bounded by `timeout`) until a statement whose text matches the SQL `LIKE` pattern `info_like` is
    /// running on this server, and returns its thread id.
    pub async fn wait_for_statement(&self, info_like: &str, timeout: Duration) -> Option<u64> {
        let sql = format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '{}'",
            info_like.replace('\'', "''")
        );
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(id) = self.query_first::<u64>(&sql).await {
                return Some(id);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// True while the server process is alive (it may not accept connections yet or any more).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_))) | Some(Err(_)) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Kills the server with SIGKILL (a crash: no clean shutdown) and reaps it. A no-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::kill_and_wait(&mut child).unwrap_or_else(|e| panic!("kill mariadbd at {}: {e}", self.addr()));
        }
    }

    /// Shuts the server down cleanly (SIGTERM) and waits for it, blocking the calling thread for at most 60 s.
    ///
    /// Panics, after killing it, if it does not exit in time. A no-op if it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        process::signal(&mut child, libc::SIGTERM).unwrap_or_else(|e| panic!("signal mariadbd at {}: {e}", self.port));
        match process::wait_timeout(&mut child, STOP_TIMEOUT) {
            Ok(Some(_)) => {}
            other => {
                let _ = process::kill_and_wait(&mut child);
                panic!(
                    "mariadbd at {} did not stop within {STOP_TIMEOUT:?} ({other:?}); killed it. Error log tail:\n{}",
                    self.addr(),
                    self.log_tail(LOG_LINES)
                );
            }
        }
    }

    /// Starts the server again on the same port, data directory and `server-id`, and waits until it accepts logins.
    ///
    /// Stops it cleanly first if it is still running. Replication settings survive (a replica resumes).
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn_process();
        self.wait_ready(false).await;
    }
}

impl Drop for MariaDb {
    /// Kills the server and reaps it; the directories are removed afterwards by their `TempDir`s.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::kill_and_wait(&mut child);
        }
    }
}

/// Runs blocking `f` on tokio's blocking pool, re-raising its panic with the original message.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task failed: {e}"),
    }
}
