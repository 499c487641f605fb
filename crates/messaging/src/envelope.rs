//! The message envelope of DESIGN §3 and the messages that carry it, in and out.

use chrono::{DateTime, SubsecRound, Utc};
use loopdesk_contracts::ids::MessageId;
use serde::{Serialize, de::DeserializeOwned};

use crate::names::Names;

/// What every queue message says about itself, besides its JSON body. It travels as
/// AMQP properties and headers (see [`crate::headers`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// AMQP `message_id`: a `msg_` ULID, stable across retries (the inbox key).
    pub message_id: String,
    /// AMQP `type`: the command or event name, e.g. `ticket.create` or `ticket.created`.
    pub kind: String,
    /// Ties a reply to its request.
    pub correlation_id: Option<String>,
    /// The queue a reply goes to, for commands that expect one.
    pub reply_to: Option<String>,
    /// When the message was created (AMQP timestamp in seconds, header `timestamp_ms` for precision).
    pub timestamp: DateTime<Utc>,
    /// Header `tenant`.
    pub tenant: String,
    /// Header `env` (`test` or `live`).
    pub env: String,
    /// Header `schema_version` of the body.
    pub schema_version: u32,
    /// Header `traceparent` (W3C trace context).
    pub traceparent: Option<String>,
    /// Header `tracestate` (W3C trace context).
    pub tracestate: Option<String>,
}

impl Envelope {
    /// A new envelope with a fresh `msg_` id, the current time and schema version 1.
    pub fn new(kind: impl Into<String>, tenant: impl Into<String>, env: impl Into<String>) -> Self {
        Self {
            message_id: MessageId::generate().to_string(),
            kind: kind.into(),
            correlation_id: None,
            reply_to: None,
            // Milliseconds are what the wire carries: what is sent is what is received.
            timestamp: Utc::now().trunc_subsecs(3),
            tenant: tenant.into(),
            env: env.into(),
            schema_version: 1,
            traceparent: None,
            tracestate: None,
        }
    }
}

/// Where a message is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the commands exchange (direct), routing key = the command name.
    Command(String),
    /// To the events exchange (topic), routing key = the event type.
    Event(String),
    /// To the default exchange, routing key = the reply queue (a request's `reply_to`).
    Reply(String),
}

impl Route {
    pub(crate) fn exchange(&self, names: &Names) -> String {
        match self {
            Self::Command(_) => names.commands_exchange(),
            Self::Event(_) => names.events_exchange(),
            Self::Reply(_) => String::new(),
        }
    }

    pub(crate) fn routing_key(&self) -> &str {
        match self {
            Self::Command(key) | Self::Event(key) | Self::Reply(key) => key,
        }
    }
}

/// A message ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Where it goes.
    pub route: Route,
    /// What it says about itself.
    pub envelope: Envelope,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl OutgoingMessage {
    /// A message whose body is `body` serialized as JSON.
    pub fn json<T: Serialize>(
        route: Route,
        envelope: Envelope,
        body: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            route,
            envelope,
            body: serde_json::to_vec(body)?,
        })
    }

    /// The answer to `request`, or `None` when the request expects none (no `reply_to`).
    /// The reply carries the request's correlation id (or its message id when it has none),
    /// tenant, env and trace context.
    pub fn reply_to(request: &Envelope, kind: impl Into<String>, body: Vec<u8>) -> Option<Self> {
        let reply_queue = request.reply_to.clone()?;
        let mut envelope = Envelope::new(kind, request.tenant.clone(), request.env.clone());
        envelope.correlation_id = Some(
            request
                .correlation_id
                .clone()
                .unwrap_or_else(|| request.message_id.clone()),
        );
        envelope.traceparent = request.traceparent.clone();
        envelope.tracestate = request.tracestate.clone();
        Some(Self {
            route: Route::Reply(reply_queue),
            envelope,
            body,
        })
    }
}

/// A message handed to a consumer's handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// What the message says about itself.
    pub envelope: Envelope,
    /// The JSON body.
    pub body: Vec<u8>,
    /// 1 on the first delivery, +1 after every `Retry` (read from the retry header).
    pub attempt: u32,
    /// The broker's redelivered flag (delivered before, e.g. to a consumer that died).
    pub redelivered: bool,
}

impl Delivery {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn new_envelope_has_a_message_id() {
        let envelope = Envelope::new("ticket.create", "acme", "test");
        assert!(envelope.message_id.parse::<MessageId>().is_ok());
        assert_eq!(envelope.timestamp.timestamp_subsec_nanos() % 1_000_000, 0);
        assert_eq!(envelope.schema_version, 1);
    }

    #[test]
    fn reply_copies_the_request_context() {
        let mut request = Envelope::new("ticket.create", "acme", "live");
        request.reply_to = Some("p.replies.x".into());
        request.traceparent =
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());

        let reply =
            OutgoingMessage::reply_to(&request, "ticket.create.ok", b"{}".to_vec()).unwrap();
        assert_eq!(reply.route, Route::Reply("p.replies.x".into()));
        assert_eq!(
            reply.envelope.correlation_id.as_deref(),
            Some(request.message_id.as_str())
        );
        assert_eq!(reply.envelope.tenant, "acme");
        assert_eq!(reply.envelope.env, "live");
        assert_eq!(reply.envelope.traceparent, request.traceparent);
        assert_ne!(reply.envelope.message_id, request.message_id);

        request.correlation_id = Some("corr-1".into());
        let reply = OutgoingMessage::reply_to(&request, "ok", Vec::new()).unwrap();
        assert_eq!(reply.envelope.correlation_id.as_deref(), Some("corr-1"));
    }

    #[test]
    fn no_reply_without_reply_to() {
        let request = Envelope::new("ticket.created", "acme", "live");
        assert!(OutgoingMessage::reply_to(&request, "x", Vec::new()).is_none());
    }

    #[test]
    fn json_round_trip() {
        let msg = OutgoingMessage::json(
            Route::Event("ticket.created".into()),
            Envelope::new("ticket.created", "acme", "test"),
            &serde_json::json!({"id": "tkt_1"}),
        )
        .unwrap();
        let delivery = Delivery {
            envelope: msg.envelope,
            body: msg.body,
            attempt: 1,
            redelivered: false,
        };
        let value: serde_json::Value = delivery.json().unwrap();
        assert_eq!(value["id"], "tkt_1");
    }
}
