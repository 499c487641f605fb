//! `GET /docs`: Swagger UI for the OpenAPI document, from assets compiled into the
//! binary, so it works offline and loads nothing from another origin.

use actix_web::{HttpResponse, http::header, web};
use loopdesk_web::Problem;

/// The page; it names its assets and the document by relative URLs.
const INDEX: &str = include_str!("index.html");
const INIT: &str = include_str!("init.js");
const BUNDLE: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui.css");
const LICENSE: &[u8] = include_bytes!("../../static/swagger-ui/LICENSE");

/// Browsers enforce what the page promises: nothing is fetched from elsewhere.
/// Swagger UI sets inline styles and shows data: images, hence those two allowances.
const POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

/// `GET /docs`.
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .body(INDEX)
}

/// `GET /docs/{asset}`: one of the vendored files.
pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, Problem> {
    let (content_type, body): (&str, &'static [u8]) = match name.as_str() {
        "swagger-ui-bundle.js" => ("text/javascript; charset=utf-8", BUNDLE),
        "init.js" => ("text/javascript; charset=utf-8", INIT.as_bytes()),
        "swagger-ui.css" => ("text/css; charset=utf-8", CSS),
        "LICENSE" => ("text/plain; charset=utf-8", LICENSE),
        _ => return Err(Problem::not_found("asset")),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        // Assets change only with the binary.
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body))
}
