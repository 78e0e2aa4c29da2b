//! What a test proxy runs with: a builder that renders `proxy.toml` (format: `docs/CONFIG.md`) and shard-map helpers.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::mariadb::MariaDb;

/// The cell test proxies and shard maps use unless told otherwise.
pub const DEFAULT_CELL: &str = "dc1";

/// How a proxy user proves its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSecret {
    /// A clear-text password (`password = "..."`).
    Password(String),
    /// A `mysql.user`-style hash, `*` followed by 40 hex digits of SHA1(SHA1(password)) (`password_hash = "..."`).
    Hash(String),
}

/// One `[[users]]` entry: an account clients log in to the proxy with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUser {
    /// The user name.
    pub name: String,
    /// The password or its hash.
    pub secret: UserSecret,
    /// `mysql_native_password` or `caching_sha2_password`.
    pub auth_plugin: String,
}

/// The `[pool]` section; only the settings that are `Some` are written (the rest keep the proxy's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// `min_idle`: connections kept open per backend when idle.
    pub min_idle: Option<u64>,
    /// `max_open`: hard cap of connections per backend.
    pub max_open: Option<u64>,
    /// `idle_timeout_ms`.
    pub idle_timeout_ms: Option<u64>,
    /// `ping_after_idle_ms`.
    pub ping_after_idle_ms: Option<u64>,
    /// `connect_timeout_ms`.
    pub connect_timeout_ms: Option<u64>,
    /// `checkout_timeout_ms`.
    pub checkout_timeout_ms: Option<u64>,
}

/// The `[tls]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Refuse clients that do not upgrade to TLS.
    pub require: bool,
}

/// Builder for a test proxy's `proxy.toml` and `shardmap.yaml`.
///
/// The listen addresses are not part of it: [`crate::Proxy::start`] picks free ports. By default: cell `dc1`, no
/// proxy users, backend login `root` with an empty password (what harness servers accept), no TLS, default pool.
///
/// ```no_run
/// # use shardgate_tests::{ProxyConfig, PoolSettings};
/// let cfg = ProxyConfig::new("cells: [dc1]\nkeyspaces: {}\n")
///     .user("app", "app-secret")
///     .pool(PoolSettings { max_open: Some(4), ..Default::default() })
///     .proxy_line("max_connections = 10");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    cell: String,
    users: Vec<ProxyUser>,
    backend_user: String,
    backend_password: String,
    tls: Option<TlsSettings>,
    pool: PoolSettings,
    proxy_lines: Vec<String>,
    extra_toml: String,
    raw_toml: Option<String>,
    shardmap: String,
    env: Vec<(String, String)>,
}

impl ProxyConfig {
    /// A configuration serving `shardmap_yaml` (the contents of `shardmap.yaml`), with the defaults above.
    pub fn new(shardmap_yaml: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            cell: DEFAULT_CELL.to_string(),
            users: Vec::new(),
            backend_user: "root".to_string(),
            backend_password: String::new(),
            tls: None,
            pool: PoolSettings::default(),
            proxy_lines: Vec::new(),
            extra_toml: String::new(),
            raw_toml: None,
            shardmap: shardmap_yaml.into(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable of the proxy process (e.g. `SHARDGATE_FAILPOINT`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The extra environment of the proxy process.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// Sets the proxy's own cell (`[proxy] cell`).
    pub fn cell(mut self, cell: impl Into<String>) -> Self {
        self.cell = cell.into();
        self
    }

    /// Adds a user with a clear-text password and `mysql_native_password`.
    pub fn user(self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user_with_plugin(name, password, "mysql_native_password")
    }

    /// Adds a user with a clear-text password and the given auth plugin (e.g. `caching_sha2_password`).
    pub fn user_with_plugin(
        self,
        name: impl Into<String>,
        password: impl Into<String>,
        auth_plugin: impl Into<String>,
    ) -> Self {
        self.add_user(ProxyUser {
            name: name.into(),
            secret: UserSecret::Password(password.into()),
            auth_plugin: auth_plugin.into(),
        })
    }

    /// Adds any user entry.
    pub fn add_user(mut self, user: ProxyUser) -> Self {
        self.users.push(user);
        self
    }

    /// Sets the login the proxy uses on every backend (`[backend]`).
    pub fn backend_login(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.backend_user = user.into();
        self.backend_password = password.into();
        self
    }

    /// Enables TLS on the classic listener with these PEM files (`[tls]`); `require` refuses plain clients.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>, require: bool) -> Self {
        self.tls = Some(TlsSettings {
            cert: cert.into(),
            key: key.into(),
            require,
        });
        self
    }

    /// Enables TLS with the server certificate of `files` (see [`crate::TlsFiles`]).
    pub fn tls_files(self, files: &crate::TlsFiles, require: bool) -> Self {
        self.tls(files.cert.clone(), files.key.clone(), require)
    }

    /// Sets the `[pool]` section.
    pub fn pool(mut self, pool: PoolSettings) -> Self {
        self.pool = pool;
        self
    }

    /// Appends a raw TOML line to the `[proxy]` section, e.g. `"max_connections = 10"`.
    pub fn proxy_line(mut self, line: impl Into<String>) -> Self {
        self.proxy_lines.push(line.into());
        self
    }

    /// Appends raw TOML at the end of the file (whole sections, e.g. for settings this builder does not know).
    pub fn extra_toml(mut self, toml: impl Into<String>) -> Self {
        self.extra_toml.push_str(&toml.into());
        self.extra_toml.push('\n');
        self
    }

    /// Uses `toml` verbatim as `proxy.toml` instead of rendering it (for bad-config tests). `{classic_listen}` and
    /// `{admin_listen}` in it are replaced by the chosen `127.0.0.1:PORT` addresses; `shardmap.yaml` is still
    /// written next to it.
    pub fn raw_toml(mut self, toml: impl Into<String>) -> Self {
        self.raw_toml = Some(toml.into());
        self
    }

    /// Replaces the shard map.
    pub fn shardmap(mut self, shardmap_yaml: impl Into<String>) -> Self {
        self.shardmap = shardmap_yaml.into();
        self
    }

    /// The shard map YAML.
    pub fn shardmap_yaml(&self) -> &str {
        &self.shardmap
    }

    /// Renders `proxy.toml` for these listen addresses; the shard map is referenced as `shardmap.yaml` (relative to
    /// the TOML file's directory).
    pub fn to_toml(&self, classic_listen: &str, admin_listen: &str) -> String {
        if let Some(raw) = &self.raw_toml {
            return raw
                .replace("{classic_listen}", classic_listen)
                .replace("{admin_listen}", admin_listen);
        }
        let mut t = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(t, "[proxy]");
        let _ = writeln!(t, "cell = {}", quote(&self.cell));
        let _ = writeln!(t, "classic_listen = {}", quote(classic_listen));
        let _ = writeln!(t, "admin_listen = {}", quote(admin_listen));
        for line in &self.proxy_lines {
            let _ = writeln!(t, "{line}");
        }
        if let Some(tls) = &self.tls {
            let _ = writeln!(t, "\n[tls]");
            let _ = writeln!(t, "cert = {}", quote(&tls.cert.to_string_lossy()));
            let _ = writeln!(t, "key = {}", quote(&tls.key.to_string_lossy()));
            let _ = writeln!(t, "require = {}", tls.require);
        }
        let _ = writeln!(t, "\n[backend]");
        let _ = writeln!(t, "user = {}", quote(&self.backend_user));
        let _ = writeln!(t, "password = {}", quote(&self.backend_password));
        let pool = [
            ("min_idle", self.pool.min_idle),
            ("max_open", self.pool.max_open),
            ("idle_timeout_ms", self.pool.idle_timeout_ms),
            ("ping_after_idle_ms", self.pool.ping_after_idle_ms),
            ("connect_timeout_ms", self.pool.connect_timeout_ms),
            ("checkout_timeout_ms", self.pool.checkout_timeout_ms),
        ];
        if pool.iter().any(|(_, v)| v.is_some()) {
            let _ = writeln!(t, "\n[pool]");
            for (key, value) in pool {
                if let Some(value) = value {
                    let _ = writeln!(t, "{key} = {value}");
                }
            }
        }
        for user in &self.users {
            let _ = writeln!(t, "\n[[users]]");
            let _ = writeln!(t, "name = {}", quote(&user.name));
            match &user.secret {
                UserSecret::Password(p) => {
                    let _ = writeln!(t, "password = {}", quote(p));
                }
                UserSecret::Hash(h) => {
                    let _ = writeln!(t, "password_hash = {}", quote(h));
                }
            }
            let _ = writeln!(t, "auth_plugin = {}", quote(&user.auth_plugin));
        }
        let _ = writeln!(t, "\n[shardmap]");
        let _ = writeln!(t, "file = \"shardmap.yaml\"");
        if !self.extra_toml.is_empty() {
            let _ = writeln!(t, "\n{}", self.extra_toml);
        }
        t
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The shard map for one unsharded keyspace `keyspace` whose single shard `"0"` (cell `dc1`) has `server` as its
/// primary. The keyspace is the database of that name on the server: create it before querying through the proxy.
pub fn unsharded_map(keyspace: &str, server: &MariaDb) -> String {
    keyspaces_map(1, &[(keyspace, &server.addr())])
}

/// A shard map of version `version` with one unsharded keyspace per `(name, primary address)` pair, all in cell
/// `dc1`, in the given order (the first is the default keyspace).
pub fn keyspaces_map(version: u64, keyspaces: &[(&str, &str)]) -> String {
    let mut s = format!("version: {version}\ncells: [{DEFAULT_CELL}]\nkeyspaces:\n");
    for (ks, addr) in keyspaces {
        s.push_str(&format!(
            "  {ks}:\n    sharded: false\n    shards:\n      - name: \"0\"\n        cell: {DEFAULT_CELL}\n        primary: {addr}\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sections() {
        let toml = ProxyConfig::new("")
            .user("app", "pa\"ss")
            .pool(PoolSettings {
                max_open: Some(4),
                ..Default::default()
            })
            .tls("/c.pem", "/k.pem", true)
            .proxy_line("max_connections = 10")
            .to_toml("127.0.0.1:1", "127.0.0.1:2");
        for want in [
            "[proxy]\ncell = \"dc1\"\nclassic_listen = \"127.0.0.1:1\"\nadmin_listen = \"127.0.0.1:2\"\nmax_connections = 10\n",
            "[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nrequire = true\n",
            "[backend]\nuser = \"root\"\npassword = \"\"\n",
            "[pool]\nmax_open = 4\n\n",
            "[[users]]\nname = \"app\"\npassword = \"pa\\\"ss\"\nauth_plugin = \"mysql_native_password\"\n",
            "[shardmap]\nfile = \"shardmap.yaml\"\n",
        ] {
            assert!(toml.contains(want), "{want:?} not in:\n{toml}");
        }
    }

    #[test]
    fn raw_toml_gets_addresses() {
        let toml = ProxyConfig::new("")
            .raw_toml("[proxy]\nclassic_listen = \"{classic_listen}\"\nadmin_listen = \"{admin_listen}\"\n")
            .to_toml("127.0.0.1:1", "127.0.0.1:2");
        assert_eq!(
            toml,
            "[proxy]\nclassic_listen = \"127.0.0.1:1\"\nadmin_listen = \"127.0.0.1:2\"\n"
        );
    }
}
