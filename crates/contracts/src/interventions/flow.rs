//! The intervention flow on tickets (seed §5.2–5.5): creating a ticket for a remote's
//! `uid`, staff submitting a payload, and what the intervention service answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::{InterventionPayloadId, ResponseId, TicketId},
    tickets::Requester,
};

/// `intervention.create`: open (or refresh) the intervention `uid` on a ticket, creating
/// the ticket when the `uid` is new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInterventionTicket {
    /// Id for a new ticket (from the idempotency claim, stable across retries); also the
    /// follow-up's id when the `uid`'s ticket is closed.
    pub ticket_id: TicketId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// The data bag, as the remote sent it (a JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// Who the ticket is for.
    pub requester: Requester,
    /// The new ticket's subject; the definition's title when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// Who asked.
    pub actor: Actor,
}

/// A staff response posted with a submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmittedResponse {
    /// The text.
    pub body: String,
    /// A public reply when true, a private note otherwise.
    #[serde(default)]
    pub public: bool,
}

/// `intervention.submit`: staff act on a payload; its data bag is replaced, the staff
/// response posted and the epilog requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitIntervention {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The payload.
    pub payload_id: InterventionPayloadId,
    /// What staff chose (`submit`, `accept`, ...), 1..=64 characters.
    pub action: String,
    /// The edited data bag.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// The response to post; without one a private note records the submission.
    #[serde(default)]
    pub response: Option<SubmittedResponse>,
    /// Id of the initiating response (assigned by the gateway).
    pub response_id: ResponseId,
    /// Who submitted.
    pub actor: Actor,
}

/// Which templates a create rendered (the guide's "used_intervention flags").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsedIntervention {
    /// `{name}.private` was posted (always, it is required).
    pub private: bool,
    /// `{name}.public` exists and was posted.
    pub public: bool,
    /// `{name}.final` exists (posted on completion).
    #[serde(rename = "final")]
    pub final_template: bool,
}

/// What an `intervention.create` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterventionCreated {
    /// The ticket the payload is on.
    pub ticket_id: TicketId,
    /// The open payload.
    pub payload_id: InterventionPayloadId,
    /// A new ticket was created (a new `uid`, or a follow-up of a closed ticket).
    pub created_ticket: bool,
    /// The solved ticket was reopened.
    pub reopened: bool,
    /// The closed ticket the new one follows up on.
    #[serde(default)]
    pub follow_up_of: Option<TicketId>,
    /// Which templates were used.
    pub used_intervention: UsedIntervention,
}
