//! Proxy users and how their passwords are checked: `mysql_native_password` and `caching_sha2_password`
//! (fast path from a cache of SHA-256 digests, full authentication with the clear password over TLS or RSA).
//!
//! Like MySQL, the SHA-256 cache starts empty: a user's first `caching_sha2_password` login is a full
//! authentication, and later logins take the fast path.

pub mod native;
pub mod rsa_key;
pub mod sha2_auth;

use crate::config::{AuthPlugin, UserSection};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Mutex;

/// A proxy user as the authenticator sees it.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Plugin the user must authenticate with.
    pub plugin: AuthPlugin,
    /// The clear password when the config gives one.
    pub password: Option<Vec<u8>>,
    /// SHA1(SHA1(password)).
    pub native_stage2: [u8; 20],
    /// The password is empty.
    pub empty_password: bool,
}

impl User {
    /// True when `clear` is this user's password.
    pub fn password_matches(&self, clear: &[u8]) -> bool {
        match &self.password {
            Some(p) => constant_time_eq(p, clear),
            None => {
                let stage2: [u8; 20] = Sha1::digest(Sha1::digest(clear)).into();
                constant_time_eq(&stage2, &self.native_stage2)
            }
        }
    }
}

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses a `*`-prefixed 40-digit hex native password hash.
pub fn parse_native_hash(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix('*')?;
    if hex.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// All proxy users plus the `caching_sha2_password` digest cache.
#[derive(Debug, Default)]
pub struct UserStore {
    users: HashMap<String, User>,
    sha2_cache: Mutex<HashMap<String, [u8; 32]>>,
}

impl UserStore {
    /// Builds the store from `[[users]]` (already validated by the config loader).
    pub fn from_config(users: &[UserSection]) -> UserStore {
        let users = users
            .iter()
            .map(|u| {
                let (password, stage2, empty) = match (&u.password, &u.password_hash) {
                    (Some(p), _) => {
                        let s2: [u8; 20] = Sha1::digest(Sha1::digest(p.as_bytes())).into();
                        (Some(p.clone().into_bytes()), s2, p.is_empty())
                    }
                    (None, Some(h)) => (None, parse_native_hash(h).unwrap_or_default(), false),
                    (None, None) => (Some(Vec::new()), [0; 20], true),
                };
                (
                    u.name.clone(),
                    User {
                        name: u.name.clone(),
                        plugin: u.auth_plugin,
                        password,
                        native_stage2: stage2,
                        empty_password: empty,
                    },
                )
            })
            .collect();
        UserStore {
            users,
            sha2_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Looks a user up by name.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The cached SHA256(SHA256(password)) of a user, if a full authentication has stored it.
    pub fn cached_sha2(&self, name: &str) -> Option<[u8; 32]> {
        self.sha2_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
    }

    /// Stores SHA256(SHA256(password)) after a successful full authentication.
    pub fn cache_sha2(&self, name: &str, clear: &[u8]) {
        let d = sha2_auth::double_sha256(clear);
        self.sha2_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), d);
    }
}

/// 20 random bytes for a challenge, without NUL or `$` (clients treat the scramble as a C string).
pub fn new_scramble() -> [u8; 20] {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        *b = loop {
            let c = rng.gen_range(1u8..=127);
            if c != b'$' {
                break c;
            }
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_parsing_and_password_checks() {
        // SELECT PASSWORD('secret') on MariaDB.
        let h = "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7";
        let stage2 = parse_native_hash(h).unwrap();
        let u = User {
            name: "u".into(),
            plugin: AuthPlugin::MysqlNativePassword,
            password: None,
            native_stage2: stage2,
            empty_password: false,
        };
        assert!(u.password_matches(b"secret"));
        assert!(!u.password_matches(b"Secret"));
        assert!(parse_native_hash("14E6").is_none());
        assert!(new_scramble().iter().all(|b| *b != 0 && *b != b'$'));
    }
}
