//! `PATCH /v1/tickets/{id}` (guarded by `If-Match`) and `DELETE /v1/tickets/{id}` (soft).

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use chrono::{DateTime, Utc};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    commands::{DeleteTicket, TicketChanges, TicketCommand, TicketReply, UpdateTicket},
    tickets::Priority,
};
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Deserializer};

use crate::{
    caller::Caller,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{
        command::{self, ticket_id},
        create::location,
        fields::{Checks, SUBJECT_MAX},
    },
};

/// `PATCH /v1/tickets/{id}` body: only the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    subject: Option<String>,
    priority: Option<Priority>,
    queue: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    due_at: Option<Option<DateTime<Utc>>>,
}

/// Tells a `null` member (clear it) from an absent one (leave it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// The version named by `If-Match`: `"3"`, `W/"3"` or `3`. Absent: 428; unparsable: it
/// matches no version, so 412.
fn expected_version(req: &HttpRequest) -> Result<i64, Problem> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "Precondition required",
                "send `If-Match` with the ETag of the ticket you read, so a concurrent change is not overwritten",
            )
        })?
        .to_str()
        .unwrap_or("");
    value
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map_err(|_| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "Precondition failed",
                format!("`If-Match: {value}` names no version of this ticket"),
            )
        })
}

/// `PATCH /v1/tickets/{id}`.
#[utoipa::path(
    patch, path = "/v1/tickets/{id}", operation_id = "update_ticket", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), crate::docs::IfMatch, crate::docs::IdempotencyKey),
    request_body = PatchRequest,
    responses(
        (status = 200, description = "The ticket as changed.", body = loopdesk_contracts::tickets::Ticket),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such ticket."),
        (status = 409, description = "`ticket_closed`: a closed ticket does not change."),
        (status = 412, description = "`If-Match` names another version."),
        (status = 422, description = "`validation_failed`."),
        (status = 428, description = "`If-Match` is missing."),
    )
)]
pub async fn update_ticket(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: JsonBody<PatchRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let ticket = ticket_id(&id)?;
    let expected = expected_version(&req)?;
    // The precondition is part of what is asked: same key, other If-Match is another request.
    let fingerprinted = serde_json::to_vec(&serde_json::json!({
        "if_match": expected,
        "body": serde_json::from_slice::<serde_json::Value>(&body.raw).unwrap_or_default(),
    }))
    .map_err(|_| Problem::internal())?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &fingerprinted)?;
    let changes = validate(body.value).map_err(Problem::validation)?;
    let actor = caller.actor();
    command::run(
        &state,
        &caller,
        &keyed,
        ticket.to_string(),
        |_| {
            Ok(TicketCommand::Update(UpdateTicket {
                ticket_id: ticket,
                expected_version: expected,
                changes,
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

fn validate(input: PatchRequest) -> Result<TicketChanges, Vec<loopdesk_contracts::FieldError>> {
    let mut checks = Checks::default();
    let subject = input
        .subject
        .map(|s| checks.line("subject", Some(&s), SUBJECT_MAX));
    let queue = input.queue.map(|q| checks.label("queue", &q));
    let tags = input.tags.map(|t| checks.tags("tags", Some(&t)));
    let assignee = input
        .assignee
        .map(|a| a.map(|a| checks.line("assignee", Some(&a), 255)));
    checks.finish(TicketChanges {
        subject,
        priority: input.priority,
        queue,
        tags,
        assignee,
        due_at: input.due_at,
    })
}

/// `DELETE /v1/tickets/{id}`: a soft delete; reads answer 404 afterwards.
#[utoipa::path(
    delete, path = "/v1/tickets/{id}", operation_id = "delete_ticket", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 200, description = "Deleted (soft).", body = crate::docs::Deleted),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such ticket."),
    )
)]
pub async fn delete_ticket(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let ticket = ticket_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), b"")?;
    let actor = caller.actor();
    command::run(
        &state,
        &caller,
        &keyed,
        ticket.to_string(),
        |_| {
            Ok(TicketCommand::Delete(DeleteTicket {
                ticket_id: ticket,
                actor,
            }))
        },
        |reply| match reply {
            TicketReply::Ticket { ticket } => Answer::json(
                StatusCode::OK,
                &serde_json::json!({"id": ticket.id, "deleted": true}),
                None,
            ),
            other => command::unexpected(&other),
        },
        location,
    )
    .await
}
