//! Running one ticket command for a request: under its idempotency key, answered with
//! the owner's reply, or 202 + `Location` while the owner has not answered yet.

use actix_web::{HttpResponse, http::StatusCode};
use loopdesk_contracts::{
    Actor, ActorKind,
    commands::{TicketCommand, TicketReply},
    ids::{MessageId, TicketId},
};
use loopdesk_web::Problem;
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::create::problem_answer,
};

/// Body of a 202: the change is queued and will be applied once.
#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    state: &'static str,
    detail: &'static str,
}

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
    let scope = caller.scope();
    state
        .idempotency
        .run(
            keyed,
            move || (proposed_id, MessageId::generate().to_string()),
            |claim| async move {
                let command = build(&claim.resource_id)?;
                let sent = state
                    .commands
                    .send(&scope, &claim.message_id, command.name(), &command)
                    .await?;
                Ok(match sent {
                    Sent::Answered(TicketReply::Rejected { error }) => {
                        problem_answer(&Problem::from(error))
                    }
                    Sent::Answered(reply) => render(reply),
                    Sent::Queued => {
                        let at = location(&claim.resource_id);
                        Answer::json(
                            StatusCode::ACCEPTED,
                            &Accepted {
                                id: &claim.resource_id,
                                state: "accepted",
                                detail: "the change is queued and will be applied; GET the Location to see it",
                            },
                            Some(at),
                        )
                    }
                })
            },
        )
        .await
}

/// A reply that is not the expected kind: the owner broke the contract.
pub fn unexpected(reply: &TicketReply) -> Answer {
    tracing::error!(?reply, "unexpected reply from the ticket service");
    problem_answer(&Problem::internal())
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
