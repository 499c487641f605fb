//! Signing secrets: generated here, shown to the subscriber once, and kept encrypted
//! (AES-256-GCM, a random nonce per secret, the endpoint id as associated data so a
//! ciphertext cannot be moved to another endpoint).

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretString};

/// The prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
const NONCE_LEN: usize = 12;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The configured key is not base64 of 32 bytes.
    #[error("must be base64 of exactly 32 bytes")]
    BadKey,
    /// Encryption failed (cannot happen with a valid key and a small secret).
    #[error("could not encrypt a secret")]
    Seal,
    /// The stored ciphertext does not decrypt with this key for this endpoint.
    #[error("a stored secret does not decrypt: wrong key or corrupt row")]
    Open,
}

/// Encrypts and decrypts signing secrets with the configured key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box keyed with base64 of 32 bytes.
    pub fn from_key(key: &SecretString) -> Result<Self, SecretError> {
        let bytes = STANDARD
            .decode(key.expose_secret().trim())
            .map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Self { cipher })
    }

    /// `nonce || ciphertext` of `secret`, bound to `endpoint_id`.
    pub fn seal(&self, secret: &str, endpoint_id: &str) -> Result<Vec<u8>, SecretError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: endpoint_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Seal)?;
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        Ok(sealed)
    }

    /// The secret sealed by [`Self::seal`] for `endpoint_id`.
    pub fn open(&self, sealed: &[u8], endpoint_id: &str) -> Result<SecretString, SecretError> {
        if sealed.len() <= NONCE_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Open)?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: endpoint_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SecretError::Open)
    }
}

/// A fresh signing secret: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn test_box() -> SecretBox {
        SecretBox::from_key(&SecretString::from(STANDARD.encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn secrets_round_trip_only_for_their_endpoint() {
        let secrets = test_box();
        let secret = generate_secret();
        let sealed = secrets.seal(&secret, "whe_a").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"whsec_"),
            "stored in clear"
        );
        assert_eq!(
            secrets.open(&sealed, "whe_a").unwrap().expose_secret(),
            secret
        );
        assert!(secrets.open(&sealed, "whe_b").is_err());
        let other = SecretBox::from_key(&SecretString::from(STANDARD.encode([8u8; 32]))).unwrap();
        assert!(other.open(&sealed, "whe_a").is_err());
    }

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        let bytes = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_key(&SecretString::from("short")).is_err());
        assert!(SecretBox::from_key(&SecretString::from(STANDARD.encode([1u8; 16]))).is_err());
    }
}
