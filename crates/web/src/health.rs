//! `/healthz` (the process answers), `/readyz` (its dependencies answer too) and
//! `/metrics` (Prometheus text).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Serialize;

/// What a service checks before it says it is ready.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// Each dependency by name, and whether it is usable now.
    async fn checks(&self) -> Vec<(&'static str, bool)>;
}

#[derive(Serialize)]
struct Report {
    status: &'static str,
    checks: serde_json::Map<String, serde_json::Value>,
}

/// Registers `/healthz`, `/readyz` and `/metrics` on a service config.
pub fn configure(readiness: Arc<dyn Readiness>) -> impl FnOnce(&mut web::ServiceConfig) {
    loopdesk_telemetry::metrics::install();
    move |cfg| {
        cfg.app_data(web::Data::from(readiness))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics));
    }
}

async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(loopdesk_telemetry::metrics::render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(readiness: web::Data<dyn Readiness>) -> HttpResponse {
    let checks = readiness.checks().await;
    let ready = checks.iter().all(|(_, ok)| *ok);
    let report = Report {
        status: if ready { "ready" } else { "unavailable" },
        checks: checks
            .into_iter()
            .map(|(name, ok)| {
                (
                    name.to_owned(),
                    serde_json::Value::from(if ok { "ok" } else { "down" }),
                )
            })
            .collect(),
    };
    if ready {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(report)
    }
}
