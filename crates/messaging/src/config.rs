//! Broker settings, loaded by each service from its configuration.

use secrecy::SecretString;
use serde::Deserialize;

/// How a service reaches RabbitMQ and how its consumers retry.
///
/// Missing fields take their [`Default`] value, so a service's configuration only
/// needs to name what differs (usually `url` and `prefix`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BrokerSettings {
    /// AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`. Holds a password: never logged.
    pub url: SecretString,
    /// Every exchange and queue name starts with `"{prefix}."`.
    pub prefix: String,
    /// Per-consumer `basic.qos` prefetch count.
    pub prefetch: u16,
    /// How long a message waits in the retry queue before it is delivered again.
    pub retry_delay_ms: u64,
    /// Deliveries of one message before it is dead-lettered.
    pub max_attempts: u32,
    /// Cap of the exponential reconnect backoff.
    pub reconnect_max_backoff_ms: u64,
    /// How long a publish waits for the broker's confirm.
    pub publish_timeout_ms: u64,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: "loopdesk".to_owned(),
            prefetch: 32,
            retry_delay_ms: 5_000,
            max_attempts: 5,
            reconnect_max_backoff_ms: 10_000,
            publish_timeout_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn missing_fields_take_defaults() {
        let settings: BrokerSettings =
            serde_json::from_str(r#"{"prefix": "t1", "retry_delay_ms": 200}"#).unwrap();
        assert_eq!(settings.prefix, "t1");
        assert_eq!(settings.retry_delay_ms, 200);
        assert_eq!(settings.prefetch, 32);
        assert_eq!(settings.max_attempts, 5);
        assert!(settings.url.expose_secret().starts_with("amqp://"));
    }

    #[test]
    fn debug_output_hides_the_url() {
        let settings = BrokerSettings {
            url: SecretString::from("amqp://u:hunter2@host/%2f"),
            ..BrokerSettings::default()
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
