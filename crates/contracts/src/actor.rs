//! Who did something: recorded on every change and carried by every event.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of party behind a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An integration using an API key.
    ApiKey,
    /// A support agent.
    Agent,
    /// The requester.
    Customer,
    /// Loopdesk itself (timers, SLA, automations).
    System,
}

/// A party behind a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    /// What kind of party.
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// Its identifier (the key's `sub`, an agent id, an email).
    pub id: String,
    /// The API key it acted through, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}
