//! Domain errors that cross a queue: the owner of a resource answers a command with one
//! of these, and the gateway turns it into an RFC 9457 problem without reinterpreting it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field (`requester.email`, `tags[3]`).
    pub field: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A refusal by the owning service, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainError {
    /// HTTP status the gateway answers with: 4xx, or 5xx when the owner cannot act on a
    /// valid request (e.g. a sealed secret it cannot open).
    pub status: u16,
    /// Stable machine code, e.g. `illegal_transition`.
    pub code: String,
    /// Short human summary.
    pub title: String,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Per-field problems, for validation failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for the problem document (e.g. `from`/`to`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl DomainError {
    /// A refusal without field errors or extensions.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            title: title.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }
}
