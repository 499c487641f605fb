//! The ticket service's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`,
//! then `LOOPDESK_*` environment variables.

use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::ShutdownSettings;
use loopdesk_settings::{SettingsError, Validate, require_non_empty, require_range};
use loopdesk_storage::DatabaseSettings;
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_web::HttpSettings;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything the ticket service reads at start-up.
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
    /// SLA checks and auto-close.
    pub lifecycle: LifecycleSettings,
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
    /// How long processed message ids are remembered (must exceed any redelivery window).
    pub retention_hours: i64,
}

/// SLA checks and auto-close.
#[derive(Debug, Clone, Deserialize)]
pub struct LifecycleSettings {
    /// Period of the SLA checker.
    pub sla_check_interval_ms: u64,
    /// Solved tickets close after this many hours.
    pub auto_close_after_hours: i64,
    /// Overrides `auto_close_after_hours` when positive (tests).
    #[serde(default)]
    pub auto_close_after_ms: i64,
}

impl LifecycleSettings {
    /// How long a ticket stays solved before it closes on its own.
    pub fn auto_close_after(&self) -> chrono::Duration {
        if self.auto_close_after_ms > 0 {
            chrono::Duration::milliseconds(self.auto_close_after_ms)
        } else {
            chrono::Duration::hours(self.auto_close_after_hours)
        }
    }
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
        require_range(
            "lifecycle.sla_check_interval_ms",
            self.lifecycle.sla_check_interval_ms,
            10,
            3_600_000,
        )?;
        require_range(
            "lifecycle.auto_close_after_hours",
            self.lifecycle.auto_close_after_hours,
            1,
            24 * 365,
        )
    }
}
