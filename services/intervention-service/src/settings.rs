//! The intervention service's configuration: `config/default.toml`, then
//! `LOOPDESK_CONFIG`, then `LOOPDESK_*` environment variables.

use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::ShutdownSettings;
use loopdesk_settings::{SettingsError, Validate, require_non_empty, require_range};
use loopdesk_storage::DatabaseSettings;
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_web::HttpSettings;
use secrecy::SecretString;
use serde::Deserialize;

use crate::secrets::SecretBox;

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
    /// Remote bearer tokens at rest.
    pub secrets: SecretSettings,
    /// How long stopping may take.
    pub shutdown: ShutdownSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// Command consumer tuning.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerSettings {
    /// Commands handled at once.
    pub concurrency: usize,
}

/// Outbox relay tuning.
#[derive(Debug, Clone, Deserialize)]
pub struct RelaySettings {
    /// Rows published per transaction.
    pub batch_size: i64,
    /// Poll period when nothing wakes the relay.
    pub poll_interval_ms: u64,
}

/// Inbox retention.
#[derive(Debug, Clone, Deserialize)]
pub struct InboxSettings {
    /// How long processed message ids are remembered.
    pub retention_hours: i64,
}

/// Encryption of secrets at rest.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    /// Base64 of the 32-byte AES-256-GCM key; required.
    pub encryption_key: Option<SecretString>,
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
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        require_non_empty("http.host", &self.http.host)?;
        self.shutdown.validate()?;
        require_non_empty("database.schema", &self.database.schema)?;
        require_range(
            "database.max_connections",
            self.database.max_connections,
            1,
            1000,
        )?;
        require_non_empty("broker.prefix", &self.broker.prefix)?;
        require_range("broker.prefetch", self.broker.prefetch, 1, 10_000)?;
        require_range("broker.max_attempts", self.broker.max_attempts, 1, 100)?;
        require_range("consumer.concurrency", self.consumer.concurrency, 1, 1000)?;
        require_range("relay.batch_size", self.relay.batch_size, 1, 10_000)?;
        require_range(
            "relay.poll_interval_ms",
            self.relay.poll_interval_ms,
            1,
            60_000,
        )?;
        require_range(
            "inbox.retention_hours",
            self.inbox.retention_hours,
            1,
            24 * 365,
        )?;
        // A missing or malformed key stops start-up here, naming the setting.
        self.secret_box().map(|_| ())
    }
}
