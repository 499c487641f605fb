//! One epilog call: read the definition's current remote settings (token included, never
//! kept), check where the URL goes, POST the submission to the checked addresses only,
//! within the definition's timeout.

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopdesk_contracts::Scope;
use loopdesk_outbound::{AllowList, PinnedClients, parse_retry_after, resolve_checked};
use reqwest::header;
use serde::Serialize;

use crate::{
    dispatch::classify::Answer,
    remote::{LookupError, RemoteLookup},
    store::JobRow,
};

/// Most of an answer's body read (a `final` is small; the rest is not needed).
const BODY_LIMIT: usize = 64 * 1024;

/// What one attempt found.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// Time to the answer or the failure.
    pub latency_ms: i64,
    /// How it ended.
    pub answer: Answer,
}

/// The epilog body (seed §5.4): exactly these members, ids as strings.
#[derive(Debug, Serialize)]
pub struct EpilogBody<'a> {
    /// The ticket.
    pub ticket_id: &'a str,
    /// The initiating response.
    pub response_id: &'a str,
    /// The remote's correlation id.
    pub uid: &'a str,
    /// The intervention's name.
    pub intervention: &'a str,
    /// What staff chose.
    pub action: &'a str,
    /// The edited data bag.
    pub data: &'a serde_json::Value,
}

impl<'a> EpilogBody<'a> {
    /// The body for `job`.
    pub fn of(job: &'a JobRow) -> Self {
        Self {
            ticket_id: &job.ticket_id,
            response_id: &job.response_id,
            uid: &job.uid,
            intervention: &job.intervention,
            action: &job.action,
            data: &job.data,
        }
    }
}

/// Makes epilog calls.
#[derive(Clone)]
pub struct Sender {
    allow: AllowList,
    allow_http: bool,
    clients: PinnedClients,
    lookup: RemoteLookup,
    user_agent: String,
}

impl Sender {
    /// A sender reaching global addresses and `allow` (and `http://` URLs only when
    /// `allow_http`), reading remote settings through `lookup`.
    pub fn new(allow: AllowList, allow_http: bool, lookup: RemoteLookup) -> Self {
        Self {
            allow,
            allow_http,
            clients: PinnedClients::new(),
            lookup,
            user_agent: format!("Loopdesk-Epilogs/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Makes the attempt; never fails, the report says how it went.
    pub async fn attempt(&self, scope: &Scope, job: &JobRow) -> AttemptReport {
        let attempted_at = Utc::now();
        let started = tokio::time::Instant::now();
        let answer = self.send(scope, job).await;
        AttemptReport {
            attempted_at,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            answer,
        }
    }

    async fn send(&self, scope: &Scope, job: &JobRow) -> Answer {
        let remote = match self.lookup.get(scope, &job.intervention).await {
            Ok(remote) => remote,
            Err(e @ LookupError::NotFound(_)) => return Answer::NotSent(e.to_string()),
            Err(e @ LookupError::Unavailable(_)) => return Answer::Failed(e.to_string()),
        };
        // The definition as it stands now wins over the submission's copy, so a URL or
        // token fixed by staff is used by their retry.
        let Some(url) = remote
            .remote_epilog_url
            .as_deref()
            .filter(|_| remote.remote_enabled)
        else {
            return Answer::NotSent(
                "the intervention's remote is disabled or has no epilog URL".into(),
            );
        };
        let Some(token) = remote.remote_bearer_token.as_ref().map(|t| t.0.as_str()) else {
            return Answer::NotSent("the intervention has no remote bearer token".into());
        };
        let timeout = Duration::from_secs(
            u64::try_from(remote.remote_timeout_seconds.clamp(1, 120)).unwrap_or(30),
        );
        let answer = match tokio::time::timeout(timeout, self.post(job, url, token)).await {
            Ok(answer) => answer,
            Err(_) => Answer::Failed(format!("timed out after {} s", timeout.as_secs())),
        };
        redact(answer, token)
    }

    async fn post(&self, job: &JobRow, url: &str, token: &str) -> Answer {
        let url = match reqwest::Url::parse(url) {
            Ok(url) => url,
            Err(e) => return Answer::NotSent(format!("the epilog URL is not valid: {e}")),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Answer::Refused(format!("`{other}://` epilog URLs are not allowed")),
        }
        let addrs = match resolve_checked(&url, &self.allow).await {
            Ok(addrs) => addrs,
            Err(refusal) => return Answer::Refused(refusal.to_string()),
        };
        let client = match self.clients.client_for(&url, &addrs) {
            Ok(client) => client,
            Err(e) => return Answer::Failed(format!("could not build a client: {e}")),
        };
        let body = match serde_json::to_vec(&EpilogBody::of(job)) {
            Ok(body) => body,
            Err(e) => return Answer::NotSent(format!("could not encode the body: {e}")),
        };
        let mut request = client
            .post(url)
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, &self.user_agent)
            // Stable across retries: the remote can tell a repeat from a new decision.
            .header("idempotency-key", &job.id);
        if let Some(traceparent) = &job.traceparent {
            request = request.header("traceparent", traceparent);
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return Answer::Failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        while body.len() < BODY_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    return Answer::Failed(format!("reading the answer failed: {}", describe(&e)));
                }
            }
        }
        Answer::Answered {
            status,
            body,
            retry_after,
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    // No URL in the text: it could carry credentials in its query.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Takes the token out of anything the remote or the network said, should it echo it:
/// what is recorded on an attempt must never hold it.
fn redact(answer: Answer, token: &str) -> Answer {
    if token.is_empty() {
        return answer;
    }
    let clean = |text: String| text.replace(token, "[redacted]");
    match answer {
        Answer::Refused(t) => Answer::Refused(clean(t)),
        Answer::NotSent(t) => Answer::NotSent(clean(t)),
        Answer::Failed(t) => Answer::Failed(clean(t)),
        Answer::Answered {
            status,
            body,
            retry_after,
        } => {
            let body = match String::from_utf8(body) {
                Ok(text) if text.contains(token) => clean(text).into_bytes(),
                Ok(text) => text.into_bytes(),
                Err(e) => e.into_bytes(),
            };
            Answer::Answered {
                status,
                body,
                retry_after,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echoed_token_is_redacted() {
        let answer = Answer::Answered {
            status: 401,
            body: b"bad token s3cret-token".to_vec(),
            retry_after: None,
        };
        let Answer::Answered { body, .. } = redact(answer, "s3cret-token") else {
            return;
        };
        assert_eq!(String::from_utf8_lossy(&body), "bad token [redacted]");
    }
}
