//! Why a command or an event was not applied, and what the consumer does about each.

use loopdesk_contracts::{DomainError, FieldError};
use loopdesk_messaging::Outcome;

/// Why a message was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The owner refuses it: answer the sender, do not retry.
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

    /// 404 naming what was not found.
    pub fn not_found(what: &str) -> Self {
        Self::rejected(DomainError::new(
            404,
            "not_found",
            "Not found",
            format!("no such {what}"),
        ))
    }

    /// 409 with a stable code.
    pub fn conflict(code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self::rejected(DomainError::new(409, code, title, detail))
    }

    /// 422 listing every invalid field.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}` {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut error =
            DomainError::new(422, "validation_failed", "The request is invalid", detail);
        error.errors = errors;
        Self::rejected(error)
    }

    /// Anything unexpected (a corrupt row, an undecodable stored value).
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        ApplyError::Failed(reason.to_string())
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

impl From<DomainError> for ApplyError {
    fn from(e: DomainError) -> Self {
        Self::rejected(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_maps_to_its_consumer_outcome() {
        assert!(matches!(
            ApplyError::not_found("thing").outcome(),
            Outcome::Ack
        ));
        assert!(matches!(
            ApplyError::Unavailable("down".into()).outcome(),
            Outcome::Backoff { .. }
        ));
        assert!(matches!(
            ApplyError::failed("odd").outcome(),
            Outcome::Retry { .. }
        ));
        let query = diesel::result::Error::NotFound;
        assert!(matches!(ApplyError::from(query), ApplyError::Failed(_)));
    }
}
