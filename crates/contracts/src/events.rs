//! `ticket.*` events, published on the `events` exchange (routing key = type) and
//! delivered to webhook subscribers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::EventId,
    tenancy::{Env, Tenant},
    tickets::Ticket,
};

/// `ticket.created`.
pub const TICKET_CREATED: &str = "ticket.created";

/// One event about a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketEvent {
    /// `evt_` id; also the webhook id, stable across retries.
    pub id: EventId,
    /// Event type, e.g. `ticket.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was committed.
    pub created_at: DateTime<Utc>,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// Position among this ticket's events, from 1, without gaps.
    pub sequence: i64,
    /// What happened.
    pub data: TicketEventData,
}

/// The body of a ticket event: the ticket after the change, who made it, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketEventData {
    /// Snapshot after the change.
    pub ticket: Ticket,
    /// Who made the change.
    pub actor: Actor,
    /// Changed fields: `{field: {"from": .., "to": ..}}`; empty on creation.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub changes: serde_json::Map<String, serde_json::Value>,
}
