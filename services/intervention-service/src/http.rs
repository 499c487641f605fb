//! The internal read API the gateway (and, for `/remote`, the epilog dispatcher) uses.
//! It trusts its callers for authentication and takes the scope from headers; it is not
//! exposed publicly.

use actix_web::{HttpResponse, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use loopdesk_contracts::{ids::TicketId, interventions::Intervention, pagination::Page};
use loopdesk_runtime::ReadDatabase;
use loopdesk_storage::Pool;
use loopdesk_web::{
    Problem,
    internal::{CallerScope, with_version},
};
use serde::Deserialize;

use crate::{
    definitions::{
        remote,
        store::{self, StoreError},
    },
    payloads::panel,
    secrets::SecretBox,
};

/// The database the reads come from.
const DATABASE: ReadDatabase = ReadDatabase::of("intervention");

/// Registers the internal routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/interventions", web::get().to(list))
            .route("/interventions/{name}", web::get().to(get))
            .route("/interventions/{name}/templates", web::get().to(templates))
            // Internal only: holds the decrypted bearer token, for the epilog dispatcher.
            .route(
                "/interventions/{name}/remote",
                web::get().to(remote_settings),
            )
            .route("/tickets/{id}/interventions", web::get().to(ticket_panel)),
    );
}

/// Paging of the library listing.
#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<u16>,
    cursor: Option<String>,
}

async fn list(
    pool: web::Data<Pool>,
    scope: CallerScope,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, Problem> {
    let limit = i64::from(params.limit.unwrap_or(20).clamp(1, 100));
    let after = match &params.cursor {
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(bad_cursor)?),
        None => None,
    };
    let mut conn = DATABASE.connect(&pool).await?;
    let mut data = store::page(&mut conn, &scope.0, after.as_deref(), limit + 1)
        .await
        .map_err(store_problem)?;
    let has_more = data.len() as i64 > limit;
    data.truncate(usize::try_from(limit).unwrap_or(100));
    let next_cursor = if has_more {
        data.last()
            .map(|i| URL_SAFE_NO_PAD.encode(i.name.as_bytes()))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(Page::<Intervention> {
        data,
        has_more,
        next_cursor,
    }))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()
}

async fn get(
    pool: web::Data<Pool>,
    scope: CallerScope,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let found = store::find(&mut conn, &scope.0, &name)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("intervention"))?;
    Ok(with_version(found.version, &found))
}

async fn templates(
    pool: web::Data<Pool>,
    scope: CallerScope,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    store::find_row(&mut conn, &scope.0, &name, false)
        .await
        .map_err(|e| store_problem(e.into()))?
        .ok_or_else(|| Problem::not_found("intervention"))?;
    let templates = store::templates(&mut conn, &scope.0, &name)
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": templates })))
}

async fn remote_settings(
    pool: web::Data<Pool>,
    secrets: web::Data<SecretBox>,
    scope: CallerScope,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let settings = remote::settings(&mut conn, &secrets, &scope.0, &name)
        .await
        .map_err(|e| match e {
            remote::RemoteError::Store(s) => store_problem(s),
            remote::RemoteError::Secret(s) => {
                tracing::error!(error = %s, intervention = %name, "remote token unreadable");
                Problem::internal()
            }
        })?
        .ok_or_else(|| Problem::not_found("intervention"))?;
    Ok(HttpResponse::Ok().json(settings))
}

async fn ticket_panel(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id: TicketId = id.parse().map_err(|_| Problem::not_found("ticket"))?;
    let mut conn = DATABASE.connect(&pool).await?;
    let items = panel::of_ticket(&mut conn, &scope.0, &id)
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": items })))
}

fn bad_cursor() -> Problem {
    Problem::invalid_cursor("`cursor` must be a `next_cursor` value from a previous page")
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::Query(q) if loopdesk_storage::is_unavailable(&q) => DATABASE.unavailable(),
        other => {
            tracing::error!(error = %other, "intervention read failed");
            Problem::internal()
        }
    }
}
