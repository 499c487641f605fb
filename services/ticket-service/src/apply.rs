//! How applying a command can fail: the shared vocabulary of `loopdesk_runtime`, plus
//! how this service's own errors map onto it.

pub use loopdesk_runtime::ApplyError;

use crate::tickets::store::{CorruptRow, StoreError};

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
