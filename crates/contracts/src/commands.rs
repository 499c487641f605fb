//! Commands sent to the ticket service on the `commands` exchange, and its replies.
//! The AMQP `type` and the routing key are the command name; the body is tagged too, so
//! a body read on its own still says what it is.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{
    actor::Actor,
    ids::{ResponseId, TicketId},
    problem::DomainError,
    responses::{AuditEntry, NewResponse, Response, SlaPolicy},
    tickets::{NewTicket, Priority, Status, Ticket},
};

/// Command name of [`TicketCommand::Create`].
pub const CREATE_TICKET: &str = "ticket.create";
/// Command name of [`TicketCommand::AddResponse`].
pub const ADD_RESPONSE: &str = "ticket.add_response";
/// Command name of [`TicketCommand::Transition`].
pub const TRANSITION_TICKET: &str = "ticket.transition";
/// Command name of [`TicketCommand::Update`].
pub const UPDATE_TICKET: &str = "ticket.update";
/// Command name of [`TicketCommand::Delete`].
pub const DELETE_TICKET: &str = "ticket.delete";
/// Command name of [`TicketCommand::AddAudit`].
pub const ADD_AUDIT: &str = "ticket.add_audit";
/// Command name of [`TicketCommand::SetSlaPolicy`].
pub const SET_SLA_POLICY: &str = "ticket.set_sla_policy";

/// Every command name the ticket service consumes (its queue's bindings).
pub const ALL_TICKET_COMMANDS: [&str; 7] = [
    CREATE_TICKET,
    ADD_RESPONSE,
    TRANSITION_TICKET,
    UPDATE_TICKET,
    DELETE_TICKET,
    ADD_AUDIT,
    SET_SLA_POLICY,
];

/// Every command the ticket service takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum TicketCommand {
    /// Create a ticket (schema version 1).
    #[serde(rename = "ticket.create")]
    Create(CreateTicket),
    /// Append a response to a ticket's thread.
    #[serde(rename = "ticket.add_response")]
    AddResponse(AddResponse),
    /// Move a ticket to another status.
    #[serde(rename = "ticket.transition")]
    Transition(TransitionTicket),
    /// Change a ticket's fields, guarded by its version.
    #[serde(rename = "ticket.update")]
    Update(UpdateTicket),
    /// Soft-delete a ticket.
    #[serde(rename = "ticket.delete")]
    Delete(DeleteTicket),
    /// Attach an audit entry to a response.
    #[serde(rename = "ticket.add_audit")]
    AddAudit(AddAudit),
    /// Set the tenant's SLA policy for one priority.
    #[serde(rename = "ticket.set_sla_policy")]
    SetSlaPolicy(SetSlaPolicy),
}

impl TicketCommand {
    /// The command name: AMQP `type` and routing key.
    pub fn name(&self) -> &'static str {
        match self {
            TicketCommand::Create(_) => CREATE_TICKET,
            TicketCommand::AddResponse(_) => ADD_RESPONSE,
            TicketCommand::Transition(_) => TRANSITION_TICKET,
            TicketCommand::Update(_) => UPDATE_TICKET,
            TicketCommand::Delete(_) => DELETE_TICKET,
            TicketCommand::AddAudit(_) => ADD_AUDIT,
            TicketCommand::SetSlaPolicy(_) => SET_SLA_POLICY,
        }
    }
}

/// Create a ticket with the given, already validated, fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTicket {
    /// The new ticket.
    pub ticket: NewTicket,
    /// Who asked for it.
    pub actor: Actor,
    /// Responses posted with the ticket, in order and in its transaction (an
    /// intervention's rendered templates); they never move the status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_responses: Vec<NewResponse>,
}

/// Append a response; may move the status (agent public reply, customer message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddResponse {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The response.
    pub response: NewResponse,
    /// Who made the change (the author as an actor).
    pub actor: Actor,
}

/// Move a ticket to `to`, if the status model allows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransitionTicket {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The status wanted.
    pub to: Status,
    /// Why, recorded in the history and the events.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who moves it.
    pub actor: Actor,
}

/// Change fields of a ticket whose version is still `expected_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateTicket {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The version the caller read (`If-Match`).
    pub expected_version: i64,
    /// The fields to change.
    pub changes: TicketChanges,
    /// Who changes them.
    pub actor: Actor,
}

/// The fields a PATCH may change; absent fields stay as they are, `null` clears the
/// nullable ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketChanges {
    /// New subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// New priority (recomputes the SLA targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// New queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// New tags (replace the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// New assignee; `null` unassigns.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub assignee: Option<Option<String>>,
    /// New due date; `null` clears it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// A field that is present (possibly `null`) becomes `Some(..)`; an absent one keeps
/// the `default` of `None`.
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Soft-delete a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteTicket {
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who deletes it.
    pub actor: Actor,
}

/// Attach an audit entry to a response of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddAudit {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The response it concerns.
    pub response_id: ResponseId,
    /// `aud_` id assigned by the gateway.
    pub entry_id: String,
    /// What is recorded.
    pub body: String,
    /// Who records it.
    pub actor: Actor,
}

/// Set the caller's SLA policy for one priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetSlaPolicy {
    /// The policy.
    pub policy: SlaPolicy,
    /// Who sets it.
    pub actor: Actor,
}

/// The ticket service's answer to a command that carried `reply_to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TicketReply {
    /// The command was applied (or had been): the ticket as it now stands.
    Ticket {
        /// The resource.
        ticket: Box<Ticket>,
    },
    /// A response was appended (or had been).
    Response {
        /// The response.
        response: Box<Response>,
    },
    /// An audit entry was attached (or had been).
    Audit {
        /// The entry.
        entry: AuditEntry,
    },
    /// The SLA policy as now stored.
    SlaPolicy {
        /// The policy.
        policy: SlaPolicy,
    },
    /// The command was refused; nothing changed.
    Rejected {
        /// Why.
        error: DomainError,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn patch_fields_tell_absent_from_null() {
        let c: TicketChanges = serde_json::from_str(r#"{"assignee": null}"#).unwrap();
        assert_eq!(c.assignee, Some(None));
        assert_eq!(c.due_at, None);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back, serde_json::json!({"assignee": null}));
        let c: TicketChanges = serde_json::from_str(r#"{"assignee": "agt_1"}"#).unwrap();
        assert_eq!(c.assignee, Some(Some("agt_1".to_owned())));
    }
}
