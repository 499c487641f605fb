//! The intervention service's configuration: `config/default.toml`, then
//! `LOOPDESK_CONFIG`, then `LOOPDESK_*` environment variables.

use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::{ConsumerSettings, InboxSettings, ShutdownSettings, sections};
use loopdesk_settings::{SettingsError, Validate};
use loopdesk_storage::{DatabaseSettings, RelaySettings};
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_web::HttpSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{secrets::SecretBox, transit::TokenOpener};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything the intervention service reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Internal read API.
    pub http: HttpSettings,
    /// Its own PostgreSQL schema.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub broker: BrokerSettings,
    /// Command consumer.
    pub consumer: ConsumerSettings,
    /// Outbox relay.
    pub relay: RelaySettings,
    /// Processed-message records.
    pub inbox: InboxSettings,
    /// Remote bearer tokens: in transit from the gateway, and at rest.
    pub secrets: SecretSettings,
    /// How long stopping may take.
    pub shutdown: ShutdownSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// The keys of remote bearer tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    /// Base64 of the 32-byte AES-256-GCM key tokens are encrypted with at rest; required.
    pub encryption_key: Option<SecretString>,
    /// Base64 of the 32-byte X25519 private key the gateway seals tokens for (its public
    /// half is the gateway's `interventions.token_public_key`); required.
    pub token_private_key: Option<SecretString>,
    /// The private key before the last rotation: still opens tokens sealed for it while
    /// such commands may be queued. Optional.
    pub token_previous_private_key: Option<SecretString>,
}

impl Settings {
    /// Loads and validates the settings.
    pub fn load() -> Result<Self, SettingsError> {
        loopdesk_settings::load(DEFAULTS)
    }

    /// The defaults overridden by `vars` (`LOOPDESK_...` names) only; the process
    /// environment is ignored. For tests and tools.
    pub fn load_with_vars(
        vars: std::collections::HashMap<String, String>,
    ) -> Result<Self, SettingsError> {
        loopdesk_settings::load_with_vars(DEFAULTS, vars)
    }

    /// The cipher for remote bearer tokens.
    pub fn secret_box(&self) -> Result<SecretBox, SettingsError> {
        let key = self.secrets.encryption_key.as_ref().ok_or_else(|| {
            SettingsError::invalid(
                "secrets.encryption_key",
                "is required: set LOOPDESK_SECRETS__ENCRYPTION_KEY to base64 of 32 random bytes",
            )
        })?;
        SecretBox::from_key(key).map_err(|e| SettingsError::invalid("secrets.encryption_key", e))
    }

    /// What opens the tokens the gateway seals for this service.
    pub fn token_opener(&self) -> Result<TokenOpener, SettingsError> {
        let current = self.secrets.token_private_key.as_ref().ok_or_else(|| {
            SettingsError::invalid(
                "secrets.token_private_key",
                "is required: set LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY to the private half of the \
                 gateway's interventions.token_public_key (`loopdesk keys transit` makes a pair)",
            )
        })?;
        let previous = self.secrets.token_previous_private_key.as_ref();
        Ok(TokenOpener::new(
            private_key("secrets.token_private_key", current)?,
            previous
                .map(|key| private_key("secrets.token_previous_private_key", key))
                .transpose()?,
        ))
    }
}

fn private_key(
    name: &str,
    key: &SecretString,
) -> Result<loopdesk_transit::PrivateKey, SettingsError> {
    loopdesk_transit::PrivateKey::from_base64(key.expose_secret())
        .map_err(|e| SettingsError::invalid(name, e))
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        sections::validate_with_limits(&self.http, &self.shutdown, &self.database, &self.broker)?;
        self.consumer.validate()?;
        sections::validate_relay(&self.relay)?;
        self.inbox.validate()?;
        // A missing or malformed key stops start-up here, naming the setting.
        self.secret_box()?;
        self.token_opener().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn load(keys: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: HashMap<String, String> = [("LOOPDESK_SECRETS__ENCRYPTION_KEY", ENCRYPTION_KEY)]
            .iter()
            .chain(keys)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_with_vars(vars).map_err(|e| e.to_string())
    }

    #[test]
    fn the_token_private_key_is_required_and_checked_like_the_previous_one() {
        let missing = load(&[]).err().unwrap_or_default();
        assert!(
            missing.contains("`secrets.token_private_key`")
                && missing.contains("LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY"),
            "{missing}"
        );
        let good = loopdesk_transit::PrivateKey::generate().to_base64();
        for (var, name) in [
            (
                "LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY",
                "secrets.token_private_key",
            ),
            (
                "LOOPDESK_SECRETS__TOKEN_PREVIOUS_PRIVATE_KEY",
                "secrets.token_previous_private_key",
            ),
        ] {
            for bad in ["", "not base64!", "c2hvcnQ="] {
                let mut keys = vec![("LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY", good.as_str())];
                keys.retain(|(k, _)| *k != var);
                keys.push((var, bad));
                let refused = load(&keys).err().unwrap_or_default();
                assert!(
                    refused.contains(&format!("`{name}`")) && refused.contains("32 bytes"),
                    "{var}={bad:?}: {refused}"
                );
                assert!(!refused.contains(&good), "{refused}");
            }
        }
        let loaded = load(&[("LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY", good.as_str())]);
        assert!(loaded.is_ok(), "{loaded:?}");
    }
}
