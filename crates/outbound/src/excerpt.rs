//! The start of an answer's body, kept on an attempt for whoever debugs the integration.

/// Most of an answer's body kept.
pub const EXCERPT_BYTES: usize = 1024;

/// Reads at most [`EXCERPT_BYTES`] of the body (lossy UTF-8); `None` when it is empty.
pub async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    if bytes.is_empty() {
        return None;
    }
    bytes.truncate(EXCERPT_BYTES);
    Some(truncate_text(&bytes))
}

/// Lossy UTF-8 of `bytes`, at most [`EXCERPT_BYTES`] long.
pub fn truncate_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT_BYTES)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    // A cut multi-byte character shows as one replacement character at most.
    while text.len() > EXCERPT_BYTES {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_cut_bodies_stay_within_the_bound() {
        let long = "é".repeat(EXCERPT_BYTES);
        let text = truncate_text(long.as_bytes());
        assert!(text.len() <= EXCERPT_BYTES);
        assert!(text.starts_with("éé"));
        assert_eq!(truncate_text(b"short"), "short");
    }
}
