//! How applying a command can fail, and what the consumer does about each.

use loopdesk_contracts::{DomainError, FieldError};
use loopdesk_messaging::Outcome;

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The owner refuses it; answer the sender, do not retry.
    #[error("rejected: {}", .0.code)]
    Rejected(Box<DomainError>),
    /// The database is unreachable: hold the message and try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: retry later, then dead-letter.
    #[error("failed: {0}")]
    Failed(String),
}

impl ApplyError {
    /// A refusal.
    pub fn rejected(error: DomainError) -> Self {
        ApplyError::Rejected(Box::new(error))
    }

    /// What the consumer does with the message.
    pub fn outcome(&self) -> Outcome {
        match self {
            ApplyError::Rejected(_) => Outcome::Ack,
            ApplyError::Unavailable(reason) => Outcome::Backoff {
                reason: reason.clone(),
            },
            ApplyError::Failed(reason) => Outcome::Retry {
                reason: reason.clone(),
            },
        }
    }

    /// 404 for a definition that does not exist in the caller's scope.
    pub fn unknown_intervention(name: &str) -> Self {
        ApplyError::rejected(DomainError::new(
            404,
            "intervention_not_found",
            "Intervention not found",
            format!("there is no intervention named `{name}`"),
        ))
    }

    /// 404 for a field that is not one of the definition's.
    pub fn unknown_field(id: &str) -> Self {
        ApplyError::rejected(DomainError::new(
            404,
            "field_not_found",
            "Field not found",
            format!("the intervention has no field `{id}`"),
        ))
    }

    /// 422 listing every invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("`{}` {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = DomainError::new(422, "validation_failed", "Validation failed", detail);
        error.errors = errors;
        ApplyError::rejected(error)
    }
}

impl From<diesel::result::Error> for ApplyError {
    fn from(e: diesel::result::Error) -> Self {
        if loopdesk_storage::is_unavailable(&e) {
            ApplyError::Unavailable(e.to_string())
        } else {
            ApplyError::Failed(e.to_string())
        }
    }
}
