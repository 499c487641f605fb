//! Secrets that must cross the broker, sealed for the one service that may read them.
//!
//! The recipient holds an X25519 key pair; senders hold only its public key. Sealing is
//! libsodium's `crypto_box_seal` (an ephemeral X25519 key, then XSalsa20-Poly1305): the
//! sender stays anonymous, nobody but the private key's holder can open the value, and
//! any change to it is detected. On the wire a sealed value is text,
//! `sealed:v1:<base64 of the box>`; the version names the format, so a later one can be
//! read beside it.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use crypto_box::aead::OsRng;

/// What every value of the current format starts with.
pub const SEALED_V1: &str = "sealed:v1:";

/// Length of a key, raw.
const KEY_LEN: usize = 32;

/// A configured key that is not base64 of 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be base64 of exactly {KEY_LEN} bytes")]
pub struct KeyError;

/// Sealing failed: the system's random number generator did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sealing failed: no randomness available")]
pub struct SealError;

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not `sealed:<version>:<base64>` at all.
    #[error("not a sealed value (`{SEALED_V1}` and base64)")]
    Malformed,
    /// A format this version does not read.
    #[error("sealed in format `{0}`, which this version does not read")]
    UnknownFormat(String),
    /// Sealed for another key, truncated or altered.
    #[error("does not open with this key: sealed for another key, or altered")]
    Unreadable,
}

/// The recipient's public key: anyone holding it can seal, nobody can open.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(crypto_box::PublicKey);

impl PublicKey {
    /// The key from its base64 form (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(|bytes| Self(crypto_box::PublicKey::from(bytes)))
    }

    /// Its base64 form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }

    /// `plain` sealed for this key's holder, as `sealed:v1:<base64>`. Each call seals
    /// with a fresh ephemeral key, so equal secrets never look alike.
    pub fn seal(&self, plain: &[u8]) -> Result<String, SealError> {
        let sealed = self.0.seal(&mut OsRng, plain).map_err(|_| SealError)?;
        Ok(format!("{SEALED_V1}{}", STANDARD.encode(sealed)))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

/// The recipient's private key: opens what was sealed for its public key.
#[derive(Clone)]
pub struct PrivateKey(crypto_box::SecretKey);

impl PrivateKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(crypto_box::SecretKey::generate(&mut OsRng))
    }

    /// The key from its base64 form (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(|bytes| Self(crypto_box::SecretKey::from(bytes)))
    }

    /// Its base64 form: for writing a freshly generated key into a secret store only.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.to_bytes())
    }

    /// The public key that seals for this one.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key())
    }

    /// The plaintext of a value made by [`PublicKey::seal`] for this key's public key.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let Some(encoded) = sealed.strip_prefix(SEALED_V1) else {
            return Err(unknown_format(sealed));
        };
        let boxed = STANDARD.decode(encoded).map_err(|_| OpenError::Malformed)?;
        self.0.unseal(&boxed).map_err(|_| OpenError::Unreadable)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

fn decode_key(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError)?;
    bytes.try_into().map_err(|_| KeyError)
}

/// A value of another version is named by its version, when it has a plausible one: the
/// name may reach a log line, so it is short and plain.
fn unknown_format(sealed: &str) -> OpenError {
    let version = sealed
        .strip_prefix("sealed:")
        .and_then(|rest| rest.split_once(':'))
        .map(|(version, _)| version)
        .filter(|v| !v.is_empty() && v.len() <= 8 && v.bytes().all(|b| b.is_ascii_alphanumeric()));
    match version {
        Some(version) => OpenError::UnknownFormat(version.to_owned()),
        None => OpenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn what_is_sealed_opens_with_the_private_key_only() {
        let recipient = PrivateKey::generate();
        let sealed = recipient.public_key().seal(b"rbt-secret-token").unwrap();
        assert!(sealed.starts_with(SEALED_V1), "{sealed}");
        assert!(!sealed.contains("rbt-secret-token"));
        assert_eq!(recipient.open(&sealed).unwrap(), b"rbt-secret-token");

        let stranger = PrivateKey::generate();
        assert_eq!(stranger.open(&sealed), Err(OpenError::Unreadable));
    }

    #[test]
    fn equal_secrets_seal_differently() {
        let recipient = PrivateKey::generate();
        let key = recipient.public_key();
        let (one, two) = (key.seal(b"same").unwrap(), key.seal(b"same").unwrap());
        assert_ne!(one, two);
        assert_eq!(recipient.open(&one).unwrap(), recipient.open(&two).unwrap());
    }

    #[test]
    fn any_change_to_a_sealed_value_is_detected() {
        let recipient = PrivateKey::generate();
        let sealed = recipient.public_key().seal(b"rbt-secret-token").unwrap();
        let boxed = STANDARD.decode(&sealed[SEALED_V1.len()..]).unwrap();
        // Every byte of the box matters: the ephemeral key, the tag and the ciphertext.
        for at in 0..boxed.len() {
            let mut altered = boxed.clone();
            altered[at] ^= 0x01;
            let altered = format!("{SEALED_V1}{}", STANDARD.encode(&altered));
            assert_eq!(
                recipient.open(&altered),
                Err(OpenError::Unreadable),
                "byte {at}"
            );
        }
        let truncated = format!("{SEALED_V1}{}", STANDARD.encode(&boxed[..boxed.len() - 1]));
        assert_eq!(recipient.open(&truncated), Err(OpenError::Unreadable));
        let short = format!("{SEALED_V1}{}", STANDARD.encode([7u8; 16]));
        assert_eq!(recipient.open(&short), Err(OpenError::Unreadable));
    }

    #[test]
    fn values_of_other_formats_are_named_not_guessed() {
        let recipient = PrivateKey::generate();
        assert_eq!(
            recipient.open("sealed:v1:not base64!"),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            recipient.open("sealed:v2:AAAA"),
            Err(OpenError::UnknownFormat("v2".to_owned()))
        );
        assert_eq!(recipient.open("rbt-plaintext"), Err(OpenError::Malformed));
        assert_eq!(recipient.open(""), Err(OpenError::Malformed));
        assert_eq!(
            recipient.open("sealed:\u{1b}[31mlong-or-odd:AAAA"),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn keys_round_trip_through_base64_and_refuse_anything_else() {
        let recipient = PrivateKey::generate();
        let private = PrivateKey::from_base64(&format!(" {}\n", recipient.to_base64())).unwrap();
        let public = PublicKey::from_base64(&recipient.public_key().to_base64()).unwrap();
        assert_eq!(public, recipient.public_key());
        assert_eq!(private.public_key(), public);
        let sealed = public.seal(b"x").unwrap();
        assert_eq!(private.open(&sealed).unwrap(), b"x");

        for bad in ["", "c2hvcnQ=", "not base64!", &STANDARD.encode([1u8; 33])] {
            assert_eq!(PublicKey::from_base64(bad), Err(KeyError), "{bad:?}");
            assert!(PrivateKey::from_base64(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_private_key_is_not_in_debug_output() {
        let recipient = PrivateKey::generate();
        let shown = format!("{recipient:?}");
        assert!(!shown.contains(&recipient.to_base64()), "{shown}");
        assert_eq!(shown, "PrivateKey([redacted])");
    }
}
