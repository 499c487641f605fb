//! What an endpoint may be: the owner checks every field and reports every problem at
//! once, as a 422 the gateway passes on.

use std::collections::BTreeMap;

use loopdesk_contracts::{
    DomainError, FieldError,
    webhooks::{ALL_TICKET_EVENTS, TICKET_EVENT_TYPES},
};
use reqwest::header::{HeaderName, HeaderValue};

/// Headers Loopdesk sets on every delivery; an endpoint cannot override them.
const RESERVED_HEADERS: [&str; 11] = [
    "content-type",
    "content-length",
    "user-agent",
    "traceparent",
    "tracestate",
    "host",
    "connection",
    "transfer-encoding",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];
const MAX_URL_LEN: usize = 2048;
const MAX_HEADERS: usize = 20;
const MAX_HEADER_VALUE_LEN: usize = 1000;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// Collects field errors.
#[derive(Debug, Default)]
pub struct Checks {
    allow_http: bool,
    errors: Vec<FieldError>,
}

impl Checks {
    /// Checks under the service's URL policy: `https` only, unless `allow_http`.
    pub fn new(allow_http: bool) -> Self {
        Self {
            allow_http,
            errors: Vec::new(),
        }
    }

    /// Checks a target URL. Its addresses are checked at each attempt, not here: DNS
    /// answers change.
    pub fn url(&mut self, url: &str) {
        let problem = match reqwest::Url::parse(url) {
            _ if url.len() > MAX_URL_LEN => {
                Some(format!("must be at most {MAX_URL_LEN} characters"))
            }
            Err(_) => Some("must be an absolute http(s) URL".to_owned()),
            Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
                Some("must name a host".to_owned())
            }
            Ok(parsed) => match parsed.scheme() {
                "https" => None,
                "http" if self.allow_http => None,
                "http" => Some("must use https".to_owned()),
                _ => Some("must be an http(s) URL".to_owned()),
            },
        };
        if let Some(message) = problem {
            self.errors.push(FieldError::new("url", message));
        }
    }

    /// Checks an event filter: known `ticket.*` types or the wildcard, at least one.
    pub fn event_types(&mut self, types: &[String]) {
        if types.is_empty() {
            self.errors.push(FieldError::new(
                "event_types",
                "must name at least one event type (or `ticket.*`)",
            ));
        }
        for (i, kind) in types.iter().enumerate() {
            if kind != ALL_TICKET_EVENTS && !TICKET_EVENT_TYPES.contains(&kind.as_str()) {
                self.errors.push(FieldError::new(
                    format!("event_types[{i}]"),
                    format!("`{kind}` is not an event type; use one of ticket.created, ticket.status_changed, ... or `ticket.*`"),
                ));
            }
        }
    }

    /// Checks custom headers: valid names and values, none of Loopdesk's own.
    pub fn headers(&mut self, headers: &BTreeMap<String, String>) {
        if headers.len() > MAX_HEADERS {
            self.errors.push(FieldError::new(
                "headers",
                format!("at most {MAX_HEADERS} headers"),
            ));
        }
        for (name, value) in headers {
            let field = format!("headers.{name}");
            let lower = name.to_ascii_lowercase();
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.errors
                    .push(FieldError::new(field, "is not a valid header name"));
            } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                self.errors.push(FieldError::new(
                    field,
                    "is set by Loopdesk and cannot be overridden",
                ));
            } else if value.len() > MAX_HEADER_VALUE_LEN || HeaderValue::from_str(value).is_err() {
                self.errors.push(FieldError::new(
                    field,
                    format!("must be visible ASCII, at most {MAX_HEADER_VALUE_LEN} characters"),
                ));
            }
        }
    }

    /// Checks a description.
    pub fn description(&mut self, description: Option<&str>) {
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            self.errors.push(FieldError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
    }

    /// The 422 refusal listing every problem, if there is any.
    pub fn finish(self) -> Result<(), Box<DomainError>> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let mut error = DomainError::new(
            422,
            "validation_failed",
            "Validation failed",
            "the webhook endpoint has invalid fields",
        );
        error.errors = self.errors;
        Err(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn fields(checks: Checks) -> Vec<String> {
        checks
            .finish()
            .err()
            .map(|e| e.errors.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reports_every_bad_field() {
        let mut checks = Checks::new(false);
        checks.url("http://example.com/hook");
        checks.event_types(&["ticket.created".into(), "ticket.nope".into()]);
        checks.headers(&[("webhook-id".to_owned(), "x".to_owned())].into());
        assert_eq!(
            fields(checks),
            ["url", "event_types[1]", "headers.webhook-id"]
        );
    }

    #[test]
    fn accepts_a_good_endpoint() {
        let mut checks = Checks::new(false);
        checks.url("https://example.com/hook");
        checks.event_types(&["ticket.*".into()]);
        checks.headers(&[("X-Team".to_owned(), "support".to_owned())].into());
        checks.description(Some("ours"));
        assert!(checks.finish().is_ok());
    }

    #[test]
    fn plain_http_only_when_allowed() {
        let mut checks = Checks::new(true);
        checks.url("http://127.0.0.1:9/");
        assert!(checks.finish().is_ok());
        let mut checks = Checks::new(true);
        checks.url("ftp://example.com/");
        assert_eq!(fields(checks), ["url"]);
    }
}
