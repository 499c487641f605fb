//! The internal read API the gateway uses. It trusts the gateway for authentication and
//! takes the caller's scope from headers; it is not exposed publicly.

use actix_web::{HttpResponse, web};
use loopdesk_contracts::{Scope, ids::TicketId, tickets::TicketQuery};
use loopdesk_runtime::ReadDatabase;
use loopdesk_storage::Pool;
use loopdesk_web::{
    Problem,
    internal::{CallerScope, with_version},
};

use crate::{
    sla::policy,
    thread,
    tickets::{
        history::{self as status_history},
        list,
        store::{self, StoreError},
    },
};

/// The database the reads come from.
const DATABASE: ReadDatabase = ReadDatabase::of("ticket");

/// Registers the internal routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/internal/v1")
            .route("/tickets", web::get().to(list_tickets))
            .route("/tickets/{id}", web::get().to(get_ticket))
            .route("/tickets/{id}/responses", web::get().to(list_responses))
            .route(
                "/tickets/{id}/responses/{response}",
                web::get().to(get_response),
            )
            .route("/tickets/{id}/history", web::get().to(history))
            .route("/sla_policies", web::get().to(list_policies)),
    );
}

async fn get_ticket(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    // A malformed id cannot exist: the same 404 as a missing one.
    let id: TicketId = id.parse().map_err(|_| Problem::not_found("ticket"))?;
    let mut conn = DATABASE.connect(&pool).await?;
    let ticket = store::find(&mut conn, &scope.0, &id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("ticket"))?;
    Ok(with_version(ticket.version, &ticket))
}

async fn list_tickets(
    pool: web::Data<Pool>,
    scope: CallerScope,
    query: web::Query<TicketQuery>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let page = list::list(&mut conn, &scope.0, &query)
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(page))
}

/// Paging of a thread listing.
#[derive(Debug, serde::Deserialize)]
struct PageParams {
    limit: Option<u16>,
    cursor: Option<String>,
}

/// The ticket, if it exists (undeleted) in the caller's scope; 404 otherwise.
async fn visible_ticket(
    conn: &mut loopdesk_storage::Conn,
    scope: &Scope,
    id: &str,
) -> Result<TicketId, Problem> {
    let id: TicketId = id.parse().map_err(|_| Problem::not_found("ticket"))?;
    store::find(conn, scope, &id)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("ticket"))?;
    Ok(id)
}

async fn list_responses(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let id = visible_ticket(&mut conn, &scope.0, &id).await?;
    let page = thread::store::page(
        &mut conn,
        &scope.0,
        &id,
        params.limit.unwrap_or(20),
        params.cursor.as_deref(),
    )
    .await
    .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_response(
    pool: web::Data<Pool>,
    scope: CallerScope,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, response) = path.into_inner();
    let mut conn = DATABASE.connect(&pool).await?;
    let id = visible_ticket(&mut conn, &scope.0, &id).await?;
    let response = response
        .parse()
        .map_err(|_| Problem::not_found("response"))?;
    let response = thread::store::find(&mut conn, &scope.0, &id, &response)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::not_found("response"))?;
    Ok(HttpResponse::Ok().json(response))
}

async fn history(
    pool: web::Data<Pool>,
    scope: CallerScope,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let id = visible_ticket(&mut conn, &scope.0, &id).await?;
    let entries = status_history::of(&mut conn, &id)
        .await
        .map_err(store_problem)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": entries })))
}

async fn list_policies(pool: web::Data<Pool>, scope: CallerScope) -> Result<HttpResponse, Problem> {
    let mut conn = DATABASE.connect(&pool).await?;
    let policies = policy::list(&mut conn, &scope.0)
        .await
        .map_err(|e| store_problem(e.into()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": policies })))
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::BadCursor => {
            Problem::invalid_cursor("`cursor` must be a `next_cursor` value from a previous page")
        }
        StoreError::Query(q) if loopdesk_storage::is_unavailable(&q) => DATABASE.unavailable(),
        other => {
            tracing::error!(error = %other, "ticket read failed");
            Problem::internal()
        }
    }
}
