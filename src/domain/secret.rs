//! Opaque high-entropy secrets (client secrets): generated from the OS random source,
//! shown once, stored only as a SHA-256 hash and compared in constant time.
//!
//! A slow password hash would protect nothing here: 256 random bits cannot be guessed, and
//! bcrypt would cost every token request milliseconds.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret in the clear: exists only between generation and being shown to the admin.
pub struct PlainSecret(String);

impl PlainSecret {
    /// 256 bits from the OS random source, base64url-encoded (URL-safe, no padding), so it
    /// needs no escaping in a Basic header or a form.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the OS random source is available");
        PlainSecret(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.0.as_bytes())
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// The SHA-256 of a secret: what the database keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &[u8]) -> Self {
        SecretHash(Sha256::digest(secret).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(SecretHash)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` hashes to this value, in time independent of where they differ.
    pub fn verify(&self, presented: &[u8]) -> bool {
        SecretHash::of(presented).0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// A random identifier with at least `bytes` bytes of entropy: client ids, user ids, token
/// ids. Letters and digits only, so an id never starts with `-` (a command line would read
/// it as an option) and needs no escaping anywhere.
pub fn random_id(bytes: usize) -> String {
    use rand::Rng;
    // Each alphanumeric character carries log2(62) ≈ 5.95 bits.
    let chars = (bytes * 8).div_ceil(5);
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(chars)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_bits_in_url_safe_characters() {
        let secret = PlainSecret::generate();
        assert_eq!(secret.expose().len(), 43);
        assert!(secret
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(secret.expose(), PlainSecret::generate().expose());
    }

    #[test]
    fn ids_are_letters_and_digits_only() {
        for _ in 0..1000 {
            let id = random_id(16);
            assert!(id.len() >= 22);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let secret = PlainSecret::generate();
        let hash = secret.hash();
        assert!(hash.verify(secret.expose().as_bytes()));
        assert!(!hash.verify(b"something else"));
        assert!(!format!("{secret:?}{hash:?}").contains(secret.expose()));
    }
}
