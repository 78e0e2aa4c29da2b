//! The MariaDB binaries and the initialised data directory every test server is copied from.
//!
//! `mariadb-install-db` takes about a second, so it runs once per test process into a template directory; each
//! server then `cp -a`s the template (a fraction of a second). The template is removed when the process exits
//! normally (an `atexit` hook); one left by a killed process is removed by the next test process (`tempdirs.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::tempdirs;

/// What to run to install the missing servers; named in every "not installed" panic.
pub(crate) const SETUP_HINT: &str =
    "install MariaDB with `bash scripts/setup.sh` (or `apt-get install -y mariadb-server mariadb-client`)";

/// SQL run by `mariadb-install-db` after the system tables exist: root may log in with an empty password over TCP
/// from 127.0.0.1 (as the proxy and replicas do) and over the unix socket.
///
/// It must start with `FLUSH PRIVILEGES`: the file runs with the grant tables off, where `CREATE USER` fails (1290).
/// With `skip-name-resolve`, a TCP client from 127.0.0.1 matches host `127.0.0.1` only, never `localhost`.
const INIT_SQL: &str = "\
FLUSH PRIVILEGES;
ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS root@'127.0.0.1';
ALTER USER root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
";

/// Finds an executable named `name` on `PATH` or in `/usr/sbin` and `/usr/local/sbin` (not on a non-root `PATH`).
pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The path of `mariadbd`; panics naming the setup command when it is not installed.
pub(crate) fn mariadbd() -> PathBuf {
    find_binary("mariadbd").unwrap_or_else(|| panic!("`mariadbd` is not on PATH nor in /usr/sbin: {SETUP_HINT}"))
}

/// The template data directory, created on first use; panics (in every caller) if that failed.
pub(crate) fn template_datadir() -> &'static Path {
    static TEMPLATE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match TEMPLATE.get_or_init(create_template) {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

/// Runs `mariadb-install-db` into a fresh directory and returns its data directory.
fn create_template() -> Result<PathBuf, String> {
    let install = find_binary("mariadb-install-db")
        .ok_or_else(|| format!("`mariadb-install-db` is not on PATH nor in /usr/sbin: {SETUP_HINT}"))?;
    // `mariadb-install-db` runs the `mariadbd` it finds itself; check it here for the clearer message.
    mariadbd();
    let root = tempdirs::create("template", None).keep();
    register_cleanup(root.clone());

    let datadir = root.join("data");
    let cnf = root.join("install.cnf");
    let sql = root.join("init.sql");
    let tmpdir = root.join("tmp");
    std::fs::create_dir(&tmpdir).map_err(|e| format!("create {}: {e}", tmpdir.display()))?;
    // `user=root`: mariadbd refuses to run as root otherwise. A private `tmpdir`: a server starting meanwhile
    // deletes the `#sql*` files in *its* tmpdir, which with a shared /tmp are bootstrap's temporary tables. Only
    // what bootstrap needs; the servers' own my.cnf sets the rest.
    let cnf_text = format!(
        "[mariadbd]\nuser=root\ndatadir={}\ntmpdir={}\ninnodb_buffer_pool_size=64M\n",
        datadir.display(),
        tmpdir.display()
    );
    std::fs::write(&cnf, cnf_text).map_err(|e| format!("write {}: {e}", cnf.display()))?;
    std::fs::write(&sql, INIT_SQL).map_err(|e| format!("write {}: {e}", sql.display()))?;

    let mut cmd = Command::new(&install);
    // --defaults-file must come first; it keeps /etc/mysql out.
    cmd.arg(arg("--defaults-file=", &cnf))
        .arg("--user=root")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg(arg("--extra-file=", &sql));
    let out = cmd.output().map_err(|e| format!("run {}: {e}", install.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}\n{}",
            install.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(datadir)
}

/// `--name=` followed by a path, as one argument.
pub(crate) fn arg(prefix: &str, path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(prefix);
    s.push(path.as_os_str());
    s
}

/// Removes `dir` when the process exits through `exit` (which the test harness does, also when tests fail).
fn register_cleanup(dir: PathBuf) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_template() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if DIR.set(dir).is_ok() {
        // SAFETY: registers a plain function; it only touches the filesystem.
        unsafe {
            libc::atexit(remove_template);
        }
    }
}
