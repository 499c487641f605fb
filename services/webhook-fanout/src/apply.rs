//! How applying a command or an event can fail, and what the consumer does about each.

use loopdesk_contracts::DomainError;
use loopdesk_messaging::Outcome;

use crate::{secrets::SecretError, store::StoreError};

/// Why a message was not applied.
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

    /// A 404 refusal naming what was not found.
    pub fn not_found(what: &str) -> Self {
        ApplyError::Rejected(Box::new(DomainError::new(
            404,
            "not_found",
            "Not found",
            format!("no such {what}"),
        )))
    }

    /// A 409 refusal.
    pub fn conflict(code: &str, title: &str, detail: impl Into<String>) -> Self {
        ApplyError::Rejected(Box::new(DomainError::new(409, code, title, detail)))
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

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) => q.into(),
            other => ApplyError::Failed(other.to_string()),
        }
    }
}

impl From<SecretError> for ApplyError {
    fn from(e: SecretError) -> Self {
        ApplyError::Failed(e.to_string())
    }
}
