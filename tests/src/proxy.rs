//! One real `shardgate-proxy` process owned by a test: its config files, its process, its log and its endpoints.
//!
//! [`Proxy::start`] writes `proxy.toml` and `shardmap.yaml` (from a [`ProxyConfig`]) into the proxy's own temp
//! dir, with free ports for the classic and admin listeners, spawns the binary (see `proxy_bin.rs`) with its
//! stdout and stderr going to `proxy.log` there, and waits until the classic port accepts TCP and
//! `GET /healthz` answers 200. [`Drop`] kills the process (see [`crate::process`] for why it cannot outlive the
//! test process either).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mysql_async::{Conn, OptsBuilder};
use tempfile::TempDir;

use crate::http::{http_get, HttpResponse};
use crate::mariadb::blocking;
use crate::ports::free_port;
use crate::process;
use crate::proxy_bin::proxy_binary;
use crate::proxy_config::ProxyConfig;
use crate::tempdirs;

/// How long the proxy may take from spawn to being ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of one admin HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start may move to other ports because a port was taken.
const PORT_RETRIES: u32 = 3;
/// Log lines shown in panics.
const LOG_LINES: usize = 60;

/// A running `shardgate-proxy` process.
#[derive(Debug)]
pub struct Proxy {
    child: Option<Child>,
    classic_port: u16,
    admin_port: u16,
    /// Extra environment of the process (e.g. `SHARDGATE_FAILPOINT`).
    env: Vec<(String, String)>,
    /// `proxy.toml`, `shardmap.yaml`, `proxy.log`.
    dir: TempDir,
}

impl Proxy {
    /// Starts a proxy with `cfg` and waits (at most 30 s, plus the first build of the binary) until it is ready.
    ///
    /// Panics with the exit status and the log if it exits or does not become ready.
    pub async fn start(cfg: ProxyConfig) -> Proxy {
        Proxy::try_start(cfg)
            .await
            .unwrap_or_else(|e| panic!("shardgate-proxy did not start: {e}"))
    }

    /// Like [`Proxy::start`], but returns the exit status and the log as an error when the process exits before
    /// it is ready (a refused configuration) or is not ready in time (then it is killed first).
    pub async fn try_start(cfg: ProxyConfig) -> Result<Proxy, String> {
        let bin = blocking(proxy_binary).await;
        let dir = tempdirs::create("proxy", None);
        let mut proxy = Proxy {
            child: None,
            classic_port: 0,
            admin_port: 0,
            env: cfg.env_vars().to_vec(),
            dir,
        };
        let mut retries = 0;
        loop {
            proxy.classic_port = free_port();
            proxy.admin_port = free_port();
            std::fs::write(
                proxy.config_path(),
                cfg.to_toml(&proxy.classic_addr(), &proxy.admin_addr()),
            )
            .map_err(|e| format!("write proxy.toml: {e}"))?;
            proxy.write_shardmap(cfg.shardmap_yaml());
            proxy.spawn(&bin)?;
            match proxy.wait_ready().await {
                Ok(()) => return Ok(proxy),
                Err(e) if retries < PORT_RETRIES && e.contains("Address already in use") => retries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&mut self, bin: &Path) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open {}: {e}", self.log_path().display()))?;
        let log2 = log.try_clone().map_err(|e| format!("clone the log file handle: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(process::spawn(cmd).map_err(|e| format!("spawn {}: {e}", bin.display()))?);
        Ok(())
    }

    /// Waits until the classic port accepts TCP and `/healthz` says 200; kills the process on timeout.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut classic_ok = false;
        let mut last_health = String::from("no answer yet");
        loop {
            let child = self.child.as_mut().expect("wait_ready without a process");
            if let Some(status) = child.try_wait().map_err(|e| format!("poll the proxy: {e}"))? {
                self.child = None;
                return Err(format!(
                    "shardgate-proxy exited with {status} before becoming ready\n--- proxy.toml ---\n{}\n--- log ---\n{}",
                    std::fs::read_to_string(self.config_path()).unwrap_or_default(),
                    self.log_tail(LOG_LINES)
                ));
            }
            if !classic_ok {
                classic_ok = matches!(
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        tokio::net::TcpStream::connect(self.classic_addr())
                    )
                    .await,
                    Ok(Ok(_))
                );
            }
            if classic_ok {
                match http_get(&self.admin_addr(), "/healthz", Duration::from_secs(2)).await {
                    Ok(r) if r.status == 200 => return Ok(()),
                    Ok(r) => last_health = format!("{} {}", r.status, r.body),
                    Err(e) => last_health = e,
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "shardgate-proxy not ready after {START_TIMEOUT:?} (classic port accepting: {classic_ok}, \
                     /healthz: {last_health}); killed it\n--- log ---\n{}",
                    self.log_tail(LOG_LINES)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `"127.0.0.1:PORT"` of the classic-protocol listener.
    pub fn classic_addr(&self) -> String {
        format!("127.0.0.1:{}", self.classic_port)
    }

    /// The classic-protocol port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.classic_port
    }

    /// `"127.0.0.1:PORT"` of the admin HTTP listener (`/metrics`, `/healthz`).
    pub fn admin_addr(&self) -> String {
        format!("127.0.0.1:{}", self.admin_port)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The proxy's temp dir (`proxy.toml`, `shardmap.yaml`, `proxy.log`); its working directory too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `proxy.toml` it runs with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("proxy.toml")
    }

    /// The `shardmap.yaml` it reads (at start and on SIGHUP).
    pub fn shardmap_path(&self) -> PathBuf {
        self.dir.path().join("shardmap.yaml")
    }

    /// The file receiving the proxy's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("proxy.log")
    }

    /// Everything the proxy has logged so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        process::tail(&self.log_path(), lines)
    }

    /// `GET path` on the admin listener; panics if no complete response arrives within 10 s.
    pub async fn http_get(&self, path: &str) -> HttpResponse {
        http_get(&self.admin_addr(), path, HTTP_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The body of `GET /metrics` (Prometheus text format); panics unless the status is 200.
    pub async fn metrics(&self) -> String {
        let r = self.http_get("/metrics").await;
        assert_eq!(r.status, 200, "GET /metrics: {}", r.body);
        r.body
    }

    /// Replaces `shardmap.yaml` atomically (write then rename); the proxy reads it on [`Proxy::sighup`].
    pub fn write_shardmap(&self, yaml: &str) {
        let tmp = self.dir.path().join("shardmap.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        std::fs::rename(&tmp, self.shardmap_path())
            .unwrap_or_else(|e| panic!("rename {} into place: {e}", tmp.display()));
    }

    /// Sends SIGHUP (re-read the shard map). Panics if the proxy is not running.
    pub fn sighup(&mut self) {
        let child = self.child.as_mut().expect("sighup: the proxy is not running");
        process::signal(child, libc::SIGHUP).unwrap_or_else(|e| panic!("send SIGHUP to the proxy: {e}"));
    }

    /// True while the proxy process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// Starts the proxy again in the same directory (same config, ports, XA log) with environment `env` instead of
    /// the configured one, after the previous process ended (or was killed); waits until it is ready.
    pub async fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        self.kill();
        self.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let bin = blocking(proxy_binary).await;
        if let Err(e) = self.spawn(&bin) {
            panic!("restart the proxy: {e}");
        }
        if let Err(e) = self.wait_ready().await {
            panic!("restart the proxy: {e}");
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; returns whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(child) => matches!(process::wait_timeout(child, timeout), Ok(Some(_))),
        }
    }

    /// Kills the proxy with SIGKILL and reaps it. A no-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::kill_and_wait(&mut child);
        }
    }

    /// Asks the proxy to shut down (SIGTERM) and waits for it, blocking the calling thread for at most 30 s;
    /// returns its exit status. Panics, after killing it, if it does not exit in time, or if it is not running.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("stop: the proxy is not running");
        process::signal(&mut child, libc::SIGTERM).unwrap_or_else(|e| panic!("send SIGTERM to the proxy: {e}"));
        match process::wait_timeout(&mut child, STOP_TIMEOUT) {
            Ok(Some(status)) => status,
            other => {
                let _ = process::kill_and_wait(&mut child);
                panic!(
                    "shardgate-proxy did not exit within {STOP_TIMEOUT:?} of SIGTERM ({other:?}); killed it\n{}",
                    self.log_tail(LOG_LINES)
                );
            }
        }
    }

    /// Client options for logging in to the proxy as `user`/`password` over TCP (never switching to a socket).
    pub fn opts(&self, user: &str, password: &str) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.classic_port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
    }

    /// A connection to the proxy as `user`/`password` (optionally into database `db`); the error if refused.
    pub async fn try_conn(&self, user: &str, password: &str, db: Option<&str>) -> Result<Conn, mysql_async::Error> {
        Conn::new(self.opts(user, password).db_name(db)).await
    }

    /// A connection to the proxy as `user`/`password` (optionally into database `db`); panics with the proxy's
    /// log tail if refused.
    pub async fn conn(&self, user: &str, password: &str, db: Option<&str>) -> Conn {
        match self.try_conn(user, password, db).await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "connect to the proxy at {} as {user}: {e}\n--- log ---\n{}",
                self.classic_addr(),
                self.log_tail(LOG_LINES)
            ),
        }
    }
}

impl Drop for Proxy {
    /// Kills the proxy and reaps it; its directory is removed afterwards.
    fn drop(&mut self) {
        self.kill();
    }
}
