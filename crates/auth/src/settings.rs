//! The signing secrets, as configured.

use std::{collections::BTreeMap, fmt};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The shortest secret accepted: HS256 is only as strong as a 256-bit key.
pub const MIN_SECRET_BYTES: usize = 32;

/// Signing configuration: the kid new keys are signed with, and every secret that may
/// still verify a key. Loaded by the `config` crate (`[auth]` table, or
/// `LOOPDESK_AUTH__ACTIVE_KID` and `LOOPDESK_AUTH__KEYS__<kid>`).
#[derive(Clone, Deserialize)]
pub struct KeySettings {
    /// The kid used to sign new keys; must be one of `keys`.
    pub active_kid: String,
    /// Secrets by kid. Keep a retired kid here until every key it signed has expired.
    pub keys: BTreeMap<String, SecretString>,
}

/// A [`KeySettings`] that cannot be used. Names the offending kid, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyConfigError {
    /// `active_kid` is not among the configured keys.
    #[error("auth.active_kid `{0}` is not one of auth.keys")]
    ActiveKidMissing(String),
    /// A secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("auth.keys.{0}: the secret must be at least 32 bytes")]
    SecretTooShort(String),
    /// A kid is empty, too long, or not `[a-z0-9_.-]`.
    #[error(
        "auth.keys: kid `{0}` must be 1 to 64 characters of lowercase letters, digits, `_`, `.` or `-`"
    )]
    InvalidKid(String),
}

impl KeySettings {
    /// Checks that the active kid is configured and every secret is long enough.
    pub fn validate(&self) -> Result<(), KeyConfigError> {
        for (kid, secret) in &self.keys {
            if !kid_is_valid(kid) {
                return Err(KeyConfigError::InvalidKid(kid.chars().take(64).collect()));
            }
            if secret.expose_secret().len() < MIN_SECRET_BYTES {
                return Err(KeyConfigError::SecretTooShort(kid.clone()));
            }
        }
        if !self.keys.contains_key(&self.active_kid) {
            return Err(KeyConfigError::ActiveKidMissing(
                self.active_kid.chars().take(64).collect(),
            ));
        }
        Ok(())
    }
}

/// Lowercase only because environment variable names reach us lowercased by `config`,
/// so a mixed-case kid in a file could never be matched from the environment.
fn kid_is_valid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

impl fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySettings")
            .field("active_kid", &self.active_kid)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(active: &str, keys: &[(&str, &str)]) -> KeySettings {
        KeySettings {
            active_kid: active.to_owned(),
            keys: keys
                .iter()
                .map(|(kid, secret)| ((*kid).to_owned(), SecretString::from(*secret)))
                .collect(),
        }
    }

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn valid_settings_pass() {
        assert_eq!(
            settings("k1", &[("k1", LONG), ("k0", LONG)]).validate(),
            Ok(())
        );
    }

    #[test]
    fn active_kid_must_be_configured() {
        assert_eq!(
            settings("k2", &[("k1", LONG)]).validate(),
            Err(KeyConfigError::ActiveKidMissing("k2".into()))
        );
    }

    #[test]
    fn short_secret_is_named_by_kid() {
        let err = settings("k1", &[("k1", LONG), ("old", "short")]).validate();
        assert_eq!(err, Err(KeyConfigError::SecretTooShort("old".into())));
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("old") && !message.contains("short"),
            "{message}"
        );
    }

    #[test]
    fn odd_kids_are_refused() {
        assert!(matches!(
            settings("K1", &[("K1", LONG)]).validate(),
            Err(KeyConfigError::InvalidKid(_))
        ));
        assert!(matches!(
            settings("", &[("", LONG)]).validate(),
            Err(KeyConfigError::InvalidKid(_))
        ));
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let shown = format!("{:?}", settings("k1", &[("k1", LONG)]));
        assert!(shown.contains("k1"), "{shown}");
        assert!(!shown.contains(LONG), "{shown}");
    }
}
