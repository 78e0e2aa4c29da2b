//! `caching_sha2_password`: the fast path (a 32-byte scramble checked against a cached SHA-256 digest) and the
//! decoding of full-authentication payloads (clear text over TLS, or RSA-OAEP encrypted without TLS).

use sha2::{Digest, Sha256};

/// Second packet byte of an AuthMoreData reply: the fast path succeeded.
pub const FAST_AUTH_SUCCESS: u8 = 0x03;
/// Second packet byte of an AuthMoreData reply: send the password (TLS) or ask for the RSA key.
pub const PERFORM_FULL_AUTHENTICATION: u8 = 0x04;
/// A client's request for the server's RSA public key.
pub const REQUEST_PUBLIC_KEY: u8 = 0x02;

/// SHA256(SHA256(password)), the value the fast path compares against.
pub fn double_sha256(clear: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(clear)).into()
}

/// Checks a fast-path response: the client sends `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble)`.
pub fn verify_fast(scramble: &[u8], response: &[u8], cached: &[u8; 32]) -> bool {
    if response.len() != 32 {
        return false;
    }
    let mut h = Sha256::new();
    h.update(cached);
    h.update(scramble);
    let mask: [u8; 32] = h.finalize().into();
    let mut stage1 = [0u8; 32];
    for i in 0..32 {
        stage1[i] = response[i] ^ mask[i];
    }
    let check: [u8; 32] = Sha256::digest(stage1).into();
    super::constant_time_eq(&check, cached)
}

/// Strips the trailing NUL of a clear-text password sent during full authentication.
pub fn clear_password(payload: &[u8]) -> &[u8] {
    payload.strip_suffix(&[0]).unwrap_or(payload)
}

/// Undoes the XOR with the scramble that clients apply before RSA encryption, and strips the NUL.
pub fn unxor_password(decrypted: &[u8], scramble: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = decrypted
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ scramble[i % scramble.len()])
        .collect();
    if out.last() == Some(&0) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_client_scramble() {
        let scramble = *b"abcdefghij0123456789";
        let resp = mysql_common::scramble::scramble_sha256(&scramble, b"pw").unwrap();
        assert!(verify_fast(&scramble, &resp, &double_sha256(b"pw")));
        assert!(!verify_fast(&scramble, &resp, &double_sha256(b"pX")));
    }

    #[test]
    fn xor_round_trip() {
        let scramble = b"0123";
        let mut x: Vec<u8> = b"secret\0".to_vec();
        for (i, b) in x.iter_mut().enumerate() {
            *b ^= scramble[i % 4];
        }
        assert_eq!(unxor_password(&x, scramble), b"secret");
    }
}
