//! Library writes: each runs under its Idempotency-Key, goes to the intervention
//! service as a command, and answers with the definition as it now is (or 202 while the
//! command is still queued). Refusals are recorded, so they replay.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    ids::FieldId,
    interventions::{
        FieldPatch, FieldSpec, FieldType, InterventionCommand, InterventionPatch,
        InterventionReply, NewField, NewIntervention, RemoteToken, SealedRemoteToken, TemplateKind,
    },
};
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    interventions::{definition_name, location},
    state::GatewayState,
    writes::send_command,
};

/// `POST /v1/interventions/{name}/fields` body: a field and, optionally, where.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFieldRequest {
    #[serde(rename = "type")]
    kind: FieldType,
    name: Option<String>,
    label: Option<String>,
    width_px: Option<i32>,
    #[serde(default)]
    required: bool,
    ordinal: Option<i32>,
}

/// `POST /v1/interventions/{name}/fields/reorder` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderRequest {
    field_ids: Vec<FieldId>,
}

/// `PUT /v1/interventions/{name}/templates/{kind}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    body: String,
}

#[derive(Serialize)]
struct Accepted<'a> {
    name: &'a str,
    state: &'static str,
    detail: &'static str,
}

/// `POST /v1/interventions`.
#[utoipa::path(
    post, path = "/v1/interventions", operation_id = "create_intervention", tag = "interventions",
    params(crate::docs::IdempotencyKey),
    request_body = loopdesk_contracts::interventions::NewIntervention,
    responses(
        (status = 201, description = "The definition.", body = loopdesk_contracts::interventions::Intervention, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 409, description = "A definition of that name exists."),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    body: JsonBody<NewIntervention>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let definition = body.value;
    let name = definition.name.clone();
    let command = InterventionCommand::Define {
        definition: definition.seal_token(sealer(&state))?,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::CREATED, command).await
}

/// `PATCH /v1/interventions/{name}`: any subset of the settings; `remote_bearer_token:
/// null` clears the token.
#[utoipa::path(
    patch, path = "/v1/interventions/{name}", operation_id = "update_intervention", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), crate::docs::IdempotencyKey),
    request_body = loopdesk_contracts::interventions::InterventionPatch,
    responses(
        (status = 200, description = "The definition as changed.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn update(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
    body: JsonBody<InterventionPatch>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?.to_owned();
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let command = InterventionCommand::Update {
        name: name.clone(),
        patch: body.value.seal_token(sealer(&state))?,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `PUT /v1/interventions/{name}/fields`: the whole ordered list.
#[utoipa::path(
    put, path = "/v1/interventions/{name}/fields", operation_id = "replace_intervention_fields", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), crate::docs::IdempotencyKey),
    request_body = Vec<loopdesk_contracts::interventions::FieldSpec>,
    responses(
        (status = 200, description = "The definition with the new fields, in order.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn replace_fields(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
    body: JsonBody<Vec<FieldSpec>>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?.to_owned();
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let fields = body
        .value
        .into_iter()
        .map(|spec| NewField {
            id: FieldId::generate(),
            spec,
        })
        .collect();
    let command = InterventionCommand::ReplaceFields {
        name: name.clone(),
        fields,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `POST /v1/interventions/{name}/fields`: appends, or inserts at `ordinal`.
#[utoipa::path(
    post, path = "/v1/interventions/{name}/fields", operation_id = "add_intervention_field", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), crate::docs::IdempotencyKey),
    request_body = AddFieldRequest,
    responses(
        (status = 201, description = "The definition with the field added.", body = loopdesk_contracts::interventions::Intervention, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn add_field(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
    body: JsonBody<AddFieldRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?.to_owned();
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value;
    let command = InterventionCommand::AddField {
        name: name.clone(),
        field: NewField {
            id: FieldId::generate(),
            spec: FieldSpec {
                kind: request.kind,
                name: request.name,
                label: request.label,
                width_px: request.width_px,
                required: request.required,
            },
        },
        ordinal: request.ordinal,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::CREATED, command).await
}

/// `PATCH /v1/interventions/{name}/fields/{field_id}`.
#[utoipa::path(
    patch, path = "/v1/interventions/{name}/fields/{field_id}", operation_id = "update_intervention_field", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), ("field_id" = String, Path, description = "The field. A `fld_` id."), crate::docs::IdempotencyKey),
    request_body = loopdesk_contracts::interventions::FieldPatch,
    responses(
        (status = 200, description = "The definition with the field changed.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn update_field(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: JsonBody<FieldPatch>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let (name, field_id) = path.into_inner();
    let name = definition_name(&name)?.to_owned();
    let field_id = field_id_of(&field_id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let command = InterventionCommand::UpdateField {
        name: name.clone(),
        field_id,
        patch: body.value,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `DELETE /v1/interventions/{name}/fields/{field_id}`.
#[utoipa::path(
    delete, path = "/v1/interventions/{name}/fields/{field_id}", operation_id = "remove_intervention_field", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), ("field_id" = String, Path, description = "The field. A `fld_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 200, description = "The definition without the field.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn remove_field(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let (name, field_id) = path.into_inner();
    let name = definition_name(&name)?.to_owned();
    let field_id = field_id_of(&field_id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let command = InterventionCommand::RemoveField {
        name: name.clone(),
        field_id,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `POST /v1/interventions/{name}/fields/reorder`: every field id, in the new order.
#[utoipa::path(
    post, path = "/v1/interventions/{name}/fields/reorder", operation_id = "reorder_intervention_fields", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), crate::docs::IdempotencyKey),
    request_body = ReorderRequest,
    responses(
        (status = 200, description = "The definition with its fields reordered.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn reorder_fields(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    name: web::Path<String>,
    body: JsonBody<ReorderRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?.to_owned();
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let command = InterventionCommand::ReorderFields {
        name: name.clone(),
        field_ids: body.value.field_ids,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `PUT /v1/interventions/{name}/templates/{private|public|final}`.
#[utoipa::path(
    put, path = "/v1/interventions/{name}/templates/{kind}", operation_id = "put_intervention_template", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), ("kind" = loopdesk_contracts::interventions::TemplateKind, Path, description = "Which template."), crate::docs::IdempotencyKey),
    request_body = TemplateRequest,
    responses(
        (status = 200, description = "The definition with the template set.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn put_template(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: JsonBody<TemplateRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let (name, kind) = path.into_inner();
    let name = definition_name(&name)?.to_owned();
    let kind = template_kind(&kind)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let command = InterventionCommand::PutTemplate {
        name: name.clone(),
        kind,
        body: body.value.body,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// `DELETE /v1/interventions/{name}/templates/{public|final}` (private is required).
#[utoipa::path(
    delete, path = "/v1/interventions/{name}/templates/{kind}", operation_id = "delete_intervention_template", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), ("kind" = loopdesk_contracts::interventions::TemplateKind, Path, description = "Which template."), crate::docs::IdempotencyKey),
    responses(
        (status = 200, description = "The definition without the template.", body = loopdesk_contracts::interventions::Intervention),
        (status = 202, description = "Accepted: will be applied once.", body = crate::docs::AcceptedDefinition, headers(("Location" = String, description = "Where to read the resource."))),
        (status = 404, description = "No such definition."),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn delete_template(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let (name, kind) = path.into_inner();
    let name = definition_name(&name)?.to_owned();
    let kind = template_kind(&kind)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let command = InterventionCommand::DeleteTemplate {
        name: name.clone(),
        kind,
        actor: caller.actor(),
    };
    run(&state, &caller, &keyed, &name, StatusCode::OK, command).await
}

/// Seals the remote's bearer token for intervention-service before it goes into a
/// command: only that service's private key opens it, so the broker (its disk, its dead
/// letters, its frame logs) never holds the token in plaintext.
fn sealer(
    state: &GatewayState,
) -> impl FnOnce(RemoteToken) -> Result<SealedRemoteToken, Problem> + '_ {
    |token| {
        state
            .remote_token_key
            .seal(token.0.as_bytes())
            .map(SealedRemoteToken)
            .map_err(|e| {
                tracing::error!(error = %e, "could not seal a remote bearer token");
                Problem::internal()
            })
    }
}

fn field_id_of(raw: &str) -> Result<FieldId, Problem> {
    raw.parse().map_err(|_| Problem::not_found("field"))
}

fn template_kind(raw: &str) -> Result<TemplateKind, Problem> {
    TemplateKind::parse(raw).ok_or_else(|| Problem::not_found("template"))
}

/// Sends `command` under the request's key; the definition is the answer with `status`,
/// and a queued command is 202.
async fn run(
    state: &GatewayState,
    caller: &Caller,
    keyed: &KeyedRequest,
    name: &str,
    status: StatusCode,
    command: InterventionCommand,
) -> Result<HttpResponse, Problem> {
    let created = status == StatusCode::CREATED;
    send_command(
        state,
        caller,
        keyed,
        name.to_owned(),
        |_| Ok(command),
        |sent, name| match sent {
            Sent::Answered(InterventionReply::Intervention { intervention }) => {
                let at = created.then(|| location(&intervention.name));
                Answer::json(status, &intervention, at)
            }
            // Queued (no other reply answers these commands).
            _ => Answer::json(
                StatusCode::ACCEPTED,
                &Accepted {
                    name,
                    state: "accepted",
                    detail: "the change is queued; GET the Location to see it applied",
                },
                Some(location(name)),
            ),
        },
    )
    .await
}
