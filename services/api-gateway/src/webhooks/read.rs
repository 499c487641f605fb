//! Reading endpoints, deliveries and attempts, answered by webhook-fanout.

use actix_web::{HttpResponse, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    FieldError,
    ids::{DeliveryId, WebhookEndpointId},
};
use loopdesk_web::Problem;
use serde::{Deserialize, Serialize};

use crate::{caller::Caller, state::GatewayState};

/// Query parameters of the endpoint and delivery listings.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

impl ListParams {
    fn checked(self, with_status: bool) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        if self.limit.is_some_and(|l| !(1..=100).contains(&l)) {
            errors.push(FieldError::new("limit", "must be between 1 and 100"));
        }
        match self.status.as_deref() {
            None | Some("pending" | "succeeded" | "dead") if with_status => {}
            None => {}
            Some(_) if with_status => errors.push(FieldError::new(
                "status",
                "must be pending, succeeded or dead",
            )),
            Some(_) => errors.push(FieldError::new("status", "is not a filter of this list")),
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(Problem::validation(errors))
        }
    }
}

/// `GET /v1/webhook_endpoints`.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks",
    params(ListParams),
    responses(
        (status = 200, description = "One page of endpoints.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::webhooks::WebhookEndpoint>),
        (status = 422, description = "A parameter is invalid."),
    )
)]
pub async fn list_endpoints(
    caller: Caller,
    state: web::Data<GatewayState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let params = params.into_inner().checked(false)?;
    state
        .webhooks
        .get(&caller.scope(), "/internal/v1/webhook_endpoints", &params)
        .await
}

/// `GET /v1/webhook_endpoints/{id}`.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}", operation_id = "get_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id.")),
    responses(
        (status = 200, description = "The endpoint (never its secret).", body = loopdesk_contracts::webhooks::WebhookEndpoint),
        (status = 404, description = "No such endpoint."),
    )
)]
pub async fn get_endpoint(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let path = format!("/internal/v1/webhook_endpoints/{id}");
    state.webhooks.relay(&caller, &path).await
}

/// `GET /v1/webhook_endpoints/{id}/deliveries?status=&limit=&cursor=`.
#[utoipa::path(
    get, path = "/v1/webhook_endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id."), ListParams),
    responses(
        (status = 200, description = "One page of the endpoint's deliveries.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::webhooks::Delivery>),
        (status = 404, description = "No such endpoint."),
        (status = 422, description = "A parameter is invalid."),
    )
)]
pub async fn list_deliveries(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let params = params.into_inner().checked(true)?;
    state
        .webhooks
        .get(
            &caller.scope(),
            &format!("/internal/v1/webhook_endpoints/{id}/deliveries"),
            &params,
        )
        .await
}

/// `GET /v1/deliveries/{id}/attempts`.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}/attempts", operation_id = "list_webhook_delivery_attempts", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery. A `dlv_` id.")),
    responses(
        (status = 200, description = "Every attempt of the delivery.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::webhooks::DeliveryAttempt>),
        (status = 404, description = "No such delivery."),
    )
)]
pub async fn list_attempts(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = delivery_id(&id)?;
    let path = format!("/internal/v1/deliveries/{id}/attempts");
    state.webhooks.relay(&caller, &path).await
}

/// A path id naming an endpoint; a malformed one names nothing (404).
pub fn endpoint_id(raw: &str) -> Result<WebhookEndpointId, Problem> {
    raw.parse()
        .map_err(|_| Problem::not_found("webhook endpoint"))
}

/// A path id naming a delivery; a malformed one names nothing (404).
pub fn delivery_id(raw: &str) -> Result<DeliveryId, Problem> {
    raw.parse().map_err(|_| Problem::not_found("delivery"))
}
