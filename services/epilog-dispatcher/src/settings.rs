//! epilog-dispatcher's configuration: `config/default.toml`, then `LOOPDESK_CONFIG`, then
//! `LOOPDESK_*` environment variables.

use std::time::Duration;

use loopdesk_messaging::BrokerSettings;
use loopdesk_outbound::{AllowList, RetrySchedule};
use loopdesk_runtime::{ConsumerSettings, InboxSettings, ShutdownSettings, sections};
use loopdesk_settings::{SettingsError, Validate, require_range};
use loopdesk_storage::{DatabaseSettings, RelaySettings};
use loopdesk_telemetry::TelemetrySettings;
use loopdesk_web::HttpSettings;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything epilog-dispatcher reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Internal read API.
    pub http: HttpSettings,
    /// Its own PostgreSQL schema.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub broker: BrokerSettings,
    /// Submission and command consumers.
    pub consumer: ConsumerSettings,
    /// Outbox relay of `epilog.*` events.
    pub relay: RelaySettings,
    /// Processed-message records.
    pub inbox: InboxSettings,
    /// Attempts and retries.
    pub dispatch: DispatchConfig,
    /// Which addresses may be reached.
    pub outbound: OutboundSettings,
    /// The services it reads from.
    pub owners: OwnerSettings,
    /// How long stopping may take.
    pub shutdown: ShutdownSettings,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetrySettings,
}

/// Epilog attempts.
#[derive(Debug, Clone, Deserialize)]
pub struct DispatchConfig {
    /// Comma-separated delays before each attempt, in milliseconds.
    pub schedule_ms: String,
    /// Jitter applied to each delay, in percent.
    pub jitter_percent: u32,
    /// Upper bound of a `Retry-After` delay.
    pub retry_after_max_ms: u64,
    /// Calls in flight per instance.
    pub concurrency: usize,
    /// Poll period for due jobs.
    pub poll_interval_ms: u64,
}

/// Outbound safety.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboundSettings {
    /// Comma-separated CIDRs reachable although not global.
    pub allow_cidrs: String,
    /// Whether `http://` epilog URLs are called.
    pub allow_http: bool,
}

/// Where the other services are.
#[derive(Debug, Clone, Deserialize)]
pub struct OwnerSettings {
    /// intervention-service base URL.
    pub interventions_url: String,
    /// Limit of one internal read.
    pub timeout_ms: u64,
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
            &self.dispatch.schedule_ms,
            self.dispatch.jitter_percent,
            Duration::from_millis(self.dispatch.retry_after_max_ms),
        )
        .map_err(|e| SettingsError::invalid("dispatch.schedule_ms", e))
    }

    /// The outbound allow-list.
    pub fn allow_list(&self) -> Result<AllowList, SettingsError> {
        AllowList::parse(&self.outbound.allow_cidrs)
            .map_err(|e| SettingsError::invalid("outbound.allow_cidrs", e))
    }
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingsError> {
        sections::validate(&self.http, &self.shutdown, &self.database, &self.broker)?;
        self.consumer.validate()?;
        require_range("relay.batch_size", self.relay.batch_size, 1, 10_000)?;
        self.inbox.validate()?;
        self.schedule()?;
        self.allow_list()?;
        let dispatch = &self.dispatch;
        require_range("dispatch.jitter_percent", dispatch.jitter_percent, 0, 50)?;
        require_range("dispatch.concurrency", dispatch.concurrency, 1, 10_000)?;
        require_range(
            "dispatch.poll_interval_ms",
            dispatch.poll_interval_ms,
            1,
            60_000,
        )?;
        let url = &self.owners.interventions_url;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(SettingsError::invalid(
                "owners.interventions_url",
                "must be an http(s) URL",
            ));
        }
        require_range("owners.timeout_ms", self.owners.timeout_ms, 10, 120_000)
    }
}
