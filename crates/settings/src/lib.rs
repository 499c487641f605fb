//! Loads a service's settings the same way everywhere:
//!
//! 1. the service's defaults (a TOML file compiled into the binary);
//! 2. an optional file named by `LOOPDESK_CONFIG` (for deployments that mount one);
//! 3. environment variables `LOOPDESK_<SECTION>__<KEY>` (`__` separates levels), so
//!    `LOOPDESK_DATABASE__URL` sets `database.url`.
//!
//! Then the result is deserialized into the service's typed settings and validated;
//! every error names the key at fault. Secrets are plain strings in the sources, so a
//! type error (which quotes the value) can never be about one.

use std::{env, fmt};

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "LOOPDESK";

/// Something wrong with the configuration, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A source could not be read or a value did not fit its type.
    #[error("configuration error: {0}")]
    Load(String),
    /// A value parsed but is not acceptable.
    #[error("configuration key `{key}` is invalid: {reason}")]
    Invalid {
        /// Dotted path of the key, e.g. `broker.prefetch`.
        key: String,
        /// Why it is refused.
        reason: String,
    },
}

impl SettingsError {
    /// A refused value.
    pub fn invalid(key: impl Into<String>, reason: impl fmt::Display) -> Self {
        SettingsError::Invalid {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}

/// Semantic checks that serde cannot express (ranges, non-empty strings, ...).
pub trait Validate {
    /// Returns the first problem found, naming its key.
    fn validate(&self) -> Result<(), SettingsError>;
}

/// Loads settings from `defaults` (TOML text), the optional `LOOPDESK_CONFIG` file and
/// the environment, then validates them.
pub fn load<T: DeserializeOwned + Validate>(defaults: &str) -> Result<T, SettingsError> {
    let file = env::var("LOOPDESK_CONFIG").ok();
    load_from(
        defaults,
        file.as_deref(),
        Environment::with_prefix(ENV_PREFIX),
    )
}

/// [`load`] with explicit sources, for tests and tools.
pub fn load_from<T: DeserializeOwned + Validate>(
    defaults: &str,
    file: Option<&str>,
    environment: Environment,
) -> Result<T, SettingsError> {
    let mut builder = Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Some(path) = file {
        builder = builder.add_source(File::with_name(path).required(true));
    }
    let settings: T = builder
        .add_source(
            environment
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        )
        .build()
        .and_then(Config::try_deserialize)
        .map_err(|e| SettingsError::Load(e.to_string()))?;
    settings.validate()?;
    Ok(settings)
}

/// [`load`] reading overrides from `vars` instead of the process environment, with no
/// config file: tests and tools configure a service without touching global state.
pub fn load_with_vars<T: DeserializeOwned + Validate>(
    defaults: &str,
    vars: std::collections::HashMap<String, String>,
) -> Result<T, SettingsError> {
    load_from(
        defaults,
        None,
        Environment::with_prefix(ENV_PREFIX).source(Some(vars)),
    )
}

/// Refuses an empty string value.
pub fn require_non_empty(key: &str, value: &str) -> Result<(), SettingsError> {
    if value.trim().is_empty() {
        return Err(SettingsError::invalid(key, "must not be empty"));
    }
    Ok(())
}

/// Refuses a number outside `min..=max`.
pub fn require_range<N: PartialOrd + fmt::Display>(
    key: &str,
    value: N,
    min: N,
    max: N,
) -> Result<(), SettingsError> {
    if value < min || value > max {
        return Err(SettingsError::invalid(
            key,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http: Http,
    }

    #[derive(Debug, Deserialize)]
    struct Http {
        port: u16,
        host: String,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), SettingsError> {
            require_non_empty("http.host", &self.http.host)?;
            require_range("http.port", self.http.port, 1, 65535)
        }
    }

    const DEFAULTS: &str = "[http]\nport = 8080\nhost = \"127.0.0.1\"\n";

    fn env_of(pairs: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Environment::with_prefix(ENV_PREFIX).source(Some(map))
    }

    #[test]
    fn environment_overrides_defaults() {
        let s: Sample = load_from(DEFAULTS, None, env_of(&[("LOOPDESK_HTTP__PORT", "9000")]))
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.http.port, 9000);
        assert_eq!(s.http.host, "127.0.0.1");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let err = load_from::<Sample>(DEFAULTS, None, env_of(&[("LOOPDESK_HTTP__PORT", "lots")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("http.port"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let err = load_from::<Sample>(DEFAULTS, None, env_of(&[("LOOPDESK_HTTP__PORT", "0")]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`http.port`"), "{err}");
    }
}
