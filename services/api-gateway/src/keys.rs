//! `/v1/api_keys`: minting keys for the caller's own tenant and env (shown once),
//! listing them, and revoking any key of the tenant. Revocations reach every gateway
//! instance through the database within `auth.revocation_refresh_ms`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_auth::{Ability, KeyRing, MintRequest, RevocationList};
use loopdesk_contracts::{FieldError, ids::KeyId};
use loopdesk_storage::Pool;
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{
    caller::{Caller, Gatekeeper},
    idempotency::{Answer, KeyedRequest},
    schema::api_keys,
    state::GatewayState,
};

const MAX_TTL_DAYS: i64 = 3650;
const DEFAULT_TTL_DAYS: i64 = 365;

/// `POST /v1/api_keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    #[schema(value_type = Vec<String>, example = json!(["tickets:read", "tickets:write"]))]
    abilities: Vec<Ability>,
    label: Option<String>,
    sub: Option<String>,
    ttl_days: Option<i64>,
}

/// A key as listed: never the token.
#[derive(Debug, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct KeySummary {
    id: String,
    sub: String,
    abilities: Vec<String>,
    label: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedKey<'a> {
    #[serde(flatten)]
    key: &'a KeySummary,
    /// The bearer key, shown once (replays show `null`).
    token: Option<&'a str>,
}

/// `POST /v1/api_keys`.
#[utoipa::path(
    post, path = "/v1/api_keys", operation_id = "create_api_key", tag = "api_keys",
    params(crate::docs::IdempotencyKey),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "The key; `token` is shown this once (`null` on a replay).", body = CreatedKey),
        (status = 422, description = "`validation_failed` (e.g. an ability the caller does not hold)."),
    )
)]
pub async fn create_key(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    gatekeeper: web::Data<Gatekeeper>,
    pool: web::Data<Pool>,
    body: JsonBody<CreateKeyRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::KeysAdmin)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value;
    let ttl_days = request.ttl_days.unwrap_or(DEFAULT_TTL_DAYS);
    let mut errors = Vec::new();
    if !(1..=MAX_TTL_DAYS).contains(&ttl_days) {
        errors.push(FieldError::new(
            "ttl_days",
            format!("must be between 1 and {MAX_TTL_DAYS}"),
        ));
    }
    if request.abilities.is_empty() {
        errors.push(FieldError::new(
            "abilities",
            "must name at least one ability",
        ));
    }
    if let Some(missing) = request.abilities.iter().find(|a| !caller.claims.has(**a)) {
        errors.push(FieldError::new(
            "abilities",
            format!("cannot grant `{missing}`, which the calling key does not have"),
        ));
    }
    if request
        .label
        .as_ref()
        .is_some_and(|l| l.chars().count() > 100)
    {
        errors.push(FieldError::new("label", "must be at most 100 characters"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let scope = caller.scope();
    let minted_by = caller.claims.sub.clone();
    state
        .idempotency
        .run(
            &keyed,
            || (KeyId::generate().to_string(), String::new()),
            |_claim| async move {
                let minted = gatekeeper
                    .keys
                    .mint(MintRequest {
                        sub: request.sub.unwrap_or_else(|| format!("key-of:{minted_by}")),
                        tenant: scope.tenant.clone(),
                        env: scope.env,
                        abilities: request.abilities,
                        ttl: chrono::Duration::days(ttl_days),
                        label: request.label,
                    })
                    .map_err(|e| {
                        tracing::error!(error = %e, "minting failed");
                        Problem::internal()
                    })?;
                let claims = &minted.claims;
                let summary = KeySummary {
                    id: claims.jti.to_string(),
                    sub: claims.sub.clone(),
                    abilities: claims
                        .abilities
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect(),
                    label: claims.label.clone(),
                    created_at: timestamp(claims.iat),
                    expires_at: timestamp(claims.exp),
                    revoked_at: None,
                };
                let mut conn = pool.get().await.map_err(|_| db_unavailable())?;
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::id.eq(&summary.id),
                        api_keys::tenant.eq(scope.tenant.as_str()),
                        api_keys::env.eq(scope.env.as_str()),
                        api_keys::sub.eq(&summary.sub),
                        api_keys::abilities.eq(&summary.abilities),
                        api_keys::label.eq(&summary.label),
                        api_keys::created_at.eq(summary.created_at),
                        api_keys::expires_at.eq(summary.expires_at),
                    ))
                    .execute(&mut conn)
                    .await
                    .map_err(db_problem)?;
                // The recorded answer (for replays) never holds the token.
                let recorded = Answer::json(
                    StatusCode::CREATED,
                    &CreatedKey {
                        key: &summary,
                        token: None,
                    },
                    None,
                );
                let shown = serde_json::to_string(&CreatedKey {
                    key: &summary,
                    token: Some(&minted.token),
                })
                .unwrap_or_default();
                Ok(recorded.showing_once(shown))
            },
        )
        .await
}

fn timestamp(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_else(Utc::now)
}

/// `GET /v1/api_keys`: the newest 100 keys of the caller's scope.
#[utoipa::path(
    get, path = "/v1/api_keys", operation_id = "list_api_keys", tag = "api_keys",
    responses(
        (status = 200, description = "The tenant's keys in this env, never their tokens.", body = loopdesk_contracts::pagination::Page<KeySummary>),
    )
)]
pub async fn list_keys(caller: Caller, pool: web::Data<Pool>) -> Result<HttpResponse, Problem> {
    caller.require(Ability::KeysAdmin)?;
    let scope = caller.scope();
    let mut conn = pool.get().await.map_err(|_| db_unavailable())?;
    let keys: Vec<KeySummary> = api_keys::table
        .filter(api_keys::tenant.eq(scope.tenant.as_str()))
        .filter(api_keys::env.eq(scope.env.as_str()))
        .order(api_keys::id.desc())
        .limit(100)
        .select(KeySummary::as_select())
        .load(&mut conn)
        .await
        .map_err(db_problem)?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"data": keys, "has_more": false, "next_cursor": null})))
}

/// `DELETE /v1/api_keys/{id}`: revokes a key of the caller's tenant and env, whether it
/// was minted here or by the CLI. Revoking twice is harmless.
#[utoipa::path(
    delete, path = "/v1/api_keys/{id}", operation_id = "revoke_api_key", tag = "api_keys",
    params(("id" = String, Path, description = "The key. A `key_` id.")),
    responses(
        (status = 200, description = "Revoked (revoking twice is harmless).", body = crate::docs::Revoked),
        (status = 404, description = "Another tenant's key, or not a key id."),
    )
)]
pub async fn revoke_key(
    caller: Caller,
    pool: web::Data<Pool>,
    gatekeeper: web::Data<Gatekeeper>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::KeysAdmin)?;
    let id: KeyId = id.parse().map_err(|_| Problem::not_found("API key"))?;
    let scope = caller.scope();
    let mut conn = pool.get().await.map_err(|_| db_unavailable())?;
    let owner: Option<(String, String)> = api_keys::table
        .find(id.to_string())
        .select((api_keys::tenant, api_keys::env))
        .first(&mut conn)
        .await
        .optional()
        .map_err(db_problem)?;
    match owner {
        Some((tenant, env)) if tenant != scope.tenant.as_str() || env != scope.env.as_str() => {
            return Err(Problem::not_found("API key"));
        }
        Some(_) => {
            diesel::update(api_keys::table.find(id.to_string()))
                .filter(api_keys::revoked_at.is_null())
                .set(api_keys::revoked_at.eq(Utc::now()))
                .execute(&mut conn)
                .await
                .map_err(db_problem)?;
        }
        None => {
            // A key minted offline (CLI): record its revocation.
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::id.eq(id.to_string()),
                    api_keys::tenant.eq(scope.tenant.as_str()),
                    api_keys::env.eq(scope.env.as_str()),
                    api_keys::sub.eq("unknown"),
                    api_keys::abilities.eq(Vec::<String>::new()),
                    api_keys::expires_at.eq(Utc::now() + chrono::Duration::days(MAX_TTL_DAYS)),
                    api_keys::revoked_at.eq(Utc::now()),
                ))
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await
                .map_err(db_problem)?;
        }
    }
    gatekeeper.revocations.insert(id);
    Ok(HttpResponse::Ok().json(serde_json::json!({"id": id.to_string(), "revoked": true})))
}

/// Keeps `revocations` in step with the database, so a key revoked on another gateway
/// instance is refused here too.
pub async fn refresh_revocations(
    pool: Pool,
    revocations: RevocationList,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match load_revoked(&pool).await {
            Ok(ids) => revocations.replace_all(ids),
            Err(e) => tracing::warn!(error = %e, "could not refresh revoked keys"),
        }
    }
}

async fn load_revoked(pool: &Pool) -> Result<Vec<KeyId>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let ids: Vec<String> = api_keys::table
        .filter(api_keys::revoked_at.is_not_null())
        .filter(api_keys::expires_at.gt(Utc::now()))
        .select(api_keys::id)
        .load(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
}

/// Builds the key ring, naming the bad key on failure.
pub fn key_ring(settings: &crate::settings::AuthSettings) -> anyhow::Result<KeyRing> {
    Ok(KeyRing::from_settings(&settings.keys)?)
}

fn db_unavailable() -> Problem {
    Problem::unavailable("the gateway's database is unavailable", 2)
}

fn db_problem(e: diesel::result::Error) -> Problem {
    if loopdesk_storage::is_unavailable(&e) {
        db_unavailable()
    } else {
        tracing::error!(error = %e, "API key store failed");
        Problem::internal()
    }
}
