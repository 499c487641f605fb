//! The ticket service's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`,
//! then `LOOPDESK_*` environment variables.

use loopdesk_messaging::BrokerSettings;
use loopdesk_runtime::{ConsumerSettings, InboxSettings, ShutdownSettings, sections};
use loopdesk_settings::{SettingsError, Validate, require_range};
use loopdesk_storage::{DatabaseSettings, RelaySettings};
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
        sections::validate_with_limits(&self.http, &self.shutdown, &self.database, &self.broker)?;
        self.consumer.validate()?;
        sections::validate_relay(&self.relay)?;
        self.inbox.validate()?;
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
