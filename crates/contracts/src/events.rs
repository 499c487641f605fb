//! `ticket.*` events, published on the `events` exchange (routing key = type) and
//! delivered to webhook subscribers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::EventId,
    responses::Response,
    tenancy::{Env, Tenant},
    tickets::{Status, Ticket},
};

/// `ticket.created`.
pub const TICKET_CREATED: &str = "ticket.created";
/// `ticket.updated`: subject, priority, queue or tags changed.
pub const TICKET_UPDATED: &str = "ticket.updated";
/// `ticket.replied`: an agent's public reply.
pub const TICKET_REPLIED: &str = "ticket.replied";
/// `ticket.commented`: a customer's message.
pub const TICKET_COMMENTED: &str = "ticket.commented";
/// `ticket.note_added`: an agent's private note.
pub const TICKET_NOTE_ADDED: &str = "ticket.note_added";
/// `ticket.status_changed`: any status move, with from, to, actor and reason.
pub const TICKET_STATUS_CHANGED: &str = "ticket.status_changed";
/// `ticket.assigned`: the assignee changed.
pub const TICKET_ASSIGNED: &str = "ticket.assigned";
/// `ticket.due_date_updated`: the due date changed.
pub const TICKET_DUE_DATE_UPDATED: &str = "ticket.due_date_updated";
/// `ticket.resolved`: moved to `solved`.
pub const TICKET_RESOLVED: &str = "ticket.resolved";
/// `ticket.reopened`: moved from `solved` back to `open`.
pub const TICKET_REOPENED: &str = "ticket.reopened";
/// `ticket.closed`: moved to `closed` (terminal).
pub const TICKET_CLOSED: &str = "ticket.closed";
/// `ticket.sla_breached`: an SLA target was missed (once per target).
pub const TICKET_SLA_BREACHED: &str = "ticket.sla_breached";
/// `ticket.deleted`: soft-deleted; reads answer 404 from now on.
pub const TICKET_DELETED: &str = "ticket.deleted";

/// Every event type, in catalogue order (DESIGN.md §6).
pub const ALL_TICKET_EVENTS: [&str; 13] = [
    TICKET_CREATED,
    TICKET_UPDATED,
    TICKET_REPLIED,
    TICKET_COMMENTED,
    TICKET_NOTE_ADDED,
    TICKET_STATUS_CHANGED,
    TICKET_ASSIGNED,
    TICKET_DUE_DATE_UPDATED,
    TICKET_RESOLVED,
    TICKET_REOPENED,
    TICKET_CLOSED,
    TICKET_SLA_BREACHED,
    TICKET_DELETED,
];

/// One event about a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketEventData {
    /// Snapshot after the change.
    pub ticket: Ticket,
    /// Who made the change.
    pub actor: Actor,
    /// Changed fields: `{field: {"from": .., "to": ..}}`; empty on creation.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub changes: serde_json::Map<String, serde_json::Value>,
    /// The response, on `replied`, `commented` and `note_added`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// The move, on `status_changed`, `resolved`, `reopened` and `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_change: Option<StatusMove>,
    /// The missed target, on `sla_breached`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_breach: Option<SlaBreach>,
}

/// A status move as carried by an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusMove {
    /// Status before.
    pub from: Status,
    /// Status after.
    pub to: Status,
    /// Why, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Which SLA target a breach concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    /// The first agent public reply.
    FirstResponse,
    /// Solving the ticket.
    Resolution,
}

impl SlaTarget {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaTarget::FirstResponse => "first_response",
            SlaTarget::Resolution => "resolution",
        }
    }
}

/// A missed SLA target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaBreach {
    /// Which target.
    pub target: SlaTarget,
    /// When it was due.
    pub due_at: DateTime<Utc>,
}
