//! One HTTP attempt: build the payload, sign it, check where it would go, send it to the
//! checked addresses only, without following redirects, within the attempt timeout.

use std::{net::SocketAddr, time::Duration};

use chrono::{DateTime, Utc};
use loopdesk_contracts::webhooks::{PayloadStyle, ThinEvent, ThinEventData};
use loopdesk_outbound::{AllowList, PinnedClients, excerpt, parse_retry_after, resolve_checked};
use reqwest::header;
use secrecy::ExposeSecret;

use crate::{dispatch::claim::Job, secrets::SecretBox, signing::signature_header};

/// What one attempt found.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// A 2xx came back.
    pub succeeded: bool,
    /// The answer's status, when one came.
    pub status_code: Option<u16>,
    /// Time to the answer or the failure.
    pub latency_ms: i64,
    /// What went wrong.
    pub error: Option<String>,
    /// Why nothing was sent (outbound safety).
    pub refused_reason: Option<String>,
    /// The start of the answer's body.
    pub excerpt: Option<String>,
    /// The endpoint asked to wait this long.
    pub retry_after: Option<Duration>,
}

impl AttemptReport {
    fn failed(attempted_at: DateTime<Utc>, latency_ms: i64, error: String) -> Self {
        Self {
            attempted_at,
            succeeded: false,
            status_code: None,
            latency_ms,
            error: Some(error),
            refused_reason: None,
            excerpt: None,
            retry_after: None,
        }
    }

    /// The endpoint answered 410 Gone: it wants no more deliveries.
    pub fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

/// Sends attempts.
#[derive(Clone)]
pub struct Sender {
    allow: AllowList,
    timeout: Duration,
    secrets: SecretBox,
    user_agent: String,
    /// Clients pinned to checked addresses, reused across attempts.
    clients: PinnedClients,
}

impl Sender {
    /// A sender reaching global addresses and `allow`, giving up after `timeout`.
    pub fn new(allow: AllowList, timeout: Duration, secrets: SecretBox) -> Self {
        Self {
            allow,
            timeout,
            secrets,
            user_agent: format!("Loopdesk-Webhooks/{}", env!("CARGO_PKG_VERSION")),
            clients: PinnedClients::new(),
        }
    }

    /// Makes the attempt; never fails, the report says how it went.
    pub async fn attempt(&self, job: &Job) -> AttemptReport {
        let attempted_at = Utc::now();
        let started = tokio::time::Instant::now();
        let elapsed = || i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match tokio::time::timeout(self.timeout, self.send(job, attempted_at, elapsed)).await {
            Ok(report) => report,
            Err(_) => AttemptReport::failed(
                attempted_at,
                elapsed(),
                format!("timed out after {} ms", self.timeout.as_millis()),
            ),
        }
    }

    async fn send(
        &self,
        job: &Job,
        attempted_at: DateTime<Utc>,
        elapsed: impl Fn() -> i64,
    ) -> AttemptReport {
        let url = match reqwest::Url::parse(&job.endpoint.url) {
            Ok(url) => url,
            Err(e) => return AttemptReport::failed(attempted_at, 0, format!("bad URL: {e}")),
        };
        let addrs = match resolve_checked(&url, &self.allow).await {
            Ok(addrs) => addrs,
            Err(refusal) => {
                let mut report = AttemptReport::failed(attempted_at, elapsed(), "refused".into());
                report.error = None;
                report.refused_reason = Some(refusal.to_string());
                return report;
            }
        };
        let request = match self.request(job, &url, &addrs, attempted_at) {
            Ok(request) => request,
            Err(e) => return AttemptReport::failed(attempted_at, elapsed(), e),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return AttemptReport::failed(attempted_at, elapsed(), describe(&e));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let latency_ms = elapsed();
        let excerpt = excerpt(response).await;
        let succeeded = status.is_success();
        AttemptReport {
            attempted_at,
            succeeded,
            status_code: Some(status.as_u16()),
            latency_ms,
            error: (!succeeded).then(|| {
                if status.is_redirection() {
                    format!("answered {status}; redirects are not followed")
                } else {
                    format!("answered {status}")
                }
            }),
            refused_reason: None,
            excerpt,
            retry_after,
        }
    }

    fn request(
        &self,
        job: &Job,
        url: &reqwest::Url,
        addrs: &[SocketAddr],
        attempted_at: DateTime<Utc>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let body = payload(job);
        let timestamp = attempted_at.timestamp();
        let secrets = job
            .endpoint
            .signing_secrets(&self.secrets, attempted_at)
            .map_err(|e| e.to_string())?;
        let signature = signature_header(
            secrets.iter().map(|s| s.expose_secret()),
            &job.event.id,
            timestamp,
            &body,
        )
        .map_err(|e| e.to_string())?;
        let client = self
            .clients
            .client_for(url, addrs)
            .map_err(|e| e.to_string())?;
        let mut request = client
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, &self.user_agent)
            .header("webhook-id", &job.event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature);
        if let Some(traceparent) = &job.event.traceparent {
            request = request.header("traceparent", traceparent);
        }
        let custom = job.endpoint.custom_headers().unwrap_or_default();
        for (name, value) in custom {
            request = request.header(name, value);
        }
        Ok(request.body(body))
    }
}

/// The body an endpoint receives: the event as published, or its ids.
pub fn payload(job: &Job) -> Vec<u8> {
    let full = || job.event.body.clone().into_bytes();
    if PayloadStyle::parse(&job.endpoint.payload_style) != Some(PayloadStyle::Thin) {
        return full();
    }
    let thin = job
        .event
        .id
        .parse()
        .ok()
        .zip(job.event.ticket_id.as_deref().and_then(|t| t.parse().ok()))
        .map(|(id, ticket_id)| ThinEvent {
            id,
            kind: job.event.kind.clone(),
            created_at: job.event.created_at,
            sequence: job.event.sequence,
            data: ThinEventData { ticket_id },
        });
    match thin.and_then(|t| serde_json::to_vec(&t).ok()) {
        Some(body) => body,
        // An event without a ticket id cannot be thinned; it is sent whole.
        None => full(),
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        format!("request failed: {e}")
    }
}
