//! Running sysbench from a test: one bounded run with its output captured, and sysbench's summary parsed.
//!
//! ```no_run
//! # async fn demo(port: u16) {
//! use shardgate_tests::sysbench::Sysbench;
//! use std::time::Duration;
//! let out = Sysbench::new("oltp_point_select", port, "u", "p", "sbtest")
//!     .args(["--tables=2", "--table-size=2000", "--time=5", "run"])
//!     .run(Duration::from_secs(60))
//!     .await;
//! let summary = out.summary().unwrap_or_else(|e| panic!("{e}\n{}", out.dump()));
//! assert_eq!(summary.reconnects, 0);
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::process;

/// The `sysbench` binary: on PATH or in /usr/bin; panics naming the setup script when it is missing.
pub fn sysbench_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join("sysbench"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`sysbench` is not installed: run `bash scripts/setup.sh` (as root) to install it"))
}

/// One sysbench invocation over TCP to 127.0.0.1 (`--db-driver=mysql`).
#[derive(Debug, Clone)]
pub struct Sysbench {
    test: String,
    args: Vec<String>,
}

impl Sysbench {
    /// `sysbench TEST` against 127.0.0.1:`port` as `user`/`password` in database `db`; add the rest (sizes,
    /// `--time`, and the command: `prepare`, `run`, `cleanup`) with [`Sysbench::args`].
    pub fn new(test: &str, port: u16, user: &str, password: &str, db: &str) -> Sysbench {
        Sysbench {
            test: test.to_string(),
            args: vec![
                "--db-driver=mysql".into(),
                "--mysql-host=127.0.0.1".into(),
                format!("--mysql-port={port}"),
                format!("--mysql-user={user}"),
                format!("--mysql-password={password}"),
                format!("--mysql-db={db}"),
            ],
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Sysbench
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        format!("sysbench {} {}", self.test, self.args.join(" "))
    }

    /// Runs it to completion; killed after `timeout` (then this panics with what it printed so far). Output goes
    /// to temp files, so no pipe can fill up; the process is spawned through the harness and dies with the test.
    pub async fn run(&self, timeout: Duration) -> SysbenchOutput {
        let mut cmd = Command::new(sysbench_binary());
        cmd.arg(&self.test).args(&self.args).stdin(Stdio::null());
        let what = self.command_line();
        tokio::task::spawn_blocking(move || {
            let dir = tempfile::tempdir().expect("temp dir for sysbench output");
            let out_path = dir.path().join("stdout");
            let err_path = dir.path().join("stderr");
            let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
            cmd.stdout(file(&out_path)).stderr(file(&err_path));
            let started = Instant::now();
            let mut child = process::spawn(cmd).unwrap_or_else(|e| panic!("spawn {what}: {e}"));
            let status = match process::wait_timeout(&mut child, timeout) {
                Ok(Some(status)) => status,
                other => {
                    let _ = process::kill_and_wait(&mut child);
                    panic!(
                        "{what} did not finish within {timeout:?} ({other:?}); killed it\n--- stdout ---\n{}\n--- stderr ---\n{}",
                        read_lossy(&out_path),
                        read_lossy(&err_path)
                    );
                }
            };
            SysbenchOutput {
                command: what,
                status,
                stdout: read_lossy(&out_path),
                stderr: read_lossy(&err_path),
                elapsed: started.elapsed(),
            }
        })
        .await
        .expect("sysbench runner thread")
    }
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", p.display()))
}

/// What one sysbench run printed.
#[derive(Debug, Clone)]
pub struct SysbenchOutput {
    /// The command line.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl SysbenchOutput {
    /// Exit status 0 and no `FATAL` line.
    pub fn ok(&self) -> bool {
        self.status.success() && !self.stdout.contains("FATAL") && !self.stderr.contains("FATAL")
    }

    /// The command, its status and everything it printed.
    pub fn dump(&self) -> String {
        format!(
            "{} ({}, {:.1?}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.elapsed,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// The `FATAL` / `ALERT` / `WARNING` lines sysbench printed (the failing statements and their errors).
    pub fn problems(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| l.contains("FATAL") || l.contains("ALERT") || l.contains("WARNING"))
            .collect()
    }

    /// The "SQL statistics" summary of a `run`.
    pub fn summary(&self) -> Result<SysbenchSummary, String> {
        let get = |name: &str| {
            summary_number(&self.stdout, name)
                .ok_or_else(|| format!("no `{name}` line in the output of {}", self.command))
        };
        let (transactions, tps) = get("transactions:")?;
        let (queries, qps) = get("queries:")?;
        Ok(SysbenchSummary {
            reads: get("read:")?.0,
            writes: get("write:")?.0,
            other: get("other:")?.0,
            transactions,
            tps,
            queries,
            qps,
            ignored_errors: get("ignored errors:")?.0,
            reconnects: get("reconnects:")?.0,
        })
    }
}

/// sysbench's summary of a run ("SQL statistics").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SysbenchSummary {
    /// `read:` queries.
    pub reads: u64,
    /// `write:` queries.
    pub writes: u64,
    /// `other:` queries (BEGIN, COMMIT).
    pub other: u64,
    /// Events (transactions for the OLTP tests) completed.
    pub transactions: u64,
    /// ... per second.
    pub tps: f64,
    /// All queries.
    pub queries: u64,
    /// ... per second.
    pub qps: f64,
    /// Errors sysbench ignored and retried the event after (by default 1213 deadlock, 1205 lock wait timeout,
    /// 1020 and 1180).
    pub ignored_errors: u64,
    /// Reconnects after a lost connection.
    pub reconnects: u64,
}

/// `  name:   123   (12.3 per sec.)` → (123, 12.3); the rate is 0 when absent.
pub fn summary_number(out: &str, name: &str) -> Option<(u64, f64)> {
    let line = out.lines().find(|l| l.trim_start().starts_with(name))?;
    let rest = line.trim_start()[name.len()..].trim();
    let count = rest.split_whitespace().next()?.parse().ok()?;
    let rate = rest
        .split('(')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or(0.0);
    Some((count, rate))
}

#[cfg(test)]
mod tests {
    use super::summary_number;

    #[test]
    fn parses_summary_lines() {
        let out = "SQL statistics:\n    queries performed:\n        read:                            1400\n        \
                   other:                           200\n    transactions:                        100    (9.98 per sec.)\n    \
                   ignored errors:                      3      (0.30 per sec.)\n";
        assert_eq!(summary_number(out, "read:"), Some((1400, 0.0)));
        assert_eq!(summary_number(out, "other:"), Some((200, 0.0)));
        assert_eq!(summary_number(out, "transactions:"), Some((100, 9.98)));
        assert_eq!(summary_number(out, "ignored errors:"), Some((3, 0.3)));
        assert_eq!(summary_number(out, "reconnects:"), None);
    }
}
