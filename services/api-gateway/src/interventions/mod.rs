//! `/v1/interventions` (the library, ability `interventions:admin`) and the ticket panel
//! `/v1/tickets/{id}/interventions`: writes become commands to the intervention service
//! (idempotent, like every mutation), reads come from its internal API.

pub mod create;
pub mod read;
pub mod remote_token;
pub mod submit;
pub mod write;

use actix_web::web;
use loopdesk_web::Problem;

/// Registers the intervention routes inside the `/v1` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/interventions", web::post().to(write::create))
        .route("/interventions", web::get().to(read::list))
        .route("/interventions/{name}", web::get().to(read::get))
        .route("/interventions/{name}", web::patch().to(write::update))
        .route(
            "/interventions/{name}/fields",
            web::put().to(write::replace_fields),
        )
        .route(
            "/interventions/{name}/fields",
            web::post().to(write::add_field),
        )
        .route(
            "/interventions/{name}/fields/reorder",
            web::post().to(write::reorder_fields),
        )
        .route(
            "/interventions/{name}/fields/{field_id}",
            web::patch().to(write::update_field),
        )
        .route(
            "/interventions/{name}/fields/{field_id}",
            web::delete().to(write::remove_field),
        )
        .route(
            "/interventions/{name}/templates",
            web::get().to(read::templates),
        )
        .route(
            "/interventions/{name}/templates/{kind}",
            web::put().to(write::put_template),
        )
        .route(
            "/interventions/{name}/templates/{kind}",
            web::delete().to(write::delete_template),
        )
        .route(
            "/interventions/{name}/remote_token",
            web::post().to(remote_token::generate),
        )
        .route("/tickets/{id}/interventions", web::get().to(read::panel))
        .route(
            "/tickets/{id}/interventions/{itv}/submit",
            web::post().to(submit::submit),
        );
}

/// A path segment naming a definition; one that cannot be a name names nothing (404),
/// and only valid names are put into internal URLs.
pub fn definition_name(raw: &str) -> Result<&str, Problem> {
    let bytes = raw.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b));
    if valid {
        Ok(raw)
    } else {
        Err(Problem::not_found("intervention"))
    }
}

/// The public path of a definition.
pub fn location(name: &str) -> String {
    format!("/v1/interventions/{name}")
}
