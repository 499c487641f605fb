//! The gateway's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`, then
//! `LOOPDESK_*` environment variables.

use loopdesk_auth::KeySettings;
use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::ShutdownSettings;
use loopdesk_settings::{SettingsError, Validate, require_non_empty, require_range};
use loopdesk_storage::DatabaseSettings;
use loopdesk_telemetry::TelemetrySettings;
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
        require_range("rate_limit.burst", self.rate_limit.burst, 1, 1_000_000)
    }
}
