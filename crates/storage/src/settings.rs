//! How a service reaches its database.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::StorageError;

/// Connection settings of one service's database.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`; a secret because it may carry a password.
    pub url: SecretString,
    /// The service's own Postgres schema (e.g. `tickets`); its tables and migration table live there.
    pub schema: String,
    /// Upper bound of pooled connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a caller waits for a connection before getting an "unavailable" error.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
}

fn default_max_connections() -> usize {
    16
}

fn default_acquire_timeout_ms() -> u64 {
    2000
}

impl DatabaseSettings {
    /// Settings with the default pool size and acquire timeout.
    pub fn new(url: impl Into<String>, schema: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            schema: schema.into(),
            max_connections: default_max_connections(),
            acquire_timeout_ms: default_acquire_timeout_ms(),
        }
    }

    /// The acquire timeout as a [`Duration`].
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }

    /// Checks what the database would otherwise reject late and obscurely.
    pub fn validate(&self) -> Result<(), StorageError> {
        validate_schema_name(&self.schema)?;
        if self.max_connections == 0 {
            return Err(StorageError::InvalidSettings(
                "max_connections must be at least 1".into(),
            ));
        }
        if self.acquire_timeout_ms == 0 {
            return Err(StorageError::InvalidSettings(
                "acquire_timeout_ms must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The schema name quoted as an SQL identifier.
    pub(crate) fn quoted_schema(&self) -> String {
        quote_identifier(&self.schema)
    }
}

/// Postgres truncates identifiers past 63 bytes, which would silently merge two schemas.
const MAX_IDENTIFIER_BYTES: usize = 63;

fn validate_schema_name(schema: &str) -> Result<(), StorageError> {
    if schema.is_empty() {
        return Err(StorageError::InvalidSettings(
            "schema must not be empty".into(),
        ));
    }
    if schema.len() > MAX_IDENTIFIER_BYTES {
        return Err(StorageError::InvalidSettings(format!(
            "schema name is longer than {MAX_IDENTIFIER_BYTES} bytes"
        )));
    }
    if schema.starts_with("pg_") {
        return Err(StorageError::InvalidSettings(
            "schema names starting with pg_ are reserved by PostgreSQL".into(),
        ));
    }
    if schema.contains('\0') {
        return Err(StorageError::InvalidSettings(
            "schema name must not contain NUL".into(),
        ));
    }
    Ok(())
}

/// Quotes an identifier so any name is taken literally (no injection, case kept).
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_literally() {
        assert_eq!(quote_identifier("tickets"), "\"tickets\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn rejects_unusable_schema_names() {
        for bad in ["", "pg_temp", &"x".repeat(64)] {
            let settings = DatabaseSettings::new("postgres://localhost/db", bad);
            assert!(settings.validate().is_err(), "{bad:?} accepted");
        }
        assert!(
            DatabaseSettings::new("postgres://localhost/db", "tickets")
                .validate()
                .is_ok()
        );
    }
}
