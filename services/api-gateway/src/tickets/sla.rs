//! `PUT /v1/sla_policies/{priority}` and `GET /v1/sla_policies`: per-tenant service
//! levels by priority.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    commands::{SetSlaPolicy, TicketCommand, TicketReply},
    responses::SlaPolicy,
    tickets::Priority,
};
use loopdesk_web::{JsonBody, Problem};
use serde::Deserialize;

use crate::{
    caller::Caller,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{command, fields::Checks},
};

/// Longest target: a year.
const MINUTES_MAX: i32 = 525_600;

/// `PUT /v1/sla_policies/{priority}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    first_response_minutes: Option<i32>,
    resolution_minutes: Option<i32>,
}

fn location(priority: &str) -> String {
    format!("/v1/sla_policies/{priority}")
}

/// `PUT /v1/sla_policies/{priority}`.
#[utoipa::path(
    put, path = "/v1/sla_policies/{priority}", operation_id = "put_sla_policy", tag = "sla",
    params(("priority" = loopdesk_contracts::tickets::Priority, Path, description = "The priority the policy is for."), crate::docs::IdempotencyKey),
    request_body = PolicyRequest,
    responses(
        (status = 200, description = "The policy as set.", body = loopdesk_contracts::responses::SlaPolicy),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "Not a priority."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn put_policy(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    priority: web::Path<String>,
    body: JsonBody<PolicyRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let priority = Priority::parse(&priority).ok_or_else(|| Problem::not_found("priority"))?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let mut checks = Checks::default();
    let mut minutes = |field: &str, value: Option<i32>| match value {
        Some(m) if (1..=MINUTES_MAX).contains(&m) => m,
        Some(_) => {
            checks.fail(field, format!("must be between 1 and {MINUTES_MAX}"));
            0
        }
        None => {
            checks.fail(field, "is required");
            0
        }
    };
    let policy = SlaPolicy {
        priority,
        first_response_minutes: minutes("first_response_minutes", body.first_response_minutes),
        resolution_minutes: minutes("resolution_minutes", body.resolution_minutes),
    };
    let policy = checks.finish(policy).map_err(Problem::validation)?;
    let actor = caller.actor();
    command::run(
        &state,
        &caller,
        &keyed,
        priority.as_str().to_owned(),
        |_| Ok(TicketCommand::SetSlaPolicy(SetSlaPolicy { policy, actor })),
        |reply| match reply {
            TicketReply::SlaPolicy { policy } => Answer::json(StatusCode::OK, &policy, None),
            other => command::unexpected(&other),
        },
        |_| location(priority.as_str()),
    )
    .await
}

/// `GET /v1/sla_policies`.
#[utoipa::path(
    get, path = "/v1/sla_policies", operation_id = "list_sla_policies", tag = "sla",
    responses(
        (status = 200, description = "The tenant's SLA policies.", body = crate::docs::List<loopdesk_contracts::responses::SlaPolicy>),
    )
)]
pub async fn list_policies(
    caller: Caller,
    state: web::Data<GatewayState>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    state
        .tickets
        .relay(&caller, "/internal/v1/sla_policies")
        .await
}
