//! `/v1/webhook_endpoints` and `/v1/deliveries`: writes become commands to
//! webhook-fanout (idempotent, like every mutation), reads come from its internal API.

pub mod read;
pub mod write;

use actix_web::web;

use crate::events;

/// Registers the webhook and event routes inside the `/v1` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhook_endpoints", web::post().to(write::create_endpoint))
        .route("/webhook_endpoints", web::get().to(read::list_endpoints))
        .route("/webhook_endpoints/{id}", web::get().to(read::get_endpoint))
        .route(
            "/webhook_endpoints/{id}",
            web::patch().to(write::update_endpoint),
        )
        .route(
            "/webhook_endpoints/{id}",
            web::delete().to(write::delete_endpoint),
        )
        .route(
            "/webhook_endpoints/{id}/rotate_secret",
            web::post().to(write::rotate_secret),
        )
        .route(
            "/webhook_endpoints/{id}/recover",
            web::post().to(write::recover),
        )
        .route(
            "/webhook_endpoints/{id}/deliveries",
            web::get().to(read::list_deliveries),
        )
        .route(
            "/deliveries/{id}/attempts",
            web::get().to(read::list_attempts),
        )
        .route(
            "/deliveries/{id}/redeliver",
            web::post().to(write::redeliver),
        )
        .route("/events", web::get().to(events::list_events));
}
