//! One HTTP attempt: build the payload, sign it, check where it would go, send it to the
//! checked addresses only, without following redirects, within the attempt timeout.

use std::{net::SocketAddr, time::Duration};

use chrono::{DateTime, Utc};
use loopdesk_contracts::webhooks::{PayloadStyle, ThinEvent, ThinEventData};
use reqwest::{header, redirect};
use secrecy::ExposeSecret;

use crate::{
    dispatch::claim::Job,
    outbound::{AllowList, resolve_checked},
    secrets::SecretBox,
    signing::signature_header,
};

/// Most of an answer's body kept on the attempt.
const EXCERPT_BYTES: usize = 1024;

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

/// Most HTTP clients kept at once; past it the cache starts afresh.
const MAX_CLIENTS: usize = 1024;

/// A host and the checked addresses a client is pinned to.
type ClientKey = (String, Vec<SocketAddr>);

/// Sends attempts.
#[derive(Clone)]
pub struct Sender {
    allow: AllowList,
    timeout: Duration,
    secrets: SecretBox,
    user_agent: String,
    /// One client (and connection pool) per host and checked address set: connections
    /// are reused across attempts, and an address that changes in DNS gets a new client,
    /// so a connection only ever goes to an address that was checked.
    clients:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<ClientKey, reqwest::Client>>>,
}

impl Sender {
    /// A sender reaching global addresses and `allow`, giving up after `timeout`.
    pub fn new(allow: AllowList, timeout: Duration, secrets: SecretBox) -> Self {
        Self {
            allow,
            timeout,
            secrets,
            user_agent: format!("Loopdesk-Webhooks/{}", env!("CARGO_PKG_VERSION")),
            clients: std::sync::Arc::default(),
        }
    }

    /// The client pinned to `addrs` for `url`'s host, built on first use.
    fn client_for(
        &self,
        url: &reqwest::Url,
        addrs: &[SocketAddr],
    ) -> Result<reqwest::Client, String> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut pinned = addrs.to_vec();
        pinned.sort_unstable();
        let key = (host.clone(), pinned);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30));
        // Connect only to the addresses just checked: no second DNS answer can differ.
        if !host.starts_with('[') && host.parse::<std::net::IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(&host, addrs);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        clients.insert(key, client.clone());
        Ok(client)
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
        let client = self.client_for(url, addrs)?;
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

async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    if bytes.is_empty() {
        return None;
    }
    bytes.truncate(EXCERPT_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    // A cut multi-byte character shows as one replacement character at most.
    while text.len() > EXCERPT_BYTES {
        text.pop();
    }
    Some(text)
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

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap_or_default();
        assert!(parsed > Duration::from_secs(80) && parsed <= Duration::from_secs(90));
    }
}
