//! Problem answers for what no handler sees: unknown routes, bad path or query
//! parameters.

use actix_web::{HttpRequest, HttpResponse, ResponseError, error, http::StatusCode, web};

use crate::problem::Problem;

/// 404 for a route that does not exist (register with `App::default_service`).
pub async fn route_not_found(req: HttpRequest) -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "Not found",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .error_response()
}

/// Path and query extractor configs that answer problem+json.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|e, _| {
        error::InternalError::from_response(
            "",
            Problem::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                format!("invalid path parameter: {e}"),
            )
            .error_response(),
        )
        .into()
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        error::InternalError::from_response(
            "",
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Invalid query parameters",
                e.to_string(),
            )
            .error_response(),
        )
        .into()
    }));
}
