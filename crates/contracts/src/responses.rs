//! The ticket thread: responses (append-only) and the audit entries attached to them,
//! plus the status history and SLA policies the ticket service keeps beside them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::{ResponseId, TicketId},
    tickets::{Priority, Status},
};

/// What kind of entry a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ResponseKind {
    /// An agent's public reply (the customer sees it).
    Reply,
    /// An agent's private note.
    Note,
    /// A customer's message.
    Message,
    /// Written by Loopdesk itself.
    System,
}

impl ResponseKind {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseKind::Reply => "reply",
            ResponseKind::Note => "note",
            ResponseKind::Message => "message",
            ResponseKind::System => "system",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Reply, Self::Note, Self::Message, Self::System]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether the customer sees responses of this kind.
    pub fn is_public(self) -> bool {
        !matches!(self, ResponseKind::Note)
    }
}

/// Who wrote a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthorKind {
    /// A support agent.
    Agent,
    /// The requester.
    Customer,
    /// Loopdesk itself.
    System,
}

/// The author of a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Author {
    /// Agent, customer or system.
    #[serde(rename = "type")]
    pub kind: AuthorKind,
    /// The integrator's id for the person (agent id, customer email, ...).
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A file linked by reference: Loopdesk never copies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// Where the file lives (`https://` or `http://`).
    pub url: String,
    /// File name shown to people.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Media type, e.g. `application/pdf`.
    pub content_type: String,
}

/// A response as supplied, already validated by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewResponse {
    /// Assigned by the gateway so a 202 can point at it.
    pub id: ResponseId,
    /// Reply, note or message.
    pub kind: ResponseKind,
    /// Who wrote it.
    pub author: Author,
    /// The text (plain or HTML).
    pub body: String,
    /// Files by reference.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// An annotation appended to a response (a correction, an intervention outcome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// `aud_` ULID.
    pub id: String,
    /// The response it concerns.
    pub response_id: ResponseId,
    /// What is recorded.
    pub body: String,
    /// Who recorded it.
    pub actor: Actor,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One entry of a ticket's thread; never edited or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Response {
    /// `rsp_` id.
    pub id: ResponseId,
    /// The ticket it belongs to.
    pub ticket_id: TicketId,
    /// Reply, note, message or system.
    pub kind: ResponseKind,
    /// Whether the customer sees it.
    pub public: bool,
    /// Who wrote it.
    pub author: Author,
    /// The text.
    pub body: String,
    /// Files by reference.
    pub attachments: Vec<Attachment>,
    /// Annotations appended later, oldest first.
    #[serde(default)]
    pub audit: Vec<AuditEntry>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// One status change of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusChange {
    /// The status before; null for the creation.
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// Why, when given.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who moved it.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// Service-level targets for a tenant's tickets of one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicy {
    /// The priority it applies to.
    pub priority: Priority,
    /// Minutes until the first agent public reply is due.
    pub first_response_minutes: i32,
    /// Minutes until the ticket must be solved (time spent `pending` excluded).
    pub resolution_minutes: i32,
}
