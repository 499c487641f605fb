//! The internal read APIs the gateway calls: it authenticates the caller and passes the
//! caller's scope in two headers, which the owning services trust. These routes are not
//! exposed publicly (DESIGN.md §2: only the gateway faces integrators).

use std::{fmt, io, net::TcpListener, sync::Arc};

use actix_web::{
    App, FromRequest, HttpRequest, HttpResponse, HttpServer,
    dev::{Payload, Server},
    http::{StatusCode, header},
    middleware, web,
};
use futures::future::{Ready, ready};
use loopdesk_contracts::{Env, Scope, Tenant};
use serde::Serialize;

use crate::{Problem, Readiness, defaults, health, tracing_mw::trace_requests};

/// Header carrying the caller's tenant.
pub const TENANT_HEADER: &str = "x-loopdesk-tenant";
/// Header carrying the caller's env.
pub const ENV_HEADER: &str = "x-loopdesk-env";

/// The caller's scope, from the gateway's headers.
#[derive(Debug, Clone)]
pub struct CallerScope(pub Scope);

impl CallerScope {
    /// The scope every query of the request is limited to.
    pub fn scope(&self) -> &Scope {
        &self.0
    }
}

impl FromRequest for CallerScope {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let scope = header(TENANT_HEADER)
            .and_then(|t| Tenant::parse(t).ok())
            .zip(header(ENV_HEADER).and_then(|e| e.parse::<Env>().ok()))
            .map(|(tenant, env)| CallerScope(Scope { tenant, env }))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "missing_scope",
                    "Missing scope",
                    format!("`{TENANT_HEADER}` and `{ENV_HEADER}` headers are required"),
                )
            });
        ready(scope)
    }
}

/// 200 with `body` as JSON and its `version` as a strong `ETag` (`"3"`): the gateway
/// passes it on, and a later write's `If-Match` names it.
pub fn with_version(version: impl fmt::Display, body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body)
}

/// The HTTP server of an owning service's internal API, listening on `listener`: every
/// request traced, problem answers for bad path or query parameters and for unknown
/// routes, `/healthz`, `/readyz` (asking `readiness`) and `/metrics`, and whatever
/// `configure` registers (the service's routes and the app data they use). It ignores
/// signals: its owner stops it, and in-flight requests then get `drain_timeout_secs` to
/// finish. Returned not yet polled.
pub fn server<F>(
    listener: TcpListener,
    readiness: Arc<dyn Readiness>,
    drain_timeout_secs: u64,
    configure: F,
) -> io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(trace_requests))
            .configure(defaults::configure)
            .configure(health::configure(readiness.clone()))
            .configure(&configure)
            .default_service(web::to(defaults::route_not_found))
    })
    .disable_signals()
    .shutdown_timeout(drain_timeout_secs)
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A dependency that is up or down as the test says.
    struct Database(bool);

    #[async_trait::async_trait]
    impl Readiness for Database {
        async fn checks(&self) -> Vec<(&'static str, bool)> {
            vec![("database", self.0)]
        }
    }

    /// The whole response to `GET path`, its header names lower-cased by the server.
    async fn get(port: u16, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn a_versioned_answer_carries_its_version_as_a_strong_etag() {
        let response = with_version(7, &serde_json::json!({"id": "t1", "version": 7}));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok()),
            Some("\"7\"")
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"id":"t1","version":7}"#);
    }

    #[tokio::test]
    async fn the_server_answers_the_service_routes_with_their_data_beside_health_and_problems() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let greeting = web::Data::new("hello from the owner".to_owned());
        let server = server(listener, Arc::new(Database(false)), 1, move |cfg| {
            cfg.app_data(greeting.clone()).route(
                "/internal/v1/greeting/{n}",
                web::get().to(|text: web::Data<String>, n: web::Path<u8>| async move {
                    format!("{} #{n}", text.as_str())
                }),
            );
        })
        .unwrap();
        let handle = server.handle();
        let running = tokio::spawn(server);

        let own = get(port, "/internal/v1/greeting/7").await;
        assert!(own.starts_with("HTTP/1.1 200"), "{own}");
        assert!(own.ends_with("hello from the owner #7"), "{own}");

        let bad_path = get(port, "/internal/v1/greeting/many").await;
        assert!(bad_path.starts_with("HTTP/1.1 404"), "{bad_path}");
        assert!(bad_path.contains("application/problem+json"), "{bad_path}");
        assert!(bad_path.contains(r#""code":"not_found""#), "{bad_path}");

        let unknown = get(port, "/internal/v1/nowhere").await;
        assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
        assert!(
            unknown.contains(r#""code":"route_not_found""#)
                && unknown.contains("no route for GET /internal/v1/nowhere"),
            "{unknown}"
        );

        let alive = get(port, "/healthz").await;
        assert!(alive.starts_with("HTTP/1.1 200"), "{alive}");
        let ready = get(port, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(
            ready.contains("retry-after: 5") && ready.contains(r#""database":"down""#),
            "{ready}"
        );

        handle.stop(true).await;
        running.await.unwrap().unwrap();
    }
}
