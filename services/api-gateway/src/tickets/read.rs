//! `GET /v1/tickets/{id}` and `GET /v1/tickets`, answered by the ticket service.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    FieldError,
    ids::TicketId,
    tickets::{Priority, Status, TicketQuery},
};
use loopdesk_web::Problem;
use serde::Deserialize;

use crate::{caller::Caller, state::GatewayState};

/// Default page size.
const DEFAULT_LIMIT: u16 = 20;

/// `GET /v1/tickets/{id}`.
#[utoipa::path(
    get, path = "/v1/tickets/{id}", operation_id = "get_ticket", tag = "tickets",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id.")),
    responses(
        (status = 200, description = "The ticket.", body = loopdesk_contracts::tickets::Ticket, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "No such ticket (or another tenant's)."),
    )
)]
pub async fn get_ticket(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    // A malformed id names nothing: the same 404 as an unknown one.
    let id: TicketId = id.parse().map_err(|_| Problem::not_found("ticket"))?;
    let path = format!("/internal/v1/tickets/{id}");
    state.tickets.relay(&caller, &path).await
}

/// Query parameters of `GET /v1/tickets`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<u16>,
    cursor: Option<String>,
    status: Option<Status>,
    priority: Option<Priority>,
    queue: Option<String>,
    requester: Option<String>,
    tag: Option<String>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    assignee: Option<String>,
    updated_after: Option<DateTime<Utc>>,
    sla_breached: Option<bool>,
    q: Option<String>,
}

/// `GET /v1/tickets`.
#[utoipa::path(
    get, path = "/v1/tickets", operation_id = "list_tickets", tag = "tickets",
    params(ListParams),
    responses(
        (status = 200, description = "One page, newest first.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::tickets::Ticket>),
        (status = 422, description = "A filter or `limit` is invalid."),
    )
)]
pub async fn list_tickets(
    caller: Caller,
    state: web::Data<GatewayState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=100).contains(&limit) {
        return Err(Problem::validation(vec![FieldError::new(
            "limit",
            "must be between 1 and 100",
        )]));
    }
    let query = TicketQuery {
        status: params.status,
        priority: params.priority,
        queue: params.queue,
        requester: params.requester.map(|r| r.trim().to_lowercase()),
        tag: params.tag.map(|t| t.trim().to_lowercase()),
        created_after: params.created_after,
        created_before: params.created_before,
        assignee: params.assignee,
        updated_after: params.updated_after,
        sla_breached: params.sla_breached,
        q: params.q.filter(|q| !q.trim().is_empty()),
        limit,
        cursor: params.cursor,
    };
    state
        .tickets
        .get(&caller.scope(), "/internal/v1/tickets", &query)
        .await
}
