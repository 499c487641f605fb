//! The configuration sections services share, and the checks they make of them, so a key
//! is read and refused the same way in every service that has it.

use loopdesk_messaging::BrokerSettings;
use loopdesk_settings::{SettingsError, Validate, require_non_empty, require_range};
use loopdesk_storage::{DatabaseSettings, RelaySettings};
use loopdesk_web::HttpSettings;
use serde::Deserialize;

use crate::ShutdownSettings;

/// `[consumer]`: how the service's consumers take messages.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsumerSettings {
    /// Messages handled at once per consumer.
    pub concurrency: usize,
}

impl Validate for ConsumerSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        require_range("consumer.concurrency", self.concurrency, 1, 1000)
    }
}

/// `[inbox]`: processed-message records.
#[derive(Debug, Clone, Deserialize)]
pub struct InboxSettings {
    /// How long processed message ids are remembered, in hours (must exceed any
    /// redelivery window).
    pub retention_hours: i64,
}

impl InboxSettings {
    /// The retention as a duration.
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::hours(self.retention_hours)
    }
}

impl Validate for InboxSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        require_range("inbox.retention_hours", self.retention_hours, 1, 24 * 365)
    }
}

/// Checks the sections every owning service has: `http.host` and `database.schema` and
/// `broker.prefix` not empty, and the drain bound in range.
pub fn validate(
    http: &HttpSettings,
    shutdown: &ShutdownSettings,
    database: &DatabaseSettings,
    broker: &BrokerSettings,
) -> Result<(), SettingsError> {
    check(http, shutdown, database, broker, false)
}

/// [`validate`], also bounding the pool size (`database.max_connections`, 1 to 1000) and
/// the broker's `prefetch` (1 to 10,000) and `max_attempts` (1 to 100).
pub fn validate_with_limits(
    http: &HttpSettings,
    shutdown: &ShutdownSettings,
    database: &DatabaseSettings,
    broker: &BrokerSettings,
) -> Result<(), SettingsError> {
    check(http, shutdown, database, broker, true)
}

/// Both checks, each limit beside its own section's keys: the order the services have
/// always checked in, so the key named when several are wrong stays the same.
fn check(
    http: &HttpSettings,
    shutdown: &ShutdownSettings,
    database: &DatabaseSettings,
    broker: &BrokerSettings,
    limits: bool,
) -> Result<(), SettingsError> {
    require_non_empty("http.host", &http.host)?;
    shutdown.validate()?;
    require_non_empty("database.schema", &database.schema)?;
    if limits {
        require_range(
            "database.max_connections",
            database.max_connections,
            1,
            1000,
        )?;
    }
    require_non_empty("broker.prefix", &broker.prefix)?;
    if limits {
        require_range("broker.prefetch", broker.prefetch, 1, 10_000)?;
        require_range("broker.max_attempts", broker.max_attempts, 1, 100)?;
    }
    Ok(())
}

/// Checks `[relay]`: `batch_size` 1 to 10,000 rows, `poll_interval_ms` 1 to 60,000.
pub fn validate_relay(relay: &RelaySettings) -> Result<(), SettingsError> {
    require_range("relay.batch_size", relay.batch_size, 1, 10_000)?;
    require_range("relay.poll_interval_ms", relay.poll_interval_ms, 1, 60_000)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    /// A service's settings reduced to the shared sections.
    #[derive(Debug, Deserialize)]
    struct Sample {
        http: HttpSettings,
        shutdown: ShutdownSettings,
        database: DatabaseSettings,
        broker: BrokerSettings,
        consumer: ConsumerSettings,
        relay: RelaySettings,
        inbox: InboxSettings,
    }

    /// Loading checks nothing: each test calls the checks it is about.
    impl Validate for Sample {
        fn validate(&self) -> Result<(), SettingsError> {
            Ok(())
        }
    }

    impl Sample {
        fn checked(&self) -> Result<(), SettingsError> {
            validate(&self.http, &self.shutdown, &self.database, &self.broker)
        }

        fn checked_with_limits(&self) -> Result<(), SettingsError> {
            validate_with_limits(&self.http, &self.shutdown, &self.database, &self.broker)
        }

        /// Every check a service with all the sections makes, in its order.
        fn checked_all(&self) -> Result<(), SettingsError> {
            self.checked_with_limits()?;
            self.consumer.validate()?;
            validate_relay(&self.relay)?;
            self.inbox.validate()
        }
    }

    const DEFAULTS: &str = r#"
        [http]
        host = "127.0.0.1"
        port = 8081
        [shutdown]
        drain_timeout_secs = 20
        [database]
        url = "postgres://postgres@127.0.0.1:5432/loopdesk"
        schema = "tickets"
        max_connections = 16
        [broker]
        prefix = "loopdesk"
        prefetch = 64
        max_attempts = 5
        [consumer]
        concurrency = 16
        [relay]
        batch_size = 200
        poll_interval_ms = 250
        [inbox]
        retention_hours = 168
    "#;

    fn load(pairs: &[(&str, &str)]) -> Sample {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        loopdesk_settings::load_with_vars(DEFAULTS, vars).unwrap()
    }

    fn refusal(checked: Result<(), SettingsError>) -> String {
        checked.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn sound_sections_pass_every_check() {
        let sample = load(&[]);
        assert!(sample.checked().is_ok());
        assert!(sample.checked_all().is_ok());
        assert_eq!(sample.inbox.retention(), chrono::Duration::hours(168));
    }

    #[test]
    fn each_shared_key_is_refused_by_name_by_both_checks() {
        for (var, value, key) in [
            ("LOOPDESK_HTTP__HOST", " ", "http.host"),
            (
                "LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS",
                "0",
                "shutdown.drain_timeout_secs",
            ),
            ("LOOPDESK_DATABASE__SCHEMA", "", "database.schema"),
            ("LOOPDESK_BROKER__PREFIX", "", "broker.prefix"),
        ] {
            let sample = load(&[(var, value)]);
            for refused in [
                refusal(sample.checked()),
                refusal(sample.checked_with_limits()),
            ] {
                assert!(refused.contains(&format!("`{key}`")), "{var}: {refused}");
            }
        }
    }

    #[test]
    fn the_limits_are_checked_only_when_asked_for() {
        for (var, value, key) in [
            (
                "LOOPDESK_DATABASE__MAX_CONNECTIONS",
                "1001",
                "database.max_connections",
            ),
            ("LOOPDESK_BROKER__PREFETCH", "0", "broker.prefetch"),
            (
                "LOOPDESK_BROKER__MAX_ATTEMPTS",
                "101",
                "broker.max_attempts",
            ),
        ] {
            let sample = load(&[(var, value)]);
            assert!(sample.checked().is_ok(), "{var}");
            let refused = refusal(sample.checked_with_limits());
            assert!(
                refused.contains(&format!("`{key}`")) && refused.contains(value),
                "{var}: {refused}"
            );
        }
    }

    #[test]
    fn the_first_key_refused_follows_the_sections_order() {
        let sample = load(&[
            ("LOOPDESK_BROKER__PREFIX", ""),
            ("LOOPDESK_DATABASE__MAX_CONNECTIONS", "0"),
        ]);
        assert!(refusal(sample.checked()).contains("`broker.prefix`"));
        assert!(refusal(sample.checked_with_limits()).contains("`database.max_connections`"));
    }

    #[test]
    fn consumer_relay_and_inbox_values_out_of_range_are_refused_by_name() {
        for (var, value, key) in [
            (
                "LOOPDESK_CONSUMER__CONCURRENCY",
                "0",
                "consumer.concurrency",
            ),
            (
                "LOOPDESK_CONSUMER__CONCURRENCY",
                "1001",
                "consumer.concurrency",
            ),
            ("LOOPDESK_RELAY__BATCH_SIZE", "0", "relay.batch_size"),
            (
                "LOOPDESK_RELAY__POLL_INTERVAL_MS",
                "60001",
                "relay.poll_interval_ms",
            ),
            (
                "LOOPDESK_INBOX__RETENTION_HOURS",
                "0",
                "inbox.retention_hours",
            ),
            (
                "LOOPDESK_INBOX__RETENTION_HOURS",
                "8761",
                "inbox.retention_hours",
            ),
        ] {
            let refused = refusal(load(&[(var, value)]).checked_all());
            assert!(
                refused.contains(&format!("`{key}`")) && refused.contains(value),
                "{var}={value}: {refused}"
            );
        }
    }
}
