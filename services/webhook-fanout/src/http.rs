//! The internal read API the gateway uses. It trusts the gateway for authentication and
//! takes the caller's scope from headers; it is not exposed publicly.

use actix_web::{HttpResponse, web};
use loopdesk_contracts::{
    ids::{DeliveryId, WebhookEndpointId},
    webhooks::DeliveryStatus,
};
use loopdesk_runtime::ReadDatabase;
use loopdesk_storage::Pool;
use loopdesk_web::{Problem, internal::CallerScope};
use serde::Deserialize;

use crate::{deliveries, endpoints::store as endpoint_store, events, store::StoreError};

const DEFAULT_LIMIT: i64 = 20;

/// The database the reads come from.
const DATABASE: ReadDatabase = ReadDatabase::of("webhook");

/// Registers the internal routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/webhook_endpoints", web::get().to(list_endpoints))
            .route("/webhook_endpoints/{id}", web::get().to(get_endpoint))
            .route(
                "/webhook_endpoints/{id}/deliveries",
                web::get().to(list_deliveries),
            )
            .route("/deliveries/{id}/attempts", web::get().to(list_attempts))
            .route("/events", web::get().to(list_events)),
    );
}

/// Paging parameters.
#[derive(Debug, Deserialize)]
pub struct PageParams {
    limit: Option<i64>,
    cursor: Option<String>,
    status: Option<String>,
}

/// Catch-up parameters.
#[derive(Debug, Deserialize)]
pub struct EventParams {
    after: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<i64>,
}

async fn list_endpoints(
    pool: web::Data<Pool>,
    scope: CallerScope,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let page = endpoint_store::list(
        &mut conn,
        &scope.0,
        limit(params.limit),
        params.cursor.as_deref(),
    )
    .await
    .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_endpoint(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id: WebhookEndpointId = id.parse().map_err(|_| endpoint_not_found())?;
    let mut conn = DATABASE.connect(&pool).await?;
    let row = endpoint_store::find(&mut conn, &scope.0, &id, false)
        .await
        .map_err(|e| store_problem(e.into()))?
        .ok_or_else(endpoint_not_found)?;
    Ok(HttpResponse::Ok().json(row.to_endpoint().map_err(store_problem)?))
}

async fn list_deliveries(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, Problem> {
    let id: WebhookEndpointId = id.parse().map_err(|_| endpoint_not_found())?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            Problem::validation(vec![loopdesk_contracts::FieldError::new(
                "status",
                "must be pending, succeeded or dead",
            )])
        })?),
    };
    let mut conn = DATABASE.connect(&pool).await?;
    let page = deliveries::list_for_endpoint(
        &mut conn,
        &scope.0,
        &id,
        status,
        limit(params.limit),
        params.cursor.as_deref(),
    )
    .await
    .map_err(store_problem)?
    .ok_or_else(endpoint_not_found)?;
    Ok(HttpResponse::Ok().json(page))
}

async fn list_attempts(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id: DeliveryId = id.parse().map_err(|_| Problem::not_found("delivery"))?;
    let mut conn = DATABASE.connect(&pool).await?;
    let page = deliveries::attempts_of(&mut conn, &scope.0, &id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("delivery"))?;
    Ok(HttpResponse::Ok().json(page))
}

async fn list_events(
    pool: web::Data<Pool>,
    scope: CallerScope,
    params: web::Query<EventParams>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let page = events::list(
        &mut conn,
        &scope.0,
        params.after.as_deref(),
        params.kind.as_deref(),
        limit(params.limit),
    )
    .await
    .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(page))
}

fn limit(asked: Option<i64>) -> i64 {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, 100)
}

fn endpoint_not_found() -> Problem {
    Problem::not_found("webhook endpoint")
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::BadCursor => {
            Problem::invalid_cursor("`cursor` (or `after`) must be a value from a previous page")
        }
        StoreError::Query(q) if loopdesk_storage::is_unavailable(&q) => DATABASE.unavailable(),
        other => {
            tracing::error!(error = %other, "webhook read failed");
            Problem::internal()
        }
    }
}
