//! What a key may do.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// One permission carried by an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ability {
    /// Create tickets (the name the seed's remote systems use).
    #[serde(rename = "create-ticket")]
    CreateTicket,
    /// Read tickets and their threads.
    #[serde(rename = "tickets:read")]
    TicketsRead,
    /// Update tickets and reply on them.
    #[serde(rename = "tickets:write")]
    TicketsWrite,
    /// Manage intervention definitions, fields and templates.
    #[serde(rename = "interventions:admin")]
    InterventionsAdmin,
    /// Manage webhook endpoints and replays.
    #[serde(rename = "webhooks:admin")]
    WebhooksAdmin,
    /// Mint and revoke API keys.
    #[serde(rename = "keys:admin")]
    KeysAdmin,
}

impl Ability {
    /// Every ability, in declaration order.
    pub const ALL: [Ability; 6] = [
        Ability::CreateTicket,
        Ability::TicketsRead,
        Ability::TicketsWrite,
        Ability::InterventionsAdmin,
        Ability::WebhooksAdmin,
        Ability::KeysAdmin,
    ];

    /// The name used in tokens, configuration and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Ability::CreateTicket => "create-ticket",
            Ability::TicketsRead => "tickets:read",
            Ability::TicketsWrite => "tickets:write",
            Ability::InterventionsAdmin => "interventions:admin",
            Ability::WebhooksAdmin => "webhooks:admin",
            Ability::KeysAdmin => "keys:admin",
        }
    }
}

impl fmt::Display for Ability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that names no ability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown ability `{0}` (known: create-ticket, tickets:read, tickets:write, interventions:admin, webhooks:admin, keys:admin)"
)]
pub struct UnknownAbility(pub String);

impl FromStr for Ability {
    type Err = UnknownAbility;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ability::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAbility(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for ability in Ability::ALL {
            assert_eq!(ability.as_str().parse::<Ability>(), Ok(ability));
            let json = serde_json::to_string(&ability).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", ability.as_str()));
            assert_eq!(serde_json::from_str::<Ability>(&json).ok(), Some(ability));
        }
        assert!("tickets:delete".parse::<Ability>().is_err());
        assert!(serde_json::from_str::<Ability>("\"CreateTicket\"").is_err());
    }
}
