//! `mysql_native_password`: the client proves knowledge of SHA1(password) against a 20-byte challenge.

use sha1::{Digest, Sha1};

/// Checks a client's 20-byte response against the stored SHA1(SHA1(password)).
///
/// The client sends `SHA1(password) XOR SHA1(scramble || stage2)`; undoing the XOR yields a candidate
/// SHA1(password) whose SHA1 must equal `stage2`.
pub fn verify(scramble: &[u8], response: &[u8], stage2: &[u8; 20]) -> bool {
    if response.len() != 20 {
        return false;
    }
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stage2);
    let mask: [u8; 20] = h.finalize().into();
    let mut stage1 = [0u8; 20];
    for i in 0..20 {
        stage1[i] = response[i] ^ mask[i];
    }
    let check: [u8; 20] = Sha1::digest(stage1).into();
    super::constant_time_eq(&check, stage2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_clients_scramble() {
        let scramble = *b"abcdefghij0123456789";
        let stage2: [u8; 20] = Sha1::digest(Sha1::digest(b"pw")).into();
        let resp = mysql_common::scramble::scramble_native(&scramble, b"pw").unwrap();
        assert!(verify(&scramble, &resp, &stage2));
        let wrong = mysql_common::scramble::scramble_native(&scramble, b"px").unwrap();
        assert!(!verify(&scramble, &wrong, &stage2));
        assert!(!verify(&scramble, &resp[..19], &stage2));
    }
}
