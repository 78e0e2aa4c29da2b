//! Process configuration (`proxy.toml`): parsing with unknown keys refused, defaults, and checks whose errors name
//! the file, the key and the fix. The format is documented in `docs/CONFIG.md`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration error, formatted as `file: key: problem; fix`.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// The file that is wrong.
    pub file: String,
    /// The key (dotted path) that is wrong, or `-` for the whole file.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The whole `proxy.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[proxy]`: listeners and identity.
    pub proxy: ProxySection,
    /// `[tls]`: optional server certificate for the classic listener.
    #[serde(default)]
    pub tls: Option<TlsSection>,
    /// `[backend]`: credentials the proxy uses on backends.
    pub backend: BackendSection,
    /// `[pool]`: backend connection pool limits.
    #[serde(default)]
    pub pool: PoolSection,
    /// `[[users]]`: proxy users.
    #[serde(default)]
    pub users: Vec<UserSection>,
    /// `[shardmap]`: where the shard map comes from.
    pub shardmap: ShardmapSection,
}

/// `[proxy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// This proxy's cell.
    pub cell: String,
    /// Classic protocol listen address.
    pub classic_listen: SocketAddr,
    /// Admin HTTP listen address (`/metrics`, `/healthz`).
    pub admin_listen: SocketAddr,
    /// Tokio worker threads; 0 means automatic ([`effective_worker_threads`]).
    #[serde(default)]
    pub worker_threads: usize,
    /// Maximum concurrent client connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Server version string announced in the greeting.
    #[serde(default = "default_server_version")]
    pub server_version: String,
    /// Authentication plugin announced in the greeting.
    #[serde(default = "default_auth_plugin")]
    pub default_auth_plugin: AuthPlugin,
    /// Largest logical packet accepted from a client, in bytes.
    #[serde(default = "default_max_packet_size")]
    pub max_packet_size: usize,
    /// This proxy's name, unique among proxies sharing backends: it prefixes the XA transaction ids it creates, so
    /// after a crash it resolves its own in-doubt transactions and no one else's. Default: `proxy-<classic port>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Directory of the two-phase-commit decision log (fsync'd; must survive restarts). Relative paths are relative
    /// to the config file. Default: `xa-log` next to the config file.
    #[serde(default)]
    pub xa_log_dir: Option<PathBuf>,
}

impl ProxySection {
    /// The proxy's name (see [`ProxySection::name`]).
    pub fn effective_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("proxy-{}", self.classic_listen.port()))
    }
}

/// Worker threads for a configured value: the value itself, or for 0 half the cores (at least one).
///
/// Measured on a 2-core host running sysbench and MariaDB too: with two workers the multi-threaded scheduler's
/// cross-thread wake-ups (futex calls, about one per two statements) cost more than the second core gives; one
/// worker relays point selects with less CPU per statement than HAProxy. See `benches/README.md`.
pub fn effective_worker_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn default_max_connections() -> usize {
    10_000
}
fn default_server_version() -> String {
    "5.5.5-10.11.6-MariaDB-shardgate".to_string()
}
fn default_auth_plugin() -> AuthPlugin {
    AuthPlugin::MysqlNativePassword
}
fn default_max_packet_size() -> usize {
    1 << 30
}

/// Authentication plugins the proxy speaks to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthPlugin {
    /// `mysql_native_password` (SHA-1 challenge/response).
    #[serde(rename = "mysql_native_password")]
    MysqlNativePassword,
    /// `caching_sha2_password` (SHA-256 fast path, full authentication over TLS or RSA).
    #[serde(rename = "caching_sha2_password")]
    CachingSha2Password,
}

impl AuthPlugin {
    /// The plugin's protocol name.
    pub fn name(self) -> &'static str {
        match self {
            AuthPlugin::MysqlNativePassword => "mysql_native_password",
            AuthPlugin::CachingSha2Password => "caching_sha2_password",
        }
    }

    /// Looks a plugin up by its protocol name.
    pub fn from_name(name: &[u8]) -> Option<AuthPlugin> {
        match name {
            b"mysql_native_password" => Some(AuthPlugin::MysqlNativePassword),
            b"caching_sha2_password" => Some(AuthPlugin::CachingSha2Password),
            _ => None,
        }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Refuse clients that do not upgrade to TLS.
    #[serde(default)]
    pub require: bool,
}

/// `[backend]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Backend user name.
    pub user: String,
    /// Backend password.
    #[serde(default)]
    pub password: String,
}

/// `[pool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Idle connections kept open per backend.
    #[serde(default)]
    pub min_idle: usize,
    /// Maximum open connections per backend.
    #[serde(default = "default_max_open")]
    pub max_open: usize,
    /// Idle connections above `min_idle` are closed after this many milliseconds.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// A connection idle longer than this is pinged before use.
    #[serde(default = "default_ping_after")]
    pub ping_after_idle_ms: u64,
    /// Backend connect (and login) timeout.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// How long a statement waits for a free connection before failing.
    #[serde(default = "default_checkout_timeout")]
    pub checkout_timeout_ms: u64,
}

fn default_max_open() -> usize {
    256
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_ping_after() -> u64 {
    1_000
}
fn default_connect_timeout() -> u64 {
    2_000
}
fn default_checkout_timeout() -> u64 {
    5_000
}

impl Default for PoolSection {
    fn default() -> Self {
        PoolSection {
            min_idle: 0,
            max_open: default_max_open(),
            idle_timeout_ms: default_idle_timeout(),
            ping_after_idle_ms: default_ping_after(),
            connect_timeout_ms: default_connect_timeout(),
            checkout_timeout_ms: default_checkout_timeout(),
        }
    }
}

/// `[[users]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// User name clients log in with.
    pub name: String,
    /// Clear-text password.
    #[serde(default)]
    pub password: Option<String>,
    /// `*` + 40 hex digits: SHA1(SHA1(password)), as in `mysql.user`.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Plugin the user authenticates with.
    #[serde(default = "default_auth_plugin")]
    pub auth_plugin: AuthPlugin,
}

/// `[shardmap]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardmapSection {
    /// Path of the YAML shard map.
    pub file: PathBuf,
}

/// The dotted key (`proxy.classic_listen`, `users[1].auth_plugin`) of the `key = value` line at byte `offset`,
/// for error messages.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line.split('=').next().unwrap_or("").trim().trim_matches('"');
    let mut section = String::new();
    let mut arrays: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in text[..line_start].lines() {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            let n = arrays.entry(name.trim().to_string()).or_insert(0);
            section = format!("{}[{}]", name.trim(), *n);
            *n += 1;
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_string();
        }
    }
    match (section.is_empty(), key.is_empty() || key.starts_with('[')) {
        (_, true) if section.is_empty() => "-".to_string(),
        (_, true) => section,
        (true, false) => key.to_string(),
        (false, false) => format!("{section}.{key}"),
    }
}

impl Config {
    /// Reads, parses and checks a configuration file; relative paths inside it become relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let err = |key: &str, message: String| ConfigError {
            file: file.clone(),
            key: key.to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                "-",
                format!("cannot read the file: {e}; pass an existing file with --config"),
            )
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| {
            let key = e
                .span()
                .map(|s| key_at(&text, s.start))
                .unwrap_or_else(|| "-".to_string());
            err(&key, e.message().to_string())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut cfg.shardmap.file);
        let mut xa = cfg.proxy.xa_log_dir.take().unwrap_or_else(|| PathBuf::from("xa-log"));
        resolve(&mut xa);
        cfg.proxy.xa_log_dir = Some(xa);
        if let Some(tls) = cfg.tls.as_mut() {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        cfg.check().map_err(|(k, m)| err(&k, m))?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.proxy.cell.is_empty() {
            return Err((
                "proxy.cell".into(),
                "must name this proxy's cell, e.g. cell = \"dc1\"".into(),
            ));
        }
        if self.pool.max_open == 0 {
            return Err(("pool.max_open".into(), "must be at least 1".into()));
        }
        if self.pool.min_idle > self.pool.max_open {
            return Err((
                "pool.min_idle".into(),
                format!("is larger than pool.max_open ({}); lower it", self.pool.max_open),
            ));
        }
        if self.proxy.max_packet_size < 1024 {
            return Err(("proxy.max_packet_size".into(), "must be at least 1024 bytes".into()));
        }
        if self.users.is_empty() {
            return Err((
                "users".into(),
                "define at least one [[users]] entry with name and password".into(),
            ));
        }
        for (i, u) in self.users.iter().enumerate() {
            let key = format!("users[{i}]");
            if u.name.is_empty() {
                return Err((format!("{key}.name"), "must not be empty".into()));
            }
            if self.users[..i].iter().any(|o| o.name == u.name) {
                return Err((format!("{key}.name"), format!("user {:?} is defined twice", u.name)));
            }
            match (&u.password, &u.password_hash) {
                (Some(_), Some(_)) => {
                    return Err((
                        format!("{key}.password_hash"),
                        "give either password or password_hash, not both".into(),
                    ))
                }
                (None, None) => {
                    return Err((
                        format!("{key}.password"),
                        "give a password (or password_hash = \"*<40 hex digits>\"); use password = \"\" for none"
                            .into(),
                    ))
                }
                (None, Some(h)) if crate::auth::parse_native_hash(h).is_none() => return Err((
                    format!("{key}.password_hash"),
                    "must be '*' followed by 40 hex digits (SHA1(SHA1(password)), as SELECT PASSWORD('...') prints)"
                        .into(),
                )),
                _ => {}
            }
        }
        if let Some(tls) = &self.tls {
            for (k, p) in [("tls.cert", &tls.cert), ("tls.key", &tls.key)] {
                if !p.exists() {
                    return Err((k.into(), format!("file {} does not exist", p.display())));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("sg-cfg-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("proxy.toml");
        std::fs::write(&p, text).unwrap();
        let r = Config::load(&p);
        std::fs::remove_dir_all(&dir).ok();
        r
    }

    const GOOD: &str = r#"
[proxy]
cell = "dc1"
classic_listen = "127.0.0.1:6446"
admin_listen = "127.0.0.1:9446"
[backend]
user = "root"
[[users]]
name = "app"
password = "s"
[shardmap]
file = "map.yaml"
"#;

    #[test]
    fn good_config_and_defaults() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.pool.max_open, 256);
        assert_eq!(c.proxy.default_auth_plugin, AuthPlugin::MysqlNativePassword);
        assert!(c.shardmap.file.is_absolute() && c.shardmap.file.ends_with("map.yaml"));
    }

    #[test]
    fn errors_name_file_and_key() {
        let e = load(&GOOD.replace("cell = \"dc1\"", "cell = \"dc1\"\ncolour = 1")).unwrap_err();
        assert_eq!(e.key, "proxy.colour", "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        let e = load(&GOOD.replace("password = \"s\"", "password = \"s\"\nauth_plugin = \"ed25519\"")).unwrap_err();
        assert_eq!(e.key, "users[0].auth_plugin", "{e}");
        assert!(e.to_string().contains("proxy.toml"));
        let e = load(&GOOD.replace("password = \"s\"", "")).unwrap_err();
        assert_eq!(e.key, "users[0].password");
        let e = load(&GOOD.replace("password = \"s\"", "password_hash = \"abc\"")).unwrap_err();
        assert_eq!(e.key, "users[0].password_hash");
        let e = load(&GOOD.replace("127.0.0.1:6446", "nope")).unwrap_err();
        assert_eq!(e.key, "proxy.classic_listen", "{e}");
    }
}
