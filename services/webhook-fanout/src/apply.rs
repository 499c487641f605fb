//! How applying a command or an event can fail: the shared vocabulary of
//! `loopdesk_runtime`, plus how this service's own errors map onto it.

pub use loopdesk_runtime::ApplyError;

use crate::{secrets::SecretError, store::StoreError};

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
