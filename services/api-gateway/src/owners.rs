//! Reads from the owning services' internal APIs. Their problem answers (404, invalid
//! cursor) are passed on as they are; an owner that cannot be reached is a 503.

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode};
use loopdesk_contracts::Scope;
use loopdesk_web::{
    Problem,
    internal::{ENV_HEADER, TENANT_HEADER},
    problem::PROBLEM_JSON,
};
use serde::Serialize;

use crate::caller::Caller;

/// An HTTP client for one owning service.
#[derive(Clone)]
pub struct OwnerClient {
    http: reqwest::Client,
    base: String,
    name: &'static str,
}

impl OwnerClient {
    /// A client for the owner at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(name: &'static str, base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            name,
        })
    }

    /// GETs `path` (with `query`) in the caller's scope and relays the answer: status,
    /// `ETag` and body.
    pub async fn get<Q: Serialize + ?Sized>(
        &self,
        scope: &Scope,
        path: &str,
        query: &Q,
    ) -> Result<HttpResponse, Problem> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(TENANT_HEADER, scope.tenant.as_str())
            .header(ENV_HEADER, scope.env.as_str())
            .query(query)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        if status.is_server_error() {
            tracing::warn!(owner = self.name, %status, "owner failed a read");
            return Err(Problem::unavailable(
                format!("the {} service is unavailable", self.name),
                2,
            ));
        }
        let etag = response.headers().get(reqwest::header::ETAG).cloned();
        let body = response.bytes().await.map_err(|e| self.unreachable(e))?;
        let mut answer = HttpResponse::build(status);
        answer.content_type(if status.is_success() {
            "application/json"
        } else {
            PROBLEM_JSON
        });
        if let Some(etag) = etag.and_then(|v| v.to_str().ok().map(str::to_owned)) {
            answer.insert_header(("ETag", etag));
        }
        Ok(answer.body(body))
    }

    /// GETs `path` (no query) in `caller`'s scope and relays the answer, as [`get`]
    /// does: the read of one resource.
    ///
    /// [`get`]: Self::get
    pub async fn relay(&self, caller: &Caller, path: &str) -> Result<HttpResponse, Problem> {
        self.get(&caller.scope(), path, &()).await
    }

    fn unreachable(&self, e: reqwest::Error) -> Problem {
        tracing::warn!(owner = self.name, error = %e, "owner unreachable");
        Problem::unavailable(format!("the {} service is unavailable", self.name), 2)
    }
}
