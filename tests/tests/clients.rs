//! Client compatibility: real clients nobody here wrote, against a real MariaDB behind a real Shardgate proxy.
//!
//! - PyMySQL and MySQL Connector/Python (pure Python and the C extension) run the scripts in `tests/clients/`
//!   (what they check is written at the top of each script) with a `mysql_native_password` and a
//!   `caching_sha2_password` proxy user, with and without TLS. Where it makes sense a script runs straight against
//!   MariaDB first, as the baseline that proves the script itself.
//! - The `mariadb` command-line client: `-e` with several statements, a batch on stdin (`USE`, `DELIMITER`, a
//!   procedure, transactions, `\G`), an unknown database, a wrong password, TLS; output compared with the same
//!   commands run straight against MariaDB.
//! - sysbench `oltp_read_write` through the proxy with server-side prepared statements and without, next to the
//!   same run straight against MariaDB.
//!
//! Missing tools are failures naming `bash scripts/setup.sh`, never silent skips.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shardgate_tests::{keyspaces_map, process, workspace_root, MariaDb, Proxy, ProxyConfig, TlsFiles};

/// Proxy users every test proxy has.
const NATIVE_USER: &str = "app_native";
const NATIVE_PASSWORD: &str = "native s3cret'\"\\";
const SHA2_USER: &str = "app_sha2";
const SHA2_PASSWORD: &str = "sha2 p@ss'wd";
/// A second `mysql_native_password` user: the target of COM_CHANGE_USER.
const OTHER_USER: &str = "app_other";
const OTHER_PASSWORD: &str = "other-secret";
/// The keyspaces (databases on the one MariaDB) the proxy serves.
const KEYSPACE: &str = "app";
const KEYSPACE2: &str = "sbtest";

/// How long one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one `mariadb` CLI invocation may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

const SETUP_HINT: &str = "run `bash scripts/setup.sh` (as root) to install it";

// ----- processes --------------------------------------------------------------------------------------------------

/// What a finished helper command left behind.
struct Output {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with everything the command printed unless it exited 0.
    fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "{} failed ({}):\n{}",
            self.what,
            self.status,
            self.dump()
        );
        self
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` to completion (bounded by `timeout`, then killed) with `stdin` as its input; stdout and stderr go to
/// temp files, so no pipe can fill up. Spawned through the harness, so it dies with the test process.
async fn run(mut cmd: Command, stdin: Option<String>, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temp dir for command output");
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        let file = |p: &Path| std::fs::File::create(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        cmd.stdout(file(&out_path)).stderr(file(&err_path));
        match stdin {
            Some(text) => {
                let in_path = dir.path().join("stdin");
                std::fs::write(&in_path, text).expect("write stdin file");
                cmd.stdin(std::fs::File::open(&in_path).expect("open stdin file"));
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
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
        let out = Output {
            what: what.clone(),
            status,
            stdout: read_lossy(&out_path),
            stderr: read_lossy(&err_path),
        };
        eprintln!("[clients] {what}: {status} in {:.1?}", started.elapsed());
        out
    })
    .await
    .expect("command runner thread")
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", p.display()))
}

/// Finds `name` on PATH (or in /usr/bin, /usr/sbin); panics naming the setup script.
fn require_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: {SETUP_HINT}"))
}

// ----- Python -----------------------------------------------------------------------------------------------------

/// The Python that has the client libraries: `python3` on PATH. Checked once; panics naming the setup script if
/// the libraries do not import.
fn python() -> &'static str {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let r = CHECKED.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import pymysql, mysql.connector, cryptography"])
            .output()
            .map_err(|e| format!("cannot run python3: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`python3 -c 'import pymysql, mysql.connector, cryptography'` failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = r {
        panic!("{e}\nThe Python client libraries are missing: run `bash scripts/setup.sh` (as root) to install them");
    }
    "python3"
}

/// `<site-packages>/mysql/vendor`: the OpenSSL the C extension of mysql-connector-python was built against. Without
/// it on LD_LIBRARY_PATH the extension does not load on Debian 12 (see /work/shared/ENVIRONMENT.md).
fn connector_vendor_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new(python())
            .args([
                "-c",
                "import mysql, os; print(os.path.join(os.path.dirname(mysql.__file__), 'vendor'))",
            ])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "locating mysql-connector-python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(
            dir.join("libssl.so.3").is_file(),
            "{} has no libssl.so.3: mysql-connector-python's C extension cannot load; reinstall it with `bash scripts/setup.sh`",
            dir.display()
        );
        dir
    })
    .clone()
}

fn clients_dir() -> PathBuf {
    workspace_root().join("tests").join("clients")
}

/// Which client library a script run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    PyMySql,
    ConnectorPure,
    ConnectorCext,
}

/// One run of a client script.
struct Script {
    client: Client,
    args: Vec<OsString>,
}

impl Script {
    fn new(client: Client, port: u16, user: &str, password: &str) -> Script {
        let mut s = Script {
            client,
            args: Vec::new(),
        };
        s.arg("--port", port.to_string())
            .arg("--user", user)
            .arg("--password", password)
            .arg("--db", KEYSPACE);
        if client != Client::PyMySql {
            s.arg(
                "--impl",
                if client == Client::ConnectorPure {
                    "pure"
                } else {
                    "cext"
                },
            );
        }
        s
    }

    fn arg(&mut self, name: &str, value: impl Into<OsString>) -> &mut Self {
        self.args.push(name.into());
        self.args.push(value.into());
        self
    }

    /// Runs the script; panics with its output unless it exits 0. Returns its stdout (the JSON report).
    async fn run_ok(&self, label: &str) -> String {
        let out = self.run().await;
        assert!(
            out.success(),
            "{label}: {:?} reported failures ({}):\n{}",
            self.client,
            out.status,
            out.dump()
        );
        eprintln!("[clients] {label}: ok\n{}", out.stdout.trim_end());
        out.stdout
    }

    async fn run(&self) -> Output {
        let script = match self.client {
            Client::PyMySql => "pymysql_suite.py",
            Client::ConnectorPure | Client::ConnectorCext => "connector_suite.py",
        };
        let mut cmd = Command::new(python());
        cmd.arg(clients_dir().join(script)).args(&self.args);
        // No bytecode files in the source tree; unbuffered output so a crash loses nothing.
        cmd.env("PYTHONDONTWRITEBYTECODE", "1").env("PYTHONUNBUFFERED", "1");
        if self.client == Client::ConnectorCext {
            let mut lib = OsString::from(connector_vendor_dir());
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
                lib.push(":");
                lib.push(old);
            }
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        run(cmd, None, SCRIPT_TIMEOUT).await
    }
}

// ----- servers ----------------------------------------------------------------------------------------------------

/// One MariaDB with databases `app` and `sbtest`, a `mysql_native_password` user for COM_CHANGE_USER baselines,
/// and a proxy in front serving both as unsharded keyspaces.
struct Setup {
    db: MariaDb,
    proxy: Proxy,
    tls: TlsFiles,
}

/// The shard map: keyspaces `app` and `sbtest`, both on `server`.
fn shardmap(server: &MariaDb) -> String {
    keyspaces_map(1, &[(KEYSPACE, &server.addr()), (KEYSPACE2, &server.addr())])
}

/// Starts the server and a proxy (TLS configured but not required; `extra` adjusts the config).
async fn setup_with(extra: impl FnOnce(ProxyConfig) -> ProxyConfig) -> Setup {
    let db = MariaDb::start().await;
    db.exec(&format!(
        "CREATE DATABASE {KEYSPACE}; CREATE DATABASE {KEYSPACE2};
         CREATE USER {OTHER_USER}@'127.0.0.1' IDENTIFIED BY '{OTHER_PASSWORD}';
         GRANT ALL PRIVILEGES ON *.* TO {OTHER_USER}@'127.0.0.1'"
    ))
    .await;
    let tls = TlsFiles::generate();
    let cfg = ProxyConfig::new(shardmap(&db))
        .user(NATIVE_USER, NATIVE_PASSWORD)
        .user_with_plugin(SHA2_USER, SHA2_PASSWORD, "caching_sha2_password")
        .user(OTHER_USER, OTHER_PASSWORD)
        .tls_files(&tls, false);
    let proxy = Proxy::start(extra(cfg)).await;
    Setup { db, proxy, tls }
}

async fn setup() -> Setup {
    setup_with(|c| c).await
}

/// A script run as root straight against MariaDB (the baseline).
fn direct(client: Client, s: &Setup) -> Script {
    let mut script = Script::new(client, s.db.port(), "root", "");
    script
        .arg("--prefix", "direct")
        .arg("--other-user", OTHER_USER)
        .arg("--other-password", OTHER_PASSWORD);
    script
}

/// A script run through the proxy as `user`.
fn via_proxy(client: Client, s: &Setup, user: &str, password: &str, plugin: &str) -> Script {
    let mut script = Script::new(client, s.proxy.port(), user, password);
    script
        .arg("--prefix", "proxied")
        .arg("--plugin", plugin)
        .arg("--other-user", OTHER_USER)
        .arg("--other-password", OTHER_PASSWORD);
    script
}

// ----- PyMySQL ----------------------------------------------------------------------------------------------------

#[tokio::test]
async fn pymysql_native_password_plain() {
    let s = setup().await;
    direct(Client::PyMySql, &s).run_ok("PyMySQL straight to MariaDB").await;
    via_proxy(
        Client::PyMySql,
        &s,
        NATIVE_USER,
        NATIVE_PASSWORD,
        "mysql_native_password",
    )
    .arg("--expect-auth", "native,native")
    .run_ok("PyMySQL via the proxy, mysql_native_password, no TLS")
    .await;
}

#[tokio::test]
async fn pymysql_native_password_tls() {
    let s = setup().await;
    via_proxy(
        Client::PyMySql,
        &s,
        NATIVE_USER,
        NATIVE_PASSWORD,
        "mysql_native_password",
    )
    .arg("--expect-auth", "native,native")
    .arg("--ssl-ca", &s.tls.ca)
    .run_ok("PyMySQL via the proxy, mysql_native_password, TLS")
    .await;
}

#[tokio::test]
async fn pymysql_caching_sha2_plain_uses_rsa_then_fast_path() {
    let s = setup().await;
    // Without TLS the first (full) authentication exchanges the proxy's RSA public key (PyMySQL needs
    // `cryptography` for it); the second login takes the fast path.
    via_proxy(Client::PyMySql, &s, SHA2_USER, SHA2_PASSWORD, "caching_sha2_password")
        .arg("--expect-auth", "full-rsa,fast")
        .run_ok("PyMySQL via the proxy, caching_sha2_password, no TLS")
        .await;
}

#[tokio::test]
async fn pymysql_caching_sha2_tls_full_then_fast_path() {
    let s = setup().await;
    via_proxy(Client::PyMySql, &s, SHA2_USER, SHA2_PASSWORD, "caching_sha2_password")
        .arg("--expect-auth", "full-tls,fast")
        .arg("--ssl-ca", &s.tls.ca)
        .run_ok("PyMySQL via the proxy, caching_sha2_password, TLS")
        .await;
}

#[tokio::test]
async fn pymysql_with_caching_sha2_as_the_greeting_plugin() {
    // The greeting announces caching_sha2_password: the sha2 user authenticates without an auth switch, the native
    // user is switched to mysql_native_password.
    let s = setup_with(|c| c.proxy_line("default_auth_plugin = \"caching_sha2_password\"")).await;
    via_proxy(Client::PyMySql, &s, SHA2_USER, SHA2_PASSWORD, "caching_sha2_password")
        .arg("--expect-auth", "full-rsa,fast")
        .run_ok("PyMySQL, sha2 user, caching_sha2_password greeting")
        .await;
    via_proxy(
        Client::PyMySql,
        &s,
        NATIVE_USER,
        NATIVE_PASSWORD,
        "mysql_native_password",
    )
    .arg("--expect-auth", "native,native")
    .arg("--prefix", "proxied2")
    .run_ok("PyMySQL, native user, caching_sha2_password greeting")
    .await;
}

/// With sql_mode NO_BACKSLASH_ESCAPES the server sets SERVER_STATUS_NO_BACKSLASH_ESCAPES in every OK packet and
/// PyMySQL (like libmysqlclient's mysql_real_escape_string) escapes quotes by doubling them instead of with
/// backslashes. Every OK the proxy writes itself must carry the flag too, or the client's escaping flips.
#[tokio::test]
async fn pymysql_no_backslash_escapes_survives_ping_and_use() {
    let s = setup().await;
    let mut d = direct(Client::PyMySql, &s);
    d.arg("--scenario", "no-backslash-escapes");
    d.run_ok("PyMySQL NO_BACKSLASH_ESCAPES straight to MariaDB").await;
    via_proxy(
        Client::PyMySql,
        &s,
        NATIVE_USER,
        NATIVE_PASSWORD,
        "mysql_native_password",
    )
    .arg("--scenario", "no-backslash-escapes")
    .run_ok("PyMySQL NO_BACKSLASH_ESCAPES via the proxy")
    .await;
}

/// Many TLS logins in a row: every one must succeed. Clients send the TLS ClientHello right behind the
/// SSLRequest packet without waiting, so both may arrive in one read.
#[tokio::test]
async fn pymysql_many_tls_logins_all_succeed() {
    let s = setup().await;
    via_proxy(
        Client::PyMySql,
        &s,
        NATIVE_USER,
        NATIVE_PASSWORD,
        "mysql_native_password",
    )
    .arg("--scenario", "tls-storm")
    .arg("--count", "100")
    .arg("--ssl-ca", &s.tls.ca)
    .run_ok("PyMySQL 100 TLS logins via the proxy")
    .await;
}

// ----- MySQL Connector/Python -------------------------------------------------------------------------------------

async fn connector_native(client: Client, tls: bool) {
    let s = setup().await;
    if !tls {
        direct(client, &s).run_ok("Connector/Python straight to MariaDB").await;
    }
    let mut script = via_proxy(client, &s, NATIVE_USER, NATIVE_PASSWORD, "mysql_native_password");
    if tls {
        script.arg("--ssl-ca", &s.tls.ca);
    }
    let expect = if client == Client::ConnectorCext {
        "cext,cext"
    } else {
        "native,native"
    };
    let out = script
        .arg("--expect-auth", expect)
        .run_ok(&format!("{client:?} via the proxy, mysql_native_password, tls {tls}"))
        .await;
    assert_connection_class(client, &out);
}

/// caching_sha2_password: over TLS the first login is a full authentication and the second the fast path. Without
/// TLS neither implementation can do the full authentication (pure Python would send the password in clear and is
/// refused with 1251; libmysqlclient refuses itself with 2061 as it is not told to fetch the RSA key), so a plain
/// first login fails, one TLS login fills the proxy's cache, and then plain logins take the fast path.
async fn connector_sha2(client: Client, tls: bool) {
    let s = setup().await;
    let mut script = via_proxy(client, &s, SHA2_USER, SHA2_PASSWORD, "caching_sha2_password");
    let expect = match (client, tls) {
        (Client::ConnectorCext, true) => "cext,cext",
        (Client::ConnectorCext, false) => "fail:2061,cext,cext,cext",
        (_, true) => "full-tls,fast",
        (_, false) => "fail:1251,full-tls,fast,fast",
    };
    if tls {
        script.arg("--ssl-ca", &s.tls.ca);
    } else {
        script.arg("--bootstrap-sha2-ca", &s.tls.ca);
    }
    let out = script
        .arg("--expect-auth", expect)
        .run_ok(&format!("{client:?} via the proxy, caching_sha2_password, tls {tls}"))
        .await;
    assert_connection_class(client, &out);
}

/// The C extension must really be in use (`use_pure=False` silently falls back to pure Python when it does not
/// load).
fn assert_connection_class(client: Client, report: &str) {
    let want = match client {
        Client::ConnectorCext => "\"connection_class\": \"CMySQLConnection\"",
        _ => "\"connection_class\": \"MySQLConnection\"",
    };
    assert!(report.contains(want), "{client:?}: {want} not in the report:\n{report}");
}

#[tokio::test]
async fn connector_pure_native_password_plain() {
    connector_native(Client::ConnectorPure, false).await;
}

#[tokio::test]
async fn connector_pure_native_password_tls() {
    connector_native(Client::ConnectorPure, true).await;
}

#[tokio::test]
async fn connector_pure_caching_sha2_plain() {
    connector_sha2(Client::ConnectorPure, false).await;
}

#[tokio::test]
async fn connector_pure_caching_sha2_tls() {
    connector_sha2(Client::ConnectorPure, true).await;
}

#[tokio::test]
async fn connector_cext_native_password_plain() {
    connector_native(Client::ConnectorCext, false).await;
}

#[tokio::test]
async fn connector_cext_native_password_tls() {
    connector_native(Client::ConnectorCext, true).await;
}

#[tokio::test]
async fn connector_cext_caching_sha2_plain() {
    connector_sha2(Client::ConnectorCext, false).await;
}

#[tokio::test]
async fn connector_cext_caching_sha2_tls() {
    connector_sha2(Client::ConnectorCext, true).await;
}

// ----- the mariadb command-line client ----------------------------------------------------------------------------

/// `mariadb --no-defaults` over TCP to 127.0.0.1:`port` as `user` (no `-p` for an empty password: a bare `-p` would
/// prompt), then `args`. Without TLS unless `args` has `--ssl`: the 10.11 client otherwise upgrades to TLS whenever
/// the server offers it.
fn cli(port: u16, user: &str, password: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(require_binary("mariadb"));
    cmd.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg("--connect-timeout=10")
        .arg("--default-character-set=utf8mb4");
    if !password.is_empty() {
        cmd.arg(format!("-p{password}"));
    }
    if !args.contains(&"--ssl") {
        cmd.arg("--skip-ssl");
    }
    cmd.args(args);
    cmd
}

/// The same CLI invocation against MariaDB (as root) and through the proxy (as the native user).
async fn cli_both(s: &Setup, args: &[&str], stdin: Option<&str>) -> (Output, Output) {
    let direct = run(
        cli(s.db.port(), "root", "", args),
        stdin.map(str::to_string),
        CLI_TIMEOUT,
    )
    .await;
    let proxied = run(
        cli(s.proxy.port(), NATIVE_USER, NATIVE_PASSWORD, args),
        stdin.map(str::to_string),
        CLI_TIMEOUT,
    )
    .await;
    (direct, proxied)
}

/// A batch script as people feed it to the CLI: comments, multi-row inserts, transactions, `USE` of the other
/// keyspace, `DELIMITER` and a procedure with two result sets, user variables, `\G`. `{p}` is a table prefix.
const BATCH: &str = r"-- Shardgate CLI batch
CREATE TABLE {p}_items (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(8,2), note TEXT NULL)
  DEFAULT CHARSET=utf8mb4;
INSERT INTO {p}_items VALUES (1, 'it''s', 1.50, NULL), (2, 'back\\slash', 2.25, 'tab\there'),
  (3, 'ünïcödé ✓ 🎉', 3.00, '');
BEGIN;
UPDATE {p}_items SET price = price * 2 WHERE id = 1;
ROLLBACK;
START TRANSACTION;
UPDATE {p}_items SET price = price + 1 WHERE id = 2;
COMMIT;
SELECT * FROM {p}_items ORDER BY id;
/* a multi-line
   comment */ SELECT COUNT(*) AS n,
  SUM(price) AS total
  FROM {p}_items;
USE sbtest;
SELECT DATABASE();
CREATE TABLE {p}_other (id INT PRIMARY KEY);
INSERT INTO {p}_other VALUES (10), (20);
SELECT * FROM {p}_other ORDER BY id;
USE app;
SELECT DATABASE(), COUNT(*) FROM {p}_items;
DELIMITER //
CREATE PROCEDURE {p}_proc(IN x INT)
BEGIN
  SELECT x * 2 AS doubled;
  SELECT 'second; result' AS s;
END //
DELIMITER ;
CALL {p}_proc(21);
SET @v = 'user; var';
SELECT @v AS v;
SELECT 1 AS a, 'b' AS b\G
SELECT 'end' AS done;
";

#[tokio::test]
async fn mariadb_cli_statements_and_batches() {
    let s = setup().await;

    // -e with several statements, including USE of the other keyspace.
    let e = "SELECT 1; SELECT 'a''b' AS q, NULL AS n, 1.5 AS f; USE sbtest; SELECT DATABASE(); \
             SELECT VERSION() LIKE '10.11%' AS v; USE app; SELECT DATABASE()";
    let (d, p) = cli_both(&s, &["app", "-e", e], None).await;
    d.assert_success();
    p.assert_success();
    assert_eq!(p.stdout, d.stdout, "-e output through the proxy differs from MariaDB's");
    assert!(
        p.stdout.contains("sbtest") && p.stdout.ends_with("app\n"),
        "{}",
        p.stdout
    );

    // The same in table format (-t) and with --database given as an option.
    let (d, p) = cli_both(
        &s,
        &["-t", "--database=sbtest", "-e", "SELECT DATABASE() AS db, 2 AS two"],
        None,
    )
    .await;
    d.assert_success();
    p.assert_success();
    assert_eq!(p.stdout, d.stdout);

    // A batch on stdin: the same script with its own table prefix on each side; outputs must match.
    let (d, p) = (
        run(
            cli(s.db.port(), "root", "", &["app"]),
            Some(BATCH.replace("{p}", "t")),
            CLI_TIMEOUT,
        )
        .await,
        run(
            cli(s.proxy.port(), NATIVE_USER, NATIVE_PASSWORD, &["app"]),
            Some(BATCH.replace("{p}", "u")),
            CLI_TIMEOUT,
        )
        .await,
    );
    d.assert_success();
    p.assert_success();
    let normalize = |o: &str, prefix: &str| o.replace(&format!("{prefix}_"), "X_");
    assert_eq!(
        normalize(&p.stdout, "u"),
        normalize(&d.stdout, "t"),
        "stdin batch output through the proxy differs from MariaDB's"
    );
    for want in [
        "doubled\n42\n",
        "second; result",
        "user; var",
        "ünïcödé ✓ 🎉",
        "sbtest\n",
        "done\nend\n",
    ] {
        assert!(
            p.stdout.contains(want),
            "{want:?} missing from the batch output:\n{}",
            p.stdout
        );
    }
    eprintln!("[clients] batch output through the proxy:\n{}", p.stdout);
    // What the batch wrote is in MariaDB.
    let n: Vec<(String, i64)> =
        s.db.query("SELECT CAST(price AS CHAR), id FROM app.u_items ORDER BY id")
            .await;
    assert_eq!(n, vec![("1.50".into(), 1), ("3.25".into(), 2), ("3.00".into(), 3)]);
    let n: Vec<i64> = s.db.query("SELECT id FROM sbtest.u_other ORDER BY id").await;
    assert_eq!(n, vec![10, 20]);

    // An unknown database: at login and in a batch's USE. Exit code non-zero, 1049 in stderr, like MariaDB.
    let (d, p) = cli_both(&s, &["no_such_db", "-e", "SELECT 1"], None).await;
    for (who, o) in [("MariaDB", &d), ("proxy", &p)] {
        assert!(
            !o.success(),
            "{who}: login into an unknown database succeeded:\n{}",
            o.dump()
        );
        assert!(o.stderr.contains("1049"), "{who}: no 1049 in stderr:\n{}", o.dump());
    }
    let (d, p) = cli_both(
        &s,
        &["app"],
        Some("SELECT 'before';\nUSE no_such_db;\nSELECT 'after';\n"),
    )
    .await;
    for (who, o) in [("MariaDB", &d), ("proxy", &p)] {
        assert!(
            !o.success(),
            "{who}: a batch with USE of an unknown database succeeded:\n{}",
            o.dump()
        );
        assert!(
            o.stderr.contains("ERROR 1049") && o.stderr.contains("at line 2"),
            "{who}: {}",
            o.dump()
        );
        assert_eq!(o.stdout, "before\nbefore\n", "{who}: output up to the error");
    }
    // --force goes on after the error, on the database it had.
    let (d, p) = cli_both(
        &s,
        &["--force", "app"],
        Some("USE no_such_db;\nSELECT DATABASE() AS db;\n"),
    )
    .await;
    assert_eq!(p.stdout, d.stdout, "--force output:\n{}\n{}", d.dump(), p.dump());
    assert_eq!(p.stdout, "db\napp\n");

    // All of that was without TLS.
    let o = run(
        cli(s.proxy.port(), NATIVE_USER, NATIVE_PASSWORD, &["-e", "\\s"]),
        None,
        CLI_TIMEOUT,
    )
    .await;
    o.assert_success();
    assert!(o.stdout.contains("SSL:\t\t\tNot in use"), "{}", o.stdout);

    // A wrong password: 1045.
    let o = run(
        cli(s.proxy.port(), NATIVE_USER, "wrong", &["-e", "SELECT 1"]),
        None,
        CLI_TIMEOUT,
    )
    .await;
    assert!(!o.success() && o.stderr.contains("1045"), "{}", o.dump());
    // The caching_sha2_password user: without TLS the CLI (libmariadb) requests the proxy's RSA key for the full
    // authentication; the second login takes the fast path.
    for round in ["full authentication", "fast path"] {
        let o = run(
            cli(
                s.proxy.port(),
                SHA2_USER,
                SHA2_PASSWORD,
                &["app", "-N", "-e", "SELECT 'sha2 ok'"],
            ),
            None,
            CLI_TIMEOUT,
        )
        .await;
        o.assert_success();
        assert_eq!(o.stdout, "sha2 ok\n", "caching_sha2_password {round}");
    }
}

#[tokio::test]
async fn mariadb_cli_tls() {
    let s = setup().await;
    let ca = format!("--ssl-ca={}", s.tls.ca.display());
    // Every login must work, not most: 50 logins, each showing the cipher in `\s` (status).
    let mut failures = Vec::new();
    for i in 0..50 {
        let args = ["--ssl", ca.as_str(), "--ssl-verify-server-cert", "app", "-e", "\\s"];
        let o = run(
            cli(s.proxy.port(), NATIVE_USER, NATIVE_PASSWORD, &args),
            None,
            CLI_TIMEOUT,
        )
        .await;
        if !o.success() || !o.stdout.contains("Cipher in use is") {
            failures.push(format!("login {i}: {}\n{}", o.status, o.dump()));
        } else if i == 0 {
            eprintln!("[clients] \\s over TLS through the proxy:\n{}", o.stdout);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 50 TLS logins with the mariadb CLI failed; the first ones:\n{}\n--- proxy log ---\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n"),
        strip_ansi(&s.proxy.log())
            .lines()
            .filter(|l| l.contains("login failed") && l.contains("SSLRequest"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `text` without ANSI escape sequences (the proxy's log is colored).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn mariadb_cli_tls_required() {
    // `[tls] require = true`: a plain login is refused with 3159, a TLS login works.
    let s = setup_with(|c| c).await;
    let required = Proxy::start(
        ProxyConfig::new(shardmap(&s.db))
            .user(NATIVE_USER, NATIVE_PASSWORD)
            .tls_files(&s.tls, true),
    )
    .await;
    let o = run(
        cli(
            required.port(),
            NATIVE_USER,
            NATIVE_PASSWORD,
            &["app", "-e", "SELECT 1"],
        ),
        None,
        CLI_TIMEOUT,
    )
    .await;
    assert!(
        !o.success() && o.stderr.contains("3159") && o.stderr.contains("insecure transport"),
        "a plain login to a proxy that requires TLS:\n{}",
        o.dump()
    );
    let ca = format!("--ssl-ca={}", s.tls.ca.display());
    let o = run(
        cli(
            required.port(),
            NATIVE_USER,
            NATIVE_PASSWORD,
            &[
                "--ssl",
                &ca,
                "--ssl-verify-server-cert",
                "app",
                "-N",
                "-e",
                "SELECT 'tls ok'",
            ],
        ),
        None,
        CLI_TIMEOUT,
    )
    .await;
    o.assert_success();
    assert_eq!(o.stdout, "tls ok\n");
}

// ----- sysbench ---------------------------------------------------------------------------------------------------

/// The numbers of one sysbench run.
#[derive(Debug)]
struct SysbenchRun {
    label: String,
    transactions: u64,
    queries: u64,
    ignored_errors: u64,
    reconnects: u64,
    tps: f64,
}

fn sysbench(port: u16, user: &str, password: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(require_binary("sysbench"));
    cmd.arg("oltp_read_write")
        .arg("--db-driver=mysql")
        .arg("--mysql-host=127.0.0.1")
        .arg(format!("--mysql-port={port}"))
        .arg(format!("--mysql-user={user}"))
        .arg(format!("--mysql-password={password}"))
        .arg(format!("--mysql-db={KEYSPACE2}"))
        .arg("--tables=2")
        .arg("--table-size=2000")
        .args(extra);
    cmd
}

async fn sysbench_run(label: &str, port: u16, user: &str, password: &str, secs: u32, ps_mode: &str) -> SysbenchRun {
    let time = format!("--time={secs}");
    let mode = format!("--db-ps-mode={ps_mode}");
    let o = run(
        sysbench(
            port,
            user,
            password,
            &["--threads=8", &time, &mode, "--report-interval=0", "run"],
        ),
        None,
        Duration::from_secs(u64::from(secs) + 120),
    )
    .await;
    let all = format!("{}\n{}", o.stdout, o.stderr);
    assert!(o.success(), "sysbench {label} failed ({}):\n{}", o.status, o.dump());
    assert!(!all.contains("FATAL"), "sysbench {label} reported FATAL:\n{}", o.dump());
    let get = |name: &str| {
        shardgate_tests::sysbench::summary_number(&o.stdout, name)
            .unwrap_or_else(|| panic!("no `{name}` in sysbench {label} output:\n{}", o.dump()))
    };
    let (transactions, tps) = get("transactions:");
    let run = SysbenchRun {
        label: label.to_string(),
        transactions,
        queries: get("queries:").0,
        ignored_errors: get("ignored errors:").0,
        reconnects: get("reconnects:").0,
        tps,
    };
    eprintln!("[clients] sysbench {run:?}");
    assert!(
        run.transactions > 0,
        "sysbench {label} ran no transaction:\n{}",
        o.dump()
    );
    // Ignored errors are deadlocks (1213) and the like, which MariaDB also reports without a proxy.
    assert_eq!(run.reconnects, 0, "sysbench {label} had to reconnect:\n{}", o.dump());
    run
}

#[tokio::test]
async fn sysbench_oltp_read_write_through_the_proxy() {
    let s = setup().await;
    let prepare = run(
        sysbench(s.db.port(), "root", "", &["prepare"]),
        None,
        Duration::from_secs(300),
    )
    .await;
    prepare.assert_success();

    let mut runs = Vec::new();
    for (where_, port, user, password) in [
        ("proxy", s.proxy.port(), NATIVE_USER, NATIVE_PASSWORD),
        ("direct", s.db.port(), "root", ""),
    ] {
        runs.push(
            sysbench_run(
                &format!("{where_}, ps-mode auto, 10 s"),
                port,
                user,
                password,
                10,
                "auto",
            )
            .await,
        );
        runs.push(
            sysbench_run(
                &format!("{where_}, ps-mode disable, 5 s"),
                port,
                user,
                password,
                5,
                "disable",
            )
            .await,
        );
    }
    eprintln!("[clients] sysbench oltp_read_write, 8 threads, 2 tables x 2000 rows:");
    for r in &runs {
        eprintln!(
            "[clients]   {:<32} {:>7} transactions {:>9.1} tps {:>8} queries {:>4} ignored errors {} reconnects",
            r.label, r.transactions, r.tps, r.queries, r.ignored_errors, r.reconnects
        );
    }
    // The tables are intact after all that: 2000 rows each.
    for t in ["sbtest1", "sbtest2"] {
        let n: Vec<i64> = s.db.query(&format!("SELECT COUNT(*) FROM sbtest.{t}")).await;
        assert_eq!(n, vec![2000], "rows in sbtest.{t}");
    }
}
