//! A strict JSON body extractor: it checks the media type and the size before reading,
//! and names the offending field on a type error, a missing or an unknown field.

use std::ops::Deref;

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
use futures::{StreamExt, future::LocalBoxFuture};
use loopdesk_contracts::FieldError;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// Largest body accepted when no [`BodyLimit`] is registered (256 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// App data setting the largest JSON body, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body of type `T`, parsed strictly.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The raw bytes, for idempotency fingerprints.
    pub raw: web::Bytes,
}

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<BodyLimit>()
            .or_else(|| req.app_data::<web::Data<BodyLimit>>().map(|d| d.get_ref()))
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let checked = check_headers(req, limit);
        let mut payload = payload.take();
        Box::pin(async move {
            checked?;
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "unreadable_body",
                        "The request body could not be read",
                        e.to_string(),
                    )
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            let raw = body.freeze();
            let value = parse(&raw)?;
            Ok(JsonBody { value, raw })
        })
    }
}

fn check_headers(req: &HttpRequest, limit: usize) -> Result<(), Problem> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "Request body too large",
        format!("the body must be at most {limit} bytes"),
    )
}

/// Parses `raw` as `T`, answering 400 for broken JSON and 422 naming the field for a
/// body that is JSON but does not fit `T`.
pub fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Problem> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "Malformed JSON",
            "the request body is empty; send a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(raw);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "Malformed JSON",
                format!(
                    "the body is not valid JSON: {} at line {} column {}",
                    describe(&inner),
                    inner.line(),
                    inner.column()
                ),
            );
        }
        let field = field_of(&path, &inner);
        Problem::validation(vec![FieldError::new(field, describe(&inner))])
    })?;
    de.end().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "Malformed JSON",
            "unexpected content after the JSON value",
        )
    })?;
    Ok(value)
}

/// serde's message without its ` at line X column Y` suffix.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The path of the failing field. For a missing field serde reports the path of the
/// enclosing object, so the field's own name is taken from the message.
fn field_of(path: &str, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let named = message
        .split_once("missing field `")
        .and_then(|(_, rest)| rest.split('`').next())
        .map(str::to_owned);
    let base = if path == "." { "" } else { path };
    match named {
        Some(name) if base.is_empty() => name,
        Some(name) => format!("{base}.{name}"),
        None if base.is_empty() => "body".to_owned(),
        None => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        count: u32,
    }

    fn problem_of(raw: &str) -> Problem {
        parse::<Outer>(raw.as_bytes()).unwrap_err()
    }

    #[test]
    fn broken_json_is_400() {
        let p = problem_of("{\"name\": ");
        assert_eq!(p.status(), StatusCode::BAD_REQUEST);
        assert_eq!(p.code(), "malformed_json");
        assert_eq!(problem_of("").code(), "malformed_json");
        assert_eq!(problem_of("{\"name\":\"a\"} x").code(), "malformed_json");
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let p = problem_of(r#"{"name":"a","inner":{"count":"three"}}"#);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(p.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["errors"][0]["field"], "inner.count");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing = serde_json::to_value(problem_of(r#"{"inner":null}"#)).unwrap();
        assert_eq!(missing["errors"][0]["field"], "name");
        let unknown = serde_json::to_value(problem_of(r#"{"name":"a","colour":1}"#)).unwrap();
        assert_eq!(unknown["errors"][0]["field"], "colour");
        let nested = serde_json::to_value(problem_of(r#"{"name":"a","inner":{}}"#)).unwrap();
        assert_eq!(nested["errors"][0]["field"], "inner.count");
    }
}
