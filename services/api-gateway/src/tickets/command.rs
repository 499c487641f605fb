//! Running one ticket command for a request: under its idempotency key, answered with
//! the owner's reply, or 202 + `Location` while the owner has not answered yet.

use actix_web::HttpResponse;
use loopdesk_contracts::{
    Actor, ActorKind,
    commands::{TicketCommand, TicketReply},
    ids::TicketId,
};
use loopdesk_web::Problem;
use serde::Deserialize;

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    writes::{accepted, send_command},
};

/// Sends the command built by `build` (given the resource id the idempotency record
/// holds: `proposed_id` on a first attempt) and renders the reply with `render`; on a
/// timeout answers 202 pointing at `location(resource id)`.
pub async fn run(
    state: &GatewayState,
    caller: &Caller,
    keyed: &KeyedRequest,
    proposed_id: String,
    build: impl FnOnce(&str) -> Result<TicketCommand, Problem>,
    render: impl FnOnce(TicketReply) -> Answer,
    location: impl FnOnce(&str) -> String,
) -> Result<HttpResponse, Problem> {
    send_command(
        state,
        caller,
        keyed,
        proposed_id,
        build,
        |sent, id| match sent {
            Sent::Answered(reply) => render(reply),
            Sent::Queued => accepted(
                id,
                "the change is queued and will be applied; GET the Location to see it",
                Some(location(id)),
            ),
        },
    )
    .await
}

/// A reply that is not the expected kind: the owner broke the contract.
pub fn unexpected(reply: &TicketReply) -> Answer {
    tracing::error!(?reply, "unexpected reply from the ticket service");
    Answer::problem(&Problem::internal())
}

/// A path id naming a ticket; a malformed one names nothing (404).
pub fn ticket_id(raw: &str) -> Result<TicketId, Problem> {
    raw.parse().map_err(|_| Problem::not_found("ticket"))
}

/// The person a request says acts, as sent in `actor` or `author`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    /// `agent` or `customer`.
    #[serde(rename = "type")]
    pub kind: PersonKind,
    /// The integrator's id of the person.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
}

/// Who a person is to the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PersonKind {
    /// Support.
    Agent,
    /// The requester.
    Customer,
}

/// `person` acting through the caller's key.
pub fn actor_of(caller: &Caller, kind: PersonKind, id: &str) -> Actor {
    Actor {
        kind: match kind {
            PersonKind::Agent => ActorKind::Agent,
            PersonKind::Customer => ActorKind::Customer,
        },
        id: id.to_owned(),
        key_id: caller.actor().key_id,
    }
}
