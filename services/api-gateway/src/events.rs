//! `GET /v1/events?after=&type=&limit=`: recent events, oldest first, so a subscriber
//! that was down can reconcile on its own. Answered by webhook-fanout, which keeps
//! events for its configured retention.

use actix_web::{HttpResponse, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    FieldError,
    webhooks::{ALL_TICKET_EVENTS, TICKET_EVENT_TYPES},
};
use loopdesk_web::Problem;
use serde::{Deserialize, Serialize};

use crate::{caller::Caller, state::GatewayState};

/// Query parameters.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u16>,
}

/// `GET /v1/events`.
#[utoipa::path(
    get, path = "/v1/events", operation_id = "list_events", tag = "events",
    params(EventParams),
    responses(
        (status = 200, description = "Published events, oldest first after `after`.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::events::TicketEvent>),
        (status = 422, description = "A parameter is invalid."),
    )
)]
pub async fn list_events(
    caller: Caller,
    state: web::Data<GatewayState>,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let params = params.into_inner();
    let mut errors = Vec::new();
    if params.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        errors.push(FieldError::new("limit", "must be between 1 and 100"));
    }
    if let Some(kind) = &params.kind
        && kind != ALL_TICKET_EVENTS
        && !TICKET_EVENT_TYPES.contains(&kind.as_str())
    {
        errors.push(FieldError::new(
            "type",
            format!("`{kind}` is not an event type"),
        ));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    state
        .webhooks
        .get(&caller.scope(), "/internal/v1/events", &params)
        .await
}
