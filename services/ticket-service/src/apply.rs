//! How applying a command can fail, and what the consumer does about each.

use loopdesk_contracts::DomainError;
use loopdesk_messaging::Outcome;

use crate::tickets::store::{CorruptRow, StoreError};

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The owner refuses it; answer the sender, do not retry.
    #[error("rejected: {}", .0.code)]
    Rejected(DomainError),
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

impl From<CorruptRow> for ApplyError {
    fn from(e: CorruptRow) -> Self {
        ApplyError::Failed(e.to_string())
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
