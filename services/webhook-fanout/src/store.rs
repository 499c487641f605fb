//! What every store module shares: its error, and listing cursors.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A stored row no longer parses: a bug or a hand edit, never input.
    #[error("row {id} is corrupt: {what}")]
    Corrupt {
        /// The row's id.
        id: String,
        /// The unparsable column.
        what: &'static str,
    },
    /// The listing cursor was not one of ours.
    #[error("the cursor is not valid")]
    BadCursor,
}

impl StoreError {
    /// A corrupt-row error.
    pub fn corrupt(id: &str, what: &'static str) -> Self {
        StoreError::Corrupt {
            id: id.to_owned(),
            what,
        }
    }
}

const VERSION: &str = "v1:";

/// The opaque cursor continuing after the row with `last_id`.
pub fn encode_cursor(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{last_id}"))
}

/// The last id of a cursor made by [`encode_cursor`] for ids starting with `prefix`.
pub fn decode_cursor(text: &str, prefix: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let id = text.strip_prefix(VERSION).ok_or(StoreError::BadCursor)?;
    if !id.starts_with(prefix) || id.len() > 64 {
        return Err(StoreError::BadCursor);
    }
    Ok(id.to_owned())
}

/// Splits `limit + 1` loaded rows into a page: whether more follow, and the cursor.
pub fn paginate<T>(
    mut rows: Vec<T>,
    limit: i64,
    id_of: impl Fn(&T) -> String,
) -> (Vec<T>, bool, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next = if has_more {
        rows.last().map(|r| encode_cursor(&id_of(r)))
    } else {
        None
    };
    (rows, has_more, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = encode_cursor("whe_01");
        assert_eq!(
            decode_cursor(&cursor, "whe_").ok(),
            Some("whe_01".to_owned())
        );
        assert!(decode_cursor(&cursor, "dlv_").is_err());
        assert!(decode_cursor("not base64!", "whe_").is_err());
    }
}
