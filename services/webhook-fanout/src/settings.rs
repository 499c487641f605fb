//! webhook-fanout's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`, then
//! `LOOPDESK_*` environment variables.

use std::time::Duration;

use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::{ConsumerSettings, InboxSettings, ShutdownSettings, sections};
use loopdesk_settings::{SettingsError, Validate, require_range};
use loopdesk_storage::DatabaseSettings;
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_web::HttpSettings;
use secrecy::SecretString;
use serde::Deserialize;

use loopdesk_outbound::{AllowList, RetrySchedule};

use crate::secrets::SecretBox;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything webhook-fanout reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Internal read API.
    pub http: HttpSettings,
    /// Its own PostgreSQL schema.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub broker: BrokerSettings,
    /// The command consumer (the event consumer's is `events.consumer_concurrency`).
    pub consumer: ConsumerSettings,
    /// Processed-message records.
    pub inbox: InboxSettings,
    /// Signing secrets at rest.
    pub secrets: SecretSettings,
    /// Attempts and retries.
    pub delivery: DeliverySettings,
    /// Which addresses may be reached.
    pub outbound: OutboundSettings,
    /// Received events.
    pub events: EventSettings,
    /// How long stopping may take.
    pub shutdown: ShutdownSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// Signing secrets.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    /// Base64 of the 32-byte AES-256-GCM key; required.
    pub encryption_key: Option<SecretString>,
    /// How long a rotated-away secret keeps signing.
    pub rotation_grace_ms: u64,
}

/// Delivery attempts.
#[derive(Debug, Clone, Deserialize)]
pub struct DeliverySettings {
    /// Comma-separated delays before each attempt, in milliseconds.
    pub schedule_ms: String,
    /// Jitter applied to each delay, in percent.
    pub jitter_percent: u32,
    /// Limit of one whole attempt.
    pub attempt_timeout_ms: u64,
    /// Upper bound of a `Retry-After` delay.
    pub retry_after_max_ms: u64,
    /// Attempts in flight per instance.
    pub concurrency: usize,
    /// Attempts in flight per endpoint and instance.
    pub per_endpoint_concurrency: usize,
    /// Poll period for due deliveries.
    pub poll_interval_ms: u64,
    /// Continuous failure after which an endpoint is disabled.
    pub failure_disable_after_ms: u64,
}

/// Outbound safety.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboundSettings {
    /// Comma-separated CIDRs reachable although not global.
    pub allow_cidrs: String,
    /// Whether `http://` endpoint URLs are accepted.
    pub allow_http: bool,
}

/// Received events.
#[derive(Debug, Clone, Deserialize)]
pub struct EventSettings {
    /// How long received events are kept.
    pub retention_hours: i64,
    /// Events handled at once (at most the broker prefetch): the events in hand while
    /// one batch is written make up the next one.
    pub consumer_concurrency: usize,
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

    /// The retry schedule.
    pub fn schedule(&self) -> Result<RetrySchedule, SettingsError> {
        RetrySchedule::parse(
            &self.delivery.schedule_ms,
            self.delivery.jitter_percent,
            Duration::from_millis(self.delivery.retry_after_max_ms),
        )
        .map_err(|e| SettingsError::invalid("delivery.schedule_ms", e))
    }

    /// The outbound allow-list.
    pub fn allow_list(&self) -> Result<AllowList, SettingsError> {
        AllowList::parse(&self.outbound.allow_cidrs)
            .map_err(|e| SettingsError::invalid("outbound.allow_cidrs", e))
    }

    /// The cipher for secrets at rest.
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
        sections::validate(&self.http, &self.shutdown, &self.database, &self.broker)?;
        self.consumer.validate()?;
        self.inbox.validate()?;
        self.secret_box()?;
        self.schedule()?;
        self.allow_list()?;
        let delivery = &self.delivery;
        require_range("delivery.jitter_percent", delivery.jitter_percent, 0, 50)?;
        require_range(
            "delivery.attempt_timeout_ms",
            delivery.attempt_timeout_ms,
            10,
            300_000,
        )?;
        require_range("delivery.concurrency", delivery.concurrency, 1, 10_000)?;
        require_range(
            "delivery.per_endpoint_concurrency",
            delivery.per_endpoint_concurrency,
            1,
            delivery.concurrency,
        )?;
        require_range(
            "delivery.poll_interval_ms",
            delivery.poll_interval_ms,
            1,
            60_000,
        )?;
        require_range(
            "delivery.failure_disable_after_ms",
            delivery.failure_disable_after_ms,
            1,
            u64::MAX,
        )?;
        require_range(
            "events.consumer_concurrency",
            self.events.consumer_concurrency,
            1,
            1000,
        )?;
        require_range(
            "events.retention_hours",
            self.events.retention_hours,
            1,
            24 * 365,
        )
    }
}
