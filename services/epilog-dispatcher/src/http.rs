//! The internal read API the gateway uses. It trusts the gateway for authentication and
//! takes the caller's scope from headers; it is not exposed publicly.

use actix_web::{HttpResponse, web};
use loopdesk_contracts::{
    FieldError,
    epilogs::{EpilogJobDetail, EpilogStatus},
    ids::EpilogJobId,
};
use loopdesk_runtime::ReadDatabase;
use loopdesk_storage::Pool;
use loopdesk_web::{Problem, internal::CallerScope};
use serde::Deserialize;

use crate::store::{self, StoreError};

const DEFAULT_LIMIT: i64 = 20;

/// The database the reads come from.
const DATABASE: ReadDatabase = ReadDatabase::of("epilog");

/// Registers the internal routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/epilog_jobs", web::get().to(list_jobs))
            .route("/epilog_jobs/{id}", web::get().to(get_job)),
    );
}

/// Listing parameters.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_jobs(
    pool: web::Data<Pool>,
    scope: CallerScope,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(EpilogStatus::parse(s).ok_or_else(|| {
            Problem::validation(vec![FieldError::new(
                "status",
                "must be pending, succeeded, failed, rejected or skipped",
            )])
        })?),
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 100);
    let mut conn = DATABASE.connect(&pool).await?;
    let page = store::list(&mut conn, &scope.0, status, limit, params.cursor.as_deref())
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_job(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id: EpilogJobId = id.parse().map_err(|_| not_found())?;
    let mut conn = DATABASE.connect(&pool).await?;
    let row = store::find(&mut conn, &scope.0, &id)
        .await
        .map_err(store_problem)?
        .ok_or_else(not_found)?;
    let attempts_log = store::attempts_of(&mut conn, &row.id)
        .await
        .map_err(store_problem)?;
    let job = row.to_job().map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(EpilogJobDetail { job, attempts_log }))
}

fn not_found() -> Problem {
    Problem::not_found("epilog job")
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::BadCursor => {
            Problem::invalid_cursor("`cursor` must be a value from a previous page")
        }
        StoreError::Query(q) if loopdesk_storage::is_unavailable(&q) => DATABASE.unavailable(),
        other => {
            tracing::error!(error = %other, "epilog read failed");
            Problem::internal()
        }
    }
}
