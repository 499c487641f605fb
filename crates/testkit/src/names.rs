//! Where the test servers are, and names that do not collide between tests.

use rand::Rng;

/// The PostgreSQL server URL without a database name: `LOOPDESK_TEST_DATABASE_URL`, or
/// the local server.
pub fn database_base_url() -> String {
    std::env::var("LOOPDESK_TEST_DATABASE_URL")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// The RabbitMQ URL: `LOOPDESK_TEST_AMQP_URL`, or the local broker's default vhost.
pub fn amqp_url() -> String {
    std::env::var("LOOPDESK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A fresh `t_{label}_{random}` name prefix for broker exchanges and queues, made of
/// `[a-z0-9_]` only (other characters in `label` become `_`).
pub fn unique_prefix(label: &str) -> String {
    let label: String = label
        .chars()
        .take(32)
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("t_{label}_{}", random_suffix(10))
}

/// `len` random characters of `[a-z0-9]`.
pub(crate) fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_lowercase_safe_and_distinct() {
        let a = unique_prefix("Ticket-Service.events");
        let b = unique_prefix("Ticket-Service.events");
        assert!(a.starts_with("t_ticket_service_events_"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
