//! Reading the library and the ticket panel, answered by the intervention service.

use actix_web::{HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{FieldError, ids::TicketId};
use loopdesk_web::Problem;
use serde::{Deserialize, Serialize};

use crate::{caller::Caller, interventions::definition_name, state::GatewayState};

/// Query parameters of the library listing.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

/// `GET /v1/interventions`: by name, cursor-paginated.
#[utoipa::path(
    get, path = "/v1/interventions", operation_id = "list_interventions", tag = "interventions",
    params(ListParams),
    responses(
        (status = 200, description = "One page of definitions, by name.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::interventions::Intervention>),
        (status = 422, description = "A parameter is invalid."),
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<GatewayState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    if params.limit.is_some_and(|l| !(1..=100).contains(&l)) {
        return Err(Problem::validation(vec![FieldError::new(
            "limit",
            "must be between 1 and 100",
        )]));
    }
    state
        .interventions
        .get(&caller.scope(), "/internal/v1/interventions", &*params)
        .await
}

/// `GET /v1/interventions/{name}`.
#[utoipa::path(
    get, path = "/v1/interventions/{name}", operation_id = "get_intervention", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name.")),
    responses(
        (status = 200, description = "The definition (the remote token only as `remote_bearer_token_set`).", body = loopdesk_contracts::interventions::Intervention, headers(("ETag" = String, description = "The version, for `If-Match`."))),
        (status = 404, description = "No such definition."),
    )
)]
pub async fn get(
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?;
    let path = format!("/internal/v1/interventions/{name}");
    state.interventions.relay(&caller, &path).await
}

/// `GET /v1/interventions/{name}/templates`: the sources of the templates that exist.
#[utoipa::path(
    get, path = "/v1/interventions/{name}/templates", operation_id = "list_intervention_templates", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name.")),
    responses(
        (status = 200, description = "The definition's templates.", body = crate::docs::List<loopdesk_contracts::interventions::Template>),
        (status = 404, description = "No such definition."),
    )
)]
pub async fn templates(
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?;
    let path = format!("/internal/v1/interventions/{name}/templates");
    state.interventions.relay(&caller, &path).await
}

/// `GET /v1/tickets/{id}/interventions`: the panel of a ticket the caller can see.
#[utoipa::path(
    get, path = "/v1/tickets/{id}/interventions", operation_id = "get_ticket_intervention_panel", tag = "interventions",
    params(("id" = String, Path, description = "The ticket. A `tkt_` id.")),
    responses(
        (status = 200, description = "The ticket's intervention panel.", body = crate::docs::List<loopdesk_contracts::interventions::PanelItem>),
        (status = 404, description = "No such ticket."),
    )
)]
pub async fn panel(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let id: TicketId = id.parse().map_err(|_| Problem::not_found("ticket"))?;
    // The ticket service decides visibility: another tenant's or a deleted ticket is 404.
    let ticket = state
        .tickets
        .relay(&caller, &format!("/internal/v1/tickets/{id}"))
        .await?;
    if ticket.status() != StatusCode::OK {
        return Ok(ticket);
    }
    let path = format!("/internal/v1/tickets/{id}/interventions");
    state.interventions.relay(&caller, &path).await
}
