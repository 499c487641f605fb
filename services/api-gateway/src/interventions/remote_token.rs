//! `POST /v1/interventions/{name}/remote_token` (seed §6 "Generate remote token"): a
//! new API key for the remote system, with ability `create-ticket` in the caller's
//! tenant and env, labelled with the definition's `remote_name`, shown once.

use actix_web::{HttpRequest, HttpResponse, body, http::StatusCode, web};
use chrono::{DateTime, TimeZone, Utc};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use loopdesk_auth::{Ability, MintRequest};
use loopdesk_contracts::{DomainError, ids::KeyId, interventions::Intervention};
use loopdesk_storage::Pool;
use loopdesk_web::Problem;
use serde::Serialize;

use crate::{
    caller::{Caller, Gatekeeper},
    idempotency::{Answer, KeyedRequest},
    interventions::definition_name,
    schema::api_keys,
    state::GatewayState,
};

/// How long a generated remote key lives.
const TTL_DAYS: i64 = 365;

#[derive(Serialize, utoipa::ToSchema)]
struct RemoteKey<'a> {
    id: &'a str,
    intervention: &'a str,
    sub: &'a str,
    abilities: &'a [String],
    label: &'a str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// The bearer key, shown once (replays show `null`).
    token: Option<&'a str>,
}

/// `POST /v1/interventions/{name}/remote_token`.
#[utoipa::path(
    post, path = "/v1/interventions/{name}/remote_token", operation_id = "generate_remote_token", tag = "interventions",
    params(("name" = String, Path, description = "The definition's name."), crate::docs::IdempotencyKey),
    responses(
        (status = 201, description = "A new `create-ticket` key for the remote; `token` is shown this once (`null` on a replay).", body = RemoteKey),
        (status = 404, description = "No such definition."),
    )
)]
pub async fn generate(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    gatekeeper: web::Data<Gatekeeper>,
    pool: web::Data<Pool>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::InterventionsAdmin)?;
    let name = definition_name(&name)?.to_owned();
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let scope = caller.scope();
    let state = &state;
    state
        .idempotency
        .run(
            &keyed,
            || (KeyId::generate().to_string(), String::new()),
            |_claim| async move {
                let definition = match definition(state, &scope, &name).await? {
                    Ok(definition) => definition,
                    Err(refusal) => return Ok(refusal),
                };
                let Some(remote_name) = definition.remote_name else {
                    let refusal = DomainError::new(
                        422,
                        "remote_name_missing",
                        "Remote name missing",
                        format!("set `remote_name` on `{name}` before generating its token"),
                    );
                    return Ok(Answer::problem(&refusal.into()));
                };
                let minted = gatekeeper
                    .keys
                    .mint(MintRequest {
                        sub: format!("remote:{remote_name}"),
                        tenant: scope.tenant.clone(),
                        env: scope.env,
                        abilities: vec![Ability::CreateTicket],
                        ttl: chrono::Duration::days(TTL_DAYS),
                        label: Some(remote_name.clone()),
                    })
                    .map_err(|e| {
                        tracing::error!(error = %e, "minting failed");
                        Problem::internal()
                    })?;
                let claims = &minted.claims;
                let id = claims.jti.to_string();
                let abilities: Vec<String> = claims
                    .abilities
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect();
                let created_at = timestamp(claims.iat);
                let expires_at = timestamp(claims.exp);
                let mut conn = pool.get().await.map_err(|_| db_unavailable())?;
                // Recorded like any key, so it is listed and can be revoked.
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::id.eq(&id),
                        api_keys::tenant.eq(scope.tenant.as_str()),
                        api_keys::env.eq(scope.env.as_str()),
                        api_keys::sub.eq(&claims.sub),
                        api_keys::abilities.eq(&abilities),
                        api_keys::label.eq(Some(&remote_name)),
                        api_keys::created_at.eq(created_at),
                        api_keys::expires_at.eq(expires_at),
                    ))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| {
                        if loopdesk_storage::is_unavailable(&e) {
                            db_unavailable()
                        } else {
                            tracing::error!(error = %e, "API key store failed");
                            Problem::internal()
                        }
                    })?;
                let key = |token| RemoteKey {
                    id: &id,
                    intervention: &name,
                    sub: &claims.sub,
                    abilities: &abilities,
                    label: &remote_name,
                    created_at,
                    expires_at,
                    token,
                };
                // The recorded answer (for replays) never holds the token.
                let recorded = Answer::json(StatusCode::CREATED, &key(None), None);
                let shown = serde_json::to_string(&key(Some(&minted.token))).unwrap_or_default();
                Ok(recorded.showing_once(shown))
            },
        )
        .await
}

/// The definition as the intervention service has it, or the recorded refusal (404).
async fn definition(
    state: &GatewayState,
    scope: &loopdesk_contracts::Scope,
    name: &str,
) -> Result<Result<Intervention, Answer>, Problem> {
    let response = state
        .interventions
        .get(scope, &format!("/internal/v1/interventions/{name}"), &())
        .await?;
    let status = response.status();
    let bytes = body::to_bytes(response.into_body())
        .await
        .map_err(|_| Problem::internal())?;
    if status == StatusCode::NOT_FOUND {
        return Ok(Err(Answer::problem(&Problem::not_found("intervention"))));
    }
    if !status.is_success() {
        tracing::warn!(%status, "unexpected answer reading an intervention");
        return Err(Problem::unavailable(
            "the intervention service is unavailable",
            2,
        ));
    }
    serde_json::from_slice(&bytes).map(Ok).map_err(|e| {
        tracing::error!(error = %e, "undecodable intervention");
        Problem::internal()
    })
}

fn timestamp(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_else(Utc::now)
}

fn db_unavailable() -> Problem {
    Problem::unavailable("the gateway's database is unavailable", 2)
}
