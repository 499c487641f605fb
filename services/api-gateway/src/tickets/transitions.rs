//! `POST /v1/tickets/{id}/transitions` (a guarded status move with actor and reason) and
//! `GET /v1/tickets/{id}/history`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    commands::{TicketCommand, TicketReply, TransitionTicket},
    tickets::Status,
};
use loopdesk_web::{JsonBody, Problem};
use serde::Deserialize;

use crate::{
    caller::Caller,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{
        command::{self, PersonInput, actor_of, ticket_id},
        create::location,
        fields::Checks,
    },
};

const REASON_MAX: usize = 1000;

/// `POST /v1/tickets/{id}/transitions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The status wanted.
    to: Status,
    /// Why.
    reason: Option<String>,
    /// Who acts, when not the API key itself (e.g. the customer confirming a solution).
    actor: Option<PersonInput>,
}

/// `POST /v1/tickets/{id}/transitions`.
#[utoipa::path(
    post, path = "/v1/tickets/{id}/transitions", operation_id = "transition_ticket", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), crate::docs::IdempotencyKey),
    request_body = TransitionRequest,
    responses(
        (status = 200, description = "The ticket in its new status.", body = loopdesk_contracts::tickets::Ticket),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such ticket."),
        (status = 409, description = "`illegal_transition` (naming from and to) or `ticket_closed`."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn transition(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: JsonBody<TransitionRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let ticket = ticket_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let input = body.value;
    let mut checks = Checks::default();
    let reason = input
        .reason
        .map(|r| checks.text("reason", Some(r.trim()), REASON_MAX))
        .filter(|r| !r.is_empty());
    let actor = match &input.actor {
        Some(person) => {
            let id = checks.line("actor.id", Some(&person.id), 255);
            actor_of(&caller, person.kind, &id)
        }
        None => caller.actor(),
    };
    checks.finish(()).map_err(Problem::validation)?;
    let to = input.to;
    command::run(
        &state,
        &caller,
        &keyed,
        ticket.to_string(),
        |_| {
            Ok(TicketCommand::Transition(TransitionTicket {
                ticket_id: ticket,
                to,
                reason,
                actor,
            }))
        },
        |reply| match reply {
            TicketReply::Ticket { ticket } => Answer::json(StatusCode::OK, &ticket, None),
            other => command::unexpected(&other),
        },
        location,
    )
    .await
}

/// `GET /v1/tickets/{id}/history`: every status change, oldest first.
#[utoipa::path(
    get, path = "/v1/tickets/{id}/history", operation_id = "get_ticket_history", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id.")),
    responses(
        (status = 200, description = "Every status change, oldest first.", body = crate::docs::List<loopdesk_contracts::responses::StatusChange>),
        (status = 404, description = "No such ticket."),
    )
)]
pub async fn history(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let ticket = ticket_id(&id)?;
    let path = format!("/internal/v1/tickets/{ticket}/history");
    state.tickets.relay(&caller, &path).await
}
