//! The list shape every collection answers with.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One page of a collection, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
    /// Pass as `cursor` to get the next page; null on the last.
    pub next_cursor: Option<String>,
}
