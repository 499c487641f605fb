//! Listing cursors: opaque to callers, a position in id order to us. Ids are ULIDs and
//! listings are newest first, so rows created mid-listing sort before the cursor and
//! can neither be skipped nor repeated.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use loopdesk_contracts::ids::TicketId;

const VERSION: &str = "v1:";

/// The position after which the next page starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The last id of the previous page.
    pub last_id: String,
}

impl Cursor {
    /// The cursor that continues after `id`.
    pub fn after(id: &TicketId) -> Self {
        Self {
            last_id: id.to_string(),
        }
    }

    /// The opaque form handed to callers.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{VERSION}{}", self.last_id))
    }

    /// Parses an opaque ticket cursor; `None` if it is not one of ours.
    pub fn decode(text: &str) -> Option<Self> {
        Self::decode_as::<TicketId>(text)
    }

    /// The cursor that continues after the id `id` of any kind.
    pub fn after_id(id: &impl std::fmt::Display) -> Self {
        Self {
            last_id: id.to_string(),
        }
    }

    /// Parses an opaque cursor over ids of type `T`; `None` if it is not one of ours.
    pub fn decode_as<T: std::str::FromStr + std::fmt::Display>(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let id: T = text.strip_prefix(VERSION)?.parse().ok()?;
        Some(Self::after_id(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = Cursor::after(&TicketId::generate());
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not-base64!"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1:tkt_nope")), None);
    }
}
