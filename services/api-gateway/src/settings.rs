//! The gateway's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`, then
//! `LOOPDESK_*` environment variables.

use loopdesk_auth::KeySettings;
use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::ShutdownSettings;
use loopdesk_settings::{SettingsError, Validate, require_non_empty, require_range};
use loopdesk_storage::DatabaseSettings;
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_transit::PublicKey;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything the gateway reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Public HTTP.
    pub http: HttpSettings,
    /// Its own schema: idempotency records and API keys.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub broker: BrokerSettings,
    /// Where the owning services' read APIs are.
    pub owners: OwnerSettings,
    /// API key verification.
    pub auth: AuthSettings,
    /// Idempotency records.
    pub idempotency: IdempotencySettings,
    /// Per-key request rate.
    pub rate_limit: RateLimitSettings,
    /// Intervention definitions.
    #[serde(default)]
    pub interventions: InterventionSettings,
    /// How long stopping may take.
    pub shutdown: ShutdownSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// Public HTTP settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Interface to bind.
    pub host: String,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Largest JSON body, in bytes.
    pub body_limit: usize,
    /// How long a write waits for the owner before answering 202.
    pub reply_deadline_ms: u64,
    /// Connections served at once by each worker thread; more wait in the listen
    /// backlog. Bounds the memory an overload can take (each connection holds buffers
    /// and, while its request runs, a pending command).
    pub max_connections_per_worker: usize,
    /// Worker threads serving HTTP; 0 is one per CPU.
    pub workers: usize,
}

/// Owning services' internal read APIs.
#[derive(Debug, Clone, Deserialize)]
pub struct OwnerSettings {
    /// ticket-service base URL.
    pub tickets_url: String,
    /// webhook-fanout base URL.
    pub webhooks_url: String,
    /// intervention-service base URL.
    pub interventions_url: String,
    /// epilog-dispatcher base URL.
    pub epilogs_url: String,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

/// Keys and revocation.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Signing and verification keys.
    #[serde(flatten)]
    pub keys: KeySettings,
    /// How often revocations are re-read from the database.
    pub revocation_refresh_ms: u64,
}

/// Idempotency record settings.
#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// How long keys are remembered.
    pub retention_hours: i64,
    /// How long a first attempt owns its key.
    pub lock_timeout_ms: u64,
}

/// Token bucket per API key.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Extra requests allowed in a burst.
    pub burst: u32,
}

/// Intervention definitions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct InterventionSettings {
    /// Base64 of intervention-service's X25519 public key (32 bytes): remote bearer
    /// tokens are sealed with it before a command leaves the gateway. Required.
    pub token_public_key: Option<String>,
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

    /// The key remote bearer tokens are sealed with for intervention-service.
    pub fn token_public_key(&self) -> Result<PublicKey, SettingsError> {
        const KEY: &str = "interventions.token_public_key";
        let key = self.interventions.token_public_key.as_deref().ok_or_else(|| {
            SettingsError::invalid(
                KEY,
                "is required: set LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY to intervention-service's \
                 public key (`loopdesk keys transit` makes a pair)",
            )
        })?;
        PublicKey::from_base64(key).map_err(|e| SettingsError::invalid(KEY, e))
    }
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        require_non_empty("http.host", &self.http.host)?;
        self.shutdown.validate()?;
        require_range(
            "http.body_limit",
            self.http.body_limit,
            1024,
            16 * 1024 * 1024,
        )?;
        require_range(
            "http.reply_deadline_ms",
            self.http.reply_deadline_ms,
            1,
            60_000,
        )?;
        require_range(
            "http.max_connections_per_worker",
            self.http.max_connections_per_worker,
            1,
            100_000,
        )?;
        require_range("http.workers", self.http.workers, 0, 256)?;
        require_non_empty("database.schema", &self.database.schema)?;
        require_non_empty("broker.prefix", &self.broker.prefix)?;
        require_non_empty("owners.tickets_url", &self.owners.tickets_url)?;
        if !self.owners.tickets_url.starts_with("http://")
            && !self.owners.tickets_url.starts_with("https://")
        {
            return Err(SettingsError::invalid(
                "owners.tickets_url",
                "must be an http(s) URL",
            ));
        }
        if !self.owners.webhooks_url.starts_with("http://")
            && !self.owners.webhooks_url.starts_with("https://")
        {
            return Err(SettingsError::invalid(
                "owners.webhooks_url",
                "must be an http(s) URL",
            ));
        }
        if !self.owners.interventions_url.starts_with("http://")
            && !self.owners.interventions_url.starts_with("https://")
        {
            return Err(SettingsError::invalid(
                "owners.interventions_url",
                "must be an http(s) URL",
            ));
        }
        if !self.owners.epilogs_url.starts_with("http://")
            && !self.owners.epilogs_url.starts_with("https://")
        {
            return Err(SettingsError::invalid(
                "owners.epilogs_url",
                "must be an http(s) URL",
            ));
        }
        self.auth
            .keys
            .validate()
            .map_err(|e| SettingsError::invalid("auth.keys", e))?;
        require_range(
            "auth.revocation_refresh_ms",
            self.auth.revocation_refresh_ms,
            100,
            600_000,
        )?;
        require_range(
            "idempotency.retention_hours",
            self.idempotency.retention_hours,
            24,
            24 * 30,
        )?;
        require_range(
            "idempotency.lock_timeout_ms",
            self.idempotency.lock_timeout_ms,
            self.http.reply_deadline_ms + 1000,
            600_000,
        )?;
        require_range(
            "rate_limit.per_second",
            self.rate_limit.per_second,
            1,
            1_000_000,
        )?;
        require_range("rate_limit.burst", self.rate_limit.burst, 1, 1_000_000)?;
        // A missing or malformed key stops start-up here, naming the setting.
        self.token_public_key().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(token_public_key: Option<&str>) -> Result<Settings, String> {
        let mut vars: HashMap<String, String> = [(
            "LOOPDESK_AUTH__KEYS__K1",
            "a-signing-secret-of-32-bytes-or-more",
        )]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(key) = token_public_key {
            vars.insert(
                "LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY".to_owned(),
                key.to_owned(),
            );
        }
        Settings::load_with_vars(vars).map_err(|e| e.to_string())
    }

    #[test]
    fn the_token_public_key_is_required_and_must_be_32_bytes_of_base64() {
        let missing = load(None).err().unwrap_or_default();
        assert!(
            missing.contains("`interventions.token_public_key`")
                && missing.contains("LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY"),
            "{missing}"
        );
        for bad in ["", "not base64!", "c2hvcnQ="] {
            let refused = load(Some(bad)).err().unwrap_or_default();
            assert!(
                refused.contains("`interventions.token_public_key`")
                    && refused.contains("32 bytes"),
                "{bad:?}: {refused}"
            );
        }
        let key = loopdesk_transit::PrivateKey::generate().public_key();
        let loaded = load(Some(&key.to_base64())).map(|s| s.token_public_key().ok());
        assert_eq!(loaded, Ok(Some(key)));
    }
}
