//! The RSA key pair `caching_sha2_password` uses for full authentication without TLS: generated once per process
//! on first use (off the async runtime), public half sent as PEM, private half decrypts RSA-OAEP(SHA-1) payloads.

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{Oaep, RsaPrivateKey};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A generated key pair with its public key already encoded.
pub struct RsaKeyPair {
    private: RsaPrivateKey,
    /// `-----BEGIN PUBLIC KEY-----` PEM of the public key.
    pub public_pem: String,
}

impl RsaKeyPair {
    /// Decrypts a client's RSA-OAEP(SHA-1) payload.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.private.decrypt(Oaep::new::<sha1::Sha1>(), ciphertext).ok()
    }
}

static KEY: OnceCell<Arc<RsaKeyPair>> = OnceCell::const_new();

/// The process's key pair, generating a 2048-bit key on first call.
pub async fn key_pair() -> Result<Arc<RsaKeyPair>, String> {
    KEY.get_or_try_init(|| async {
        tokio::task::spawn_blocking(|| {
            let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
            let public_pem = private
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(RsaKeyPair { private, public_pem }))
        })
        .await
        .map_err(|e| e.to_string())?
    })
    .await
    .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn client_encryption_decrypts() {
        let k = key_pair().await.unwrap();
        let scramble = b"abcdefghij0123456789";
        let mut payload = b"pw\0".to_vec();
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
        // mysql_common's client-side encryption, as mysql_async uses it.
        let ct = mysql_common::crypto::encrypt(&payload, k.public_pem.as_bytes());
        let clear = k.decrypt(&ct).unwrap();
        assert_eq!(super::super::sha2_auth::unxor_password(&clear, scramble), b"pw");
    }
}
