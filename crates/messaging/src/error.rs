//! Errors of the messaging boundary.

use std::time::Duration;

/// Why a publish did not end with a confirmed, routed message.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Not connected, the channel closed, or no confirm arrived in time: try again later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused to take responsibility for the message.
    #[error("the broker nacked the message")]
    Nacked,
    /// No queue is bound for the message (it came back as `basic.return`).
    #[error("no queue is bound for routing key `{routing_key}`")]
    Unroutable {
        /// The routing key nothing was bound to.
        routing_key: String,
    },
    /// The message cannot be put on the wire (e.g. an AMQP short string over 255 bytes).
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl PublishError {
    /// True when the failure is the broker's state, not the message: the caller may retry
    /// later (the gateway answers 503 with `Retry-After`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn unavailable(error: impl std::fmt::Display) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// Errors of broker operations other than publishing.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The broker connection was not up within the given time.
    #[error("not connected to the broker within {0:?}")]
    NotConnected(Duration),
    /// The configured URL cannot be parsed (its text is not repeated: it holds a password).
    #[error("the broker url is invalid")]
    InvalidUrl,
    /// A name derived from the configuration cannot be used by AMQP.
    #[error("invalid name `{0}`: {1}")]
    InvalidName(String, String),
    /// An AMQP operation failed.
    #[error("broker operation failed: {0}")]
    Amqp(#[from] lapin::Error),
    /// A message could not be republished.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_unavailable() {
        assert!(PublishError::Unavailable("x".into()).is_unavailable());
        assert!(!PublishError::Nacked.is_unavailable());
        assert!(
            !PublishError::Unroutable {
                routing_key: "k".into()
            }
            .is_unavailable()
        );
    }
}
