//! Endpoint and delivery writes: each runs under its Idempotency-Key, goes to
//! webhook-fanout as a command, and answers with its reply (or 202 while it is still
//! queued). Refusals by webhook-fanout are recorded, so they replay.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    ids::WebhookEndpointId,
    webhooks::{
        EndpointPatch, NewEndpoint, PayloadStyle, WebhookCommand, WebhookEndpoint, WebhookReply,
    },
};
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    webhooks::read::{delivery_id, endpoint_id},
    writes::{accepted, send_command},
};

/// `POST /v1/webhook_endpoints` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    url: String,
    event_types: Vec<String>,
    #[serde(default)]
    payload_style: PayloadStyle,
    description: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    enabled: Option<bool>,
}

/// `PATCH /v1/webhook_endpoints/{id}` body: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    payload_style: Option<PayloadStyle>,
    headers: Option<BTreeMap<String, String>>,
    enabled: Option<bool>,
}

/// `POST /v1/webhook_endpoints/{id}/recover` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// An endpoint with its secret, shown once.
#[derive(Serialize, utoipa::ToSchema)]
struct EndpointWithSecret<'a> {
    #[serde(flatten)]
    endpoint: &'a WebhookEndpoint,
    /// `whsec_...` on the first answer; `null` when replayed.
    secret: Option<&'a str>,
}

/// The public path of an endpoint.
pub fn location(id: &str) -> String {
    format!("/v1/webhook_endpoints/{id}")
}

/// `POST /v1/webhook_endpoints`.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    params(crate::docs::IdempotencyKey),
    request_body = CreateEndpointRequest,
    responses(
        (status = 201, description = "The endpoint with its `secret`, shown this once (`null` on a replay).", body = EndpointWithSecret, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: will be created once.", body = crate::docs::Accepted, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 422, description = "`validation_failed` (e.g. a URL that is not public)."),
    )
)]
pub async fn create_endpoint(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    body: JsonBody<CreateEndpointRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        WebhookEndpointId::generate().to_string(),
        |id| {
            Ok(WebhookCommand::Create {
                endpoint: NewEndpoint {
                    id: id.parse().map_err(|_| Problem::internal())?,
                    url: request.url,
                    description: request.description,
                    event_types: request.event_types,
                    payload_style: request.payload_style,
                    headers: request.headers,
                    enabled: request.enabled.unwrap_or(true),
                },
                actor,
            })
        },
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Endpoint { endpoint, secret }) => showing_secret(
                StatusCode::CREATED,
                &endpoint,
                secret.as_deref(),
                Some(location(id)),
            ),
            _ => accepted(
                id,
                "the endpoint is being created; GET the Location to read it (rotate its secret to get one)",
                Some(location(id)),
            ),
        },
    )
    .await
}

/// `PATCH /v1/webhook_endpoints/{id}`.
#[utoipa::path(
    patch, path = "/v1/webhook_endpoints/{id}", operation_id = "update_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id."), crate::docs::IdempotencyKey),
    request_body = UpdateEndpointRequest,
    responses(
        (status = 200, description = "The endpoint as changed.", body = loopdesk_contracts::webhooks::WebhookEndpoint),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::Accepted),
        (status = 404, description = "No such endpoint."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn update_endpoint(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: JsonBody<UpdateEndpointRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value;
    let patch = EndpointPatch {
        url: request.url,
        description: request.description,
        event_types: request.event_types,
        payload_style: request.payload_style,
        headers: request.headers,
        enabled: request.enabled,
    };
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        id.to_string(),
        |_| Ok(WebhookCommand::Update { id, patch, actor }),
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Endpoint { endpoint, .. }) => {
                Answer::json(StatusCode::OK, &endpoint, None)
            }
            _ => accepted(id, "the change is queued", Some(location(id))),
        },
    )
    .await
}

/// `DELETE /v1/webhook_endpoints/{id}`.
#[utoipa::path(
    delete, path = "/v1/webhook_endpoints/{id}", operation_id = "delete_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 200, description = "Deleted.", body = crate::docs::Deleted),
        (status = 202, description = "Accepted: will be deleted once.", body = crate::docs::Accepted),
        (status = 404, description = "No such endpoint."),
    )
)]
pub async fn delete_endpoint(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        id.to_string(),
        |_| Ok(WebhookCommand::Delete { id, actor }),
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Deleted { .. }) => Answer::json(
                StatusCode::OK,
                &serde_json::json!({"id": id, "deleted": true}),
                None,
            ),
            _ => accepted(id, "the deletion is queued", None),
        },
    )
    .await
}

/// `POST /v1/webhook_endpoints/{id}/rotate_secret`.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}/rotate_secret", operation_id = "rotate_webhook_endpoint_secret", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 200, description = "The endpoint with its new `secret`, shown this once; the old one keeps verifying during the grace period.", body = EndpointWithSecret),
        (status = 202, description = "Accepted: will be rotated once.", body = crate::docs::Accepted),
        (status = 404, description = "No such endpoint."),
    )
)]
pub async fn rotate_secret(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        id.to_string(),
        |_| Ok(WebhookCommand::RotateSecret { id, actor }),
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Endpoint { endpoint, secret }) => {
                showing_secret(StatusCode::OK, &endpoint, secret.as_deref(), None)
            }
            _ => accepted(
                id,
                "the rotation is queued; its secret cannot be shown, rotate again to get one",
                Some(location(id)),
            ),
        },
    )
    .await
}

/// `POST /v1/webhook_endpoints/{id}/recover`: re-sends every dead delivery of the
/// endpoint created in `[since, until)`.
#[utoipa::path(
    post, path = "/v1/webhook_endpoints/{id}/recover", operation_id = "recover_webhook_endpoint", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint. A `whe_` id."), crate::docs::IdempotencyKey),
    request_body = RecoverRequest,
    responses(
        (status = 202, description = "The failed deliveries in the window are sent again.", body = crate::docs::Recovering),
        (status = 404, description = "No such endpoint."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn recover(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: JsonBody<RecoverRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = endpoint_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let RecoverRequest { since, until } = body.value;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        id.to_string(),
        |_| {
            Ok(WebhookCommand::Recover {
                id,
                since,
                until,
                actor,
            })
        },
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Recovering { deliveries, .. }) => Answer::json(
                StatusCode::ACCEPTED,
                &serde_json::json!({"endpoint_id": id, "deliveries": deliveries}),
                None,
            ),
            _ => accepted(id, "the recovery is queued", None),
        },
    )
    .await
}

/// `POST /v1/deliveries/{id}/redeliver`.
#[utoipa::path(
    post, path = "/v1/deliveries/{id}/redeliver", operation_id = "redeliver_webhook_delivery", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery. A `dlv_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 202, description = "The delivery is scheduled again.", body = loopdesk_contracts::webhooks::Delivery),
        (status = 404, description = "No such delivery."),
    )
)]
pub async fn redeliver(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::WebhooksAdmin)?;
    let id = delivery_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        id.to_string(),
        |_| Ok(WebhookCommand::Redeliver { id, actor }),
        |reply, id| match reply {
            Sent::Answered(WebhookReply::Delivery { delivery }) => {
                Answer::json(StatusCode::ACCEPTED, &delivery, None)
            }
            _ => accepted(id, "the redelivery is queued", None),
        },
    )
    .await
}

fn showing_secret(
    status: StatusCode,
    endpoint: &WebhookEndpoint,
    secret: Option<&str>,
    location: Option<String>,
) -> Answer {
    // The recorded answer (for replays) never holds the secret.
    let recorded = Answer::json(
        status,
        &EndpointWithSecret {
            endpoint,
            secret: None,
        },
        location,
    );
    match secret {
        Some(secret) => {
            let shown = serde_json::to_string(&EndpointWithSecret {
                endpoint,
                secret: Some(secret),
            })
            .unwrap_or_default();
            recorded.showing_once(shown)
        }
        None => recorded,
    }
}
