//! `POST /v1/tickets`: validate, claim the idempotency key, send `ticket.create`, and
//! answer 201 with the ticket or 202 while the ticket service is still on it.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    commands::{CreateTicket, TicketCommand, TicketReply},
    tickets::NewTicket,
};
use loopdesk_web::{JsonBody, Problem};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{command, fields::CreateTicketRequest},
    writes::{accepted, send_command},
};

/// How creating a ticket ended.
pub enum Creation {
    /// The ticket service created (or had created) it.
    Created(Box<loopdesk_contracts::tickets::Ticket>),
    /// Queued, not yet answered.
    Queued(String),
}

/// The public path of a ticket.
pub fn location(id: &str) -> String {
    format!("/v1/tickets/{id}")
}

/// `POST /v1/tickets`.
#[utoipa::path(
    post, path = "/v1/tickets", operation_id = "create_ticket", tag = "tickets",
    params(crate::docs::IdempotencyKey),
    request_body = crate::tickets::fields::CreateTicketRequest,
    responses(
        (status = 201, description = "Created.", body = loopdesk_contracts::tickets::Ticket, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: the ticket service has not answered yet; the ticket will be created once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 409, description = "`follow_up_of` names a ticket that cannot be followed up."),
        (status = 422, description = "`validation_failed`, naming every offending field."),
    )
)]
pub async fn create_ticket(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    body: JsonBody<CreateTicketRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require_any(&[Ability::CreateTicket, Ability::TicketsWrite])?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let body = body.value;
    if crate::interventions::create::is_intervention(&body) {
        use crate::interventions::create::{InterventionRequest, render_v1, run};
        let request = InterventionRequest::from_request(body).map_err(Problem::validation)?;
        return run(&state, &caller, &keyed, request, render_v1).await;
    }
    let new_ticket = body.into_new_ticket().map_err(Problem::validation)?;
    run_create(
        &state,
        &caller,
        &keyed,
        new_ticket,
        |creation| match creation {
            Creation::Created(ticket) => {
                let location = location(&ticket.id.to_string());
                Answer::json(StatusCode::CREATED, &ticket, Some(location))
            }
            Creation::Queued(id) => accepted(
                &id,
                "the ticket is being created; GET the Location to read it",
                Some(location(&id)),
            ),
        },
    )
    .await
}

/// Runs a create under the request's idempotency key and renders the outcome with
/// `render` (the v1 and the compatibility routes answer in different shapes); a refusal
/// is answered as a problem.
pub async fn run_create(
    state: &GatewayState,
    caller: &Caller,
    keyed: &KeyedRequest,
    mut ticket: NewTicket,
    render: impl FnOnce(Creation) -> Answer,
) -> Result<HttpResponse, Problem> {
    let actor = caller.actor();
    send_command(
        state,
        caller,
        keyed,
        ticket.id.to_string(),
        |id| {
            // A takeover of a stalled attempt reuses that attempt's ticket id.
            ticket.id = id.parse().map_err(|_| Problem::internal())?;
            Ok(TicketCommand::Create(CreateTicket {
                ticket,
                actor,
                initial_responses: Vec::new(),
            }))
        },
        |sent, id| match sent {
            Sent::Answered(TicketReply::Ticket { ticket }) => render(Creation::Created(ticket)),
            Sent::Answered(other) => command::unexpected(&other),
            Sent::Queued => render(Creation::Queued(id.to_owned())),
        },
    )
    .await
}
