//! Tenant and environment: every row and message carries both, and test and live
//! data never mix.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The environment a key, a row or a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// Sandbox data, reached with `ld_test_` keys.
    Test,
    /// Production data, reached with `ld_live_` keys.
    Live,
}

impl Env {
    /// The lowercase name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Test => "test",
            Env::Live => "live",
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is neither `test` nor `live`.
#[derive(Debug, thiserror::Error)]
#[error("env must be `test` or `live`, got `{0}`")]
pub struct UnknownEnv(pub String);

impl FromStr for Env {
    type Err = UnknownEnv;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Env::Test),
            "live" => Ok(Env::Live),
            other => Err(UnknownEnv(other.to_owned())),
        }
    }
}

/// A tenant identifier: 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct Tenant(String);

/// The error for a malformed tenant identifier.
#[derive(Debug, thiserror::Error)]
#[error("tenant must be 1 to 64 characters of letters, digits, `_` or `-`")]
pub struct InvalidTenant;

impl Tenant {
    /// Parses a tenant identifier.
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidTenant> {
        let s = s.into();
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Tenant(s))
        } else {
            Err(InvalidTenant)
        }
    }

    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tenant {
    type Error = InvalidTenant;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Tenant::parse(value)
    }
}

impl From<Tenant> for String {
    fn from(value: Tenant) -> Self {
        value.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pair that scopes every resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scope {
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rejects_empty_long_and_odd_characters() {
        assert!(Tenant::parse("").is_err());
        assert!(Tenant::parse("a".repeat(65)).is_err());
        assert!(Tenant::parse("acme corp").is_err());
        assert_eq!(
            Tenant::parse("acme-1_x").map(|t| t.to_string()).ok(),
            Some("acme-1_x".into())
        );
    }

    #[test]
    fn env_round_trips() {
        assert_eq!("live".parse::<Env>().ok(), Some(Env::Live));
        assert!("prod".parse::<Env>().is_err());
    }
}
