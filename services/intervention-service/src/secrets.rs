//! Remote bearer tokens at rest: AES-256-GCM with a random 96-bit nonce per value,
//! stored as `nonce || ciphertext`. The key comes from `secrets.encryption_key`. Each
//! value is bound to its owner (associated data), so a ciphertext copied onto another
//! definition does not decrypt.

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;

/// Why a key or a stored value is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not base64 of 32 bytes.
    #[error("must be base64 of exactly 32 bytes")]
    BadKey,
    /// Encryption failed (it does not, for valid keys).
    #[error("encryption failed")]
    Encrypt,
    /// A stored value is truncated, tampered with, or under another key.
    #[error("a stored secret cannot be decrypted")]
    Decrypt,
}

/// Encrypts and decrypts secrets with the service's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([key redacted])")
    }
}

impl SecretBox {
    /// A box for the base64-encoded 32-byte `key`.
    pub fn from_key(key: &SecretString) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(key.expose_secret().trim())
            .map_err(|_| SecretError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
        })
    }

    /// `nonce || ciphertext` of `plain`, bound to `owner`.
    pub fn seal(&self, owner: &str, plain: &str) -> Result<Vec<u8>, SecretError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a value made by [`SecretBox::seal`] for `owner`.
    pub fn open(&self, owner: &str, stored: &[u8]) -> Result<String, SecretError> {
        if stored.len() <= NONCE_LEN {
            return Err(SecretError::Decrypt);
        }
        let (nonce, sealed) = stored.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Decrypt)?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn boxed(key: &str) -> SecretBox {
        SecretBox::from_key(&SecretString::from(key)).unwrap()
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let b = boxed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let one = b.seal("acme/test/a", "bearer-123").unwrap();
        let two = b.seal("acme/test/a", "bearer-123").unwrap();
        assert_ne!(one, two);
        assert!(!String::from_utf8_lossy(&one).contains("bearer-123"));
        assert_eq!(b.open("acme/test/a", &one).unwrap(), "bearer-123");
        assert!(b.open("acme/test/b", &one).is_err(), "bound to its owner");
    }

    #[test]
    fn refuses_bad_keys_and_foreign_or_tampered_values() {
        assert!(SecretBox::from_key(&SecretString::from("c2hvcnQ=")).is_err());
        assert!(SecretBox::from_key(&SecretString::from("not base64!")).is_err());
        let b = boxed("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
        let other = boxed("HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=");
        let mut sealed = b.seal("o", "x").unwrap();
        assert!(other.open("o", &sealed).is_err());
        if let Some(last) = sealed.last_mut() {
            *last ^= 1;
        }
        assert!(b.open("o", &sealed).is_err());
        assert!(b.open("o", b"short").is_err());
    }
}
