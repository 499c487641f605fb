//! Answering the sender of a command.

use loopdesk_messaging::{Envelope, OutgoingMessage, Publisher};
use serde::Serialize;

/// Sends `reply` to the request's `reply_to`, if it asked for one. A lost reply only
/// turns the caller's 201 into a 202: the change is committed either way, so failures
/// are logged, not returned.
pub async fn answer<R: Serialize>(
    publisher: &Publisher,
    request: &Envelope,
    kind: &str,
    reply: &R,
) {
    let body = match serde_json::to_vec(reply) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, kind, "could not encode a reply");
            return;
        }
    };
    if let Some(message) = OutgoingMessage::reply_to(request, kind, body)
        && let Err(e) = publisher.publish(&message).await
    {
        tracing::warn!(error = %e, kind, "could not send a reply");
    }
}
