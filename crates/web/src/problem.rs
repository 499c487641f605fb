//! RFC 9457 `application/problem+json` answers with a stable machine `code`.

use std::fmt;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use loopdesk_contracts::{DomainError, FieldError};
use serde::Serialize;

/// Base of every problem `type` URI; the code is appended.
pub const PROBLEM_TYPE_BASE: &str = "https://docs.loopdesk.dev/errors/";

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document plus the headers that go with it. Boxed, so `Result<T, Problem>`
/// stays small on the happy path.
#[derive(Debug, Clone)]
pub struct Problem(Box<Document>);

#[derive(Debug, Clone, Serialize)]
struct Document {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(flatten)]
    extensions: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    retry_after: Option<u64>,
    #[serde(skip)]
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
}

impl Problem {
    /// A problem with the given status, stable code, title and detail.
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Document {
            kind: format!("{PROBLEM_TYPE_BASE}{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            retry_after: None,
            headers: Vec::new(),
        }))
    }

    /// 422 `validation_failed` listing each invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}` {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "The request is invalid",
            detail,
        );
        p.0.errors = errors;
        p
    }

    /// 404 `not_found` for a resource that does not exist for this caller.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no such {what}"),
        )
    }

    /// 400 `invalid_cursor`: a paging cursor that no earlier page handed out; `detail` says
    /// which parameter carries one.
    pub fn invalid_cursor(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "Invalid cursor",
            detail,
        )
    }

    /// 503 `service_unavailable` with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Temporarily unavailable",
            detail,
        )
        .retry_after(retry_after_secs)
    }

    /// 500 that says nothing about the cause (it is logged, not returned).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "something went wrong on our side; it has been logged",
        )
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.0.retry_after = Some(secs);
        self
    }

    /// Adds a response header (e.g. `WWW-Authenticate`); an invalid value is dropped.
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(value) = header::HeaderValue::from_str(value) {
            self.0.headers.push((name, value));
        }
        self
    }

    /// Adds a member to the document.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let mut p = Problem::new(status, &e.code, &e.title, e.detail);
        p.0.errors = e.errors;
        p.0.extensions = e.extensions;
        p
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.0.status, self.0.code, self.0.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        for (name, value) in &self.0.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        if let Some(secs) = self.0.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(&self.0)
    }
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_cursor_is_a_400_with_its_own_code_and_the_given_detail() {
        let problem = Problem::invalid_cursor("`cursor` must come from a previous page");
        assert_eq!(problem.status(), StatusCode::BAD_REQUEST);
        let document = serde_json::to_value(&problem).unwrap_or_default();
        assert_eq!(
            document,
            serde_json::json!({
                "type": "https://docs.loopdesk.dev/errors/invalid_cursor",
                "title": "Invalid cursor",
                "status": 400,
                "detail": "`cursor` must come from a previous page",
                "code": "invalid_cursor",
            })
        );
    }
}
