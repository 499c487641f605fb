//! Webhooks: the commands the gateway sends to webhook-fanout about endpoints and
//! deliveries, its replies, the read models of its internal API, and the payloads
//! subscribers receive.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::{DeliveryId, EventId, TicketId, WebhookEndpointId},
    problem::DomainError,
};

/// Command name of [`WebhookCommand::Create`].
pub const CREATE_ENDPOINT: &str = "webhook_endpoint.create";
/// Command name of [`WebhookCommand::Update`].
pub const UPDATE_ENDPOINT: &str = "webhook_endpoint.update";
/// Command name of [`WebhookCommand::Delete`].
pub const DELETE_ENDPOINT: &str = "webhook_endpoint.delete";
/// Command name of [`WebhookCommand::RotateSecret`].
pub const ROTATE_SECRET: &str = "webhook_endpoint.rotate_secret";
/// Command name of [`WebhookCommand::Recover`].
pub const RECOVER_ENDPOINT: &str = "webhook_endpoint.recover";
/// Command name of [`WebhookCommand::Redeliver`].
pub const REDELIVER: &str = "delivery.redeliver";

/// Every command name webhook-fanout consumes.
pub const COMMAND_NAMES: [&str; 6] = [
    CREATE_ENDPOINT,
    UPDATE_ENDPOINT,
    DELETE_ENDPOINT,
    ROTATE_SECRET,
    RECOVER_ENDPOINT,
    REDELIVER,
];

/// The filter value that subscribes to every `ticket.*` event.
pub const ALL_TICKET_EVENTS: &str = "ticket.*";

/// Every event type an endpoint can subscribe to (DESIGN.md §6).
pub const TICKET_EVENT_TYPES: [&str; 13] = [
    "ticket.created",
    "ticket.updated",
    "ticket.replied",
    "ticket.commented",
    "ticket.note_added",
    "ticket.status_changed",
    "ticket.assigned",
    "ticket.due_date_updated",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.closed",
    "ticket.sla_breached",
    "ticket.deleted",
];

/// How much of an event an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PayloadStyle {
    /// The event as published: ticket snapshot, actor and changes.
    #[default]
    Full,
    /// Ids only ([`ThinEvent`]); the subscriber fetches what it needs through the API.
    Thin,
}

impl PayloadStyle {
    /// The name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadStyle::Full => "full",
            PayloadStyle::Thin => "thin",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(PayloadStyle::Full),
            "thin" => Some(PayloadStyle::Thin),
            _ => None,
        }
    }
}

/// An endpoint to create, as the caller described it (validated by webhook-fanout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewEndpoint {
    /// The id chosen by the gateway (stable across retries of one request).
    pub id: WebhookEndpointId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text for the subscriber.
    #[serde(default)]
    pub description: Option<String>,
    /// Exact event types, or `ticket.*`.
    pub event_types: Vec<String>,
    /// Full or thin payloads.
    #[serde(default)]
    pub payload_style: PayloadStyle,
    /// Extra headers sent with every delivery.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Whether deliveries are made.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointPatch {
    /// New URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// New description (an empty string clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New event filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    /// New payload style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_style: Option<PayloadStyle>,
    /// New custom headers (replace the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Enable (clears the disabled reason) or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Every command webhook-fanout takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum WebhookCommand {
    /// Create an endpoint and its signing secret.
    #[serde(rename = "webhook_endpoint.create")]
    Create {
        /// The endpoint.
        endpoint: NewEndpoint,
        /// Who asked.
        actor: Actor,
    },
    /// Change an endpoint.
    #[serde(rename = "webhook_endpoint.update")]
    Update {
        /// Which endpoint.
        id: WebhookEndpointId,
        /// What changes.
        patch: EndpointPatch,
        /// Who asked.
        actor: Actor,
    },
    /// Delete an endpoint and its deliveries.
    #[serde(rename = "webhook_endpoint.delete")]
    Delete {
        /// Which endpoint.
        id: WebhookEndpointId,
        /// Who asked.
        actor: Actor,
    },
    /// Replace the signing secret; the old one keeps signing during the grace period.
    #[serde(rename = "webhook_endpoint.rotate_secret")]
    RotateSecret {
        /// Which endpoint.
        id: WebhookEndpointId,
        /// Who asked.
        actor: Actor,
    },
    /// Send again every dead delivery of the endpoint created in `[since, until)`.
    #[serde(rename = "webhook_endpoint.recover")]
    Recover {
        /// Which endpoint.
        id: WebhookEndpointId,
        /// Window start (inclusive).
        since: DateTime<Utc>,
        /// Window end (exclusive); now when absent.
        #[serde(default)]
        until: Option<DateTime<Utc>>,
        /// Who asked.
        actor: Actor,
    },
    /// Send one delivery again, from its first attempt.
    #[serde(rename = "delivery.redeliver")]
    Redeliver {
        /// Which delivery.
        id: DeliveryId,
        /// Who asked.
        actor: Actor,
    },
}

impl WebhookCommand {
    /// The command name: AMQP `type` and routing key.
    pub fn name(&self) -> &'static str {
        match self {
            WebhookCommand::Create { .. } => CREATE_ENDPOINT,
            WebhookCommand::Update { .. } => UPDATE_ENDPOINT,
            WebhookCommand::Delete { .. } => DELETE_ENDPOINT,
            WebhookCommand::RotateSecret { .. } => ROTATE_SECRET,
            WebhookCommand::Recover { .. } => RECOVER_ENDPOINT,
            WebhookCommand::Redeliver { .. } => REDELIVER,
        }
    }
}

/// webhook-fanout's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WebhookReply {
    /// The endpoint as it now stands; `secret` only when this command created it or
    /// rotated its secret (shown once).
    Endpoint {
        /// The endpoint.
        endpoint: Box<WebhookEndpoint>,
        /// The new signing secret, `whsec_...`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// The endpoint was deleted (or already was, by this command).
    Deleted {
        /// Which endpoint.
        id: WebhookEndpointId,
    },
    /// Dead deliveries were scheduled again.
    Recovering {
        /// Which endpoint.
        id: WebhookEndpointId,
        /// How many deliveries were scheduled.
        deliveries: i64,
    },
    /// The delivery as it now stands.
    Delivery {
        /// The delivery.
        delivery: Box<Delivery>,
    },
    /// The command was refused; nothing changed.
    Rejected {
        /// Why.
        error: DomainError,
    },
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    /// `whe_` id.
    pub id: WebhookEndpointId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Exact event types, or `ticket.*`.
    pub event_types: Vec<String>,
    /// Full or thin payloads.
    pub payload_style: PayloadStyle,
    /// Extra headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why Loopdesk disabled it (410 Gone, continuous failure), when it did.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed, while that lasts.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt got a 2xx.
    Succeeded,
    /// Every attempt failed, or the endpoint was disabled: replayable.
    Dead,
}

impl DeliveryStatus {
    /// The name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "succeeded" => Some(DeliveryStatus::Succeeded),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// `dlv_` id.
    pub id: DeliveryId,
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The event (also the `webhook-id` header).
    pub event_id: EventId,
    /// The event type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made since it was (re)scheduled.
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed, or why it is dead.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    /// Position in the attempt history.
    pub id: i64,
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// When it was sent.
    pub attempted_at: DateTime<Utc>,
    /// Whether it succeeded (2xx).
    pub succeeded: bool,
    /// The HTTP status, when an answer came.
    pub status_code: Option<u16>,
    /// Time to the answer (or the failure), in milliseconds.
    pub latency_ms: i64,
    /// What went wrong: timeout, connection error, redirect, non-2xx.
    pub error: Option<String>,
    /// Why the request was not sent at all (outbound safety).
    pub refused_reason: Option<String>,
    /// The first KiB of the answer's body.
    pub response_excerpt: Option<String>,
}

/// A `thin` webhook payload: ids only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThinEvent {
    /// `evt_` id.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was committed.
    pub created_at: DateTime<Utc>,
    /// Position among this ticket's events.
    pub sequence: i64,
    /// The ticket to fetch.
    pub data: ThinEventData,
}

/// The body of a [`ThinEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThinEventData {
    /// The ticket the event is about.
    pub ticket_id: TicketId,
}

/// Whether an endpoint subscribed to `filter` receives events of `event_type`.
pub fn filter_matches(filter: &[String], event_type: &str) -> bool {
    filter
        .iter()
        .any(|f| f == event_type || (f == ALL_TICKET_EVENTS && event_type.starts_with("ticket.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_exact_types_and_the_wildcard() {
        let exact = vec!["ticket.status_changed".to_owned()];
        assert!(filter_matches(&exact, "ticket.status_changed"));
        assert!(!filter_matches(&exact, "ticket.created"));
        let all = vec![ALL_TICKET_EVENTS.to_owned()];
        assert!(filter_matches(&all, "ticket.created"));
        assert!(!filter_matches(&all, "agent.created"));
    }

    #[test]
    fn commands_are_tagged_with_their_name() {
        let command = WebhookCommand::Redeliver {
            id: DeliveryId::generate(),
            actor: Actor {
                kind: crate::ActorKind::ApiKey,
                id: "k".into(),
                key_id: None,
            },
        };
        let json = serde_json::to_value(&command).unwrap_or_default();
        assert_eq!(json["type"], command.name());
    }
}
