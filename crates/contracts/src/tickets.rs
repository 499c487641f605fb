//! The ticket as other services and integrators see it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ids::TicketId,
    tenancy::{Env, Tenant},
};

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Needs attention soon.
    High,
    /// Needs attention now.
    Urgent,
}

impl Priority {
    /// The lowercase wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// Where a ticket is in its life (seed 003's model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, nobody has answered yet.
    New,
    /// Waiting on support.
    Open,
    /// Support replied, waiting on the customer.
    Pending,
    /// Resolved; the customer may confirm or reopen.
    Solved,
    /// Terminal.
    Closed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Solved,
        Status::Closed,
    ];

    /// The lowercase wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Solved => "solved",
            Status::Closed => "closed",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The person a ticket is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Requester {
    /// Lowercased email address.
    pub email: String,
    /// Display name, when known.
    pub name: Option<String>,
}

/// A ticket's fields as supplied on creation, already validated by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTicket {
    /// Assigned by the gateway so a 202 can point at the resource before it exists.
    pub id: TicketId,
    /// One line, 1..=255 characters.
    pub subject: String,
    /// The opening message (plain text or HTML), may be empty.
    pub description: String,
    /// Who asked.
    pub requester: Requester,
    /// Urgency.
    pub priority: Priority,
    /// The queue (team inbox) the ticket lands in.
    pub queue: String,
    /// Free-form labels, lowercased and de-duplicated.
    pub tags: Vec<String>,
    /// The channel it came from (`api`, `email`, `web`, ...).
    pub source: String,
    /// Integrator-owned key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// A closed ticket of the same tenant this one follows up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_of: Option<TicketId>,
}

/// A ticket's service-level targets and whether they were met.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketSla {
    /// When the first agent public reply is due; null without a policy.
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// When the ticket must be solved; null without a policy.
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// When the first agent public reply was posted.
    pub first_responded_at: Option<DateTime<Utc>>,
    /// When the first-response target was found missed.
    pub first_response_breached_at: Option<DateTime<Utc>>,
    /// When the resolution target was found missed.
    pub resolution_breached_at: Option<DateTime<Utc>>,
    /// Set while the clock is stopped (the ticket is `pending`, waiting on the customer).
    pub paused_at: Option<DateTime<Utc>>,
}

/// A ticket as stored by the ticket service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    /// `tkt_` id.
    pub id: TicketId,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// One line summary.
    pub subject: String,
    /// The opening message.
    pub description: String,
    /// Who asked.
    pub requester: Requester,
    /// Lifecycle status.
    pub status: Status,
    /// Urgency.
    pub priority: Priority,
    /// Team inbox.
    pub queue: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Origin channel.
    pub source: String,
    /// Integrator-owned key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// The agent the ticket is assigned to.
    #[serde(default)]
    pub assignee: Option<String>,
    /// When the ticket is due, as set by an agent.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// The closed ticket this one follows up on.
    #[serde(default)]
    pub follow_up_of: Option<TicketId>,
    /// Service-level targets.
    #[serde(default)]
    pub sla: TicketSla,
    /// When it was last solved.
    #[serde(default)]
    pub solved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// When it was deleted; only ever seen in the `ticket.deleted` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Increases by one with every change; the ETag.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters and paging for a ticket listing, as the gateway forwards them to the owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketQuery {
    /// Only tickets in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Only tickets of this priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Only tickets in this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Only tickets from this requester email (lowercased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// Only tickets carrying this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Only tickets created at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// Only tickets created before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// Only tickets assigned to this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Only tickets changed at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_after: Option<DateTime<Utc>>,
    /// Only tickets that have (true) or have not (false) missed an SLA target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_breached: Option<bool>,
    /// Full-text search over subject, description and the thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Page size, 1..=100.
    pub limit: u16,
    /// Opaque position from a previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}
