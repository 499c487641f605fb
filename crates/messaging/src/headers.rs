//! The envelope on the wire: AMQP properties and headers, both ways.

use chrono::{DateTime, Utc};
use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

use crate::envelope::Envelope;

/// Header `tenant`.
pub const TENANT: &str = "tenant";
/// Header `env`.
pub const ENV: &str = "env";
/// Header `schema_version`.
pub const SCHEMA_VERSION: &str = "schema_version";
/// Header `timestamp_ms`: the AMQP timestamp only has seconds.
pub const TIMESTAMP_MS: &str = "timestamp_ms";
/// Header `traceparent` (W3C).
pub const TRACEPARENT: &str = "traceparent";
/// Header `tracestate` (W3C).
pub const TRACESTATE: &str = "tracestate";
/// Header with the delivery attempt a retried message is on (absent: 1).
pub const ATTEMPT: &str = "x-loopdesk-attempt";
/// Header with the reason a message was dead-lettered.
pub const ERROR: &str = "x-loopdesk-error";
/// Header with the exchange a dead-lettered message was first published to.
pub const ORIGINAL_EXCHANGE: &str = "x-loopdesk-original-exchange";
/// Header with the routing key a dead-lettered message was first published with.
pub const ORIGINAL_ROUTING_KEY: &str = "x-loopdesk-original-routing-key";

/// The content type of every Loopdesk message.
pub const CONTENT_TYPE: &str = "application/json";
const PERSISTENT: u8 = 2;

/// Why an incoming message's envelope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required property or header is absent (or empty).
    #[error("the envelope has no `{0}`")]
    Missing(&'static str),
    /// A property or header has the wrong type or an impossible value.
    #[error("the envelope's `{0}` is invalid")]
    Invalid(&'static str),
    /// A value is too long for an AMQP short string (255 bytes).
    #[error("`{0}` is longer than 255 bytes")]
    TooLong(&'static str),
}

/// `value` as an AMQP short string, refusing (rather than panicking on) what is too long.
pub(crate) fn short(field: &'static str, value: &str) -> Result<ShortString, EnvelopeError> {
    ShortString::try_new(value).map_err(|_| EnvelopeError::TooLong(field))
}

/// The AMQP properties that carry `envelope`: persistent JSON with every header set.
pub(crate) fn to_properties(envelope: &Envelope) -> Result<BasicProperties, EnvelopeError> {
    let mut headers = FieldTable::default();
    put_str(&mut headers, TENANT, &envelope.tenant);
    put_str(&mut headers, ENV, &envelope.env);
    put_int(
        &mut headers,
        SCHEMA_VERSION,
        i64::from(envelope.schema_version),
    );
    put_int(
        &mut headers,
        TIMESTAMP_MS,
        envelope.timestamp.timestamp_millis(),
    );
    if let Some(value) = &envelope.traceparent {
        put_str(&mut headers, TRACEPARENT, value);
    }
    if let Some(value) = &envelope.tracestate {
        put_str(&mut headers, TRACESTATE, value);
    }

    let mut properties = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(short("message_id", &envelope.message_id)?)
        .with_type(short("type", &envelope.kind)?)
        .with_timestamp(u64::try_from(envelope.timestamp.timestamp()).unwrap_or(0))
        .with_headers(headers);
    if let Some(value) = &envelope.correlation_id {
        properties = properties.with_correlation_id(short("correlation_id", value)?);
    }
    if let Some(value) = &envelope.reply_to {
        properties = properties.with_reply_to(short("reply_to", value)?);
    }
    Ok(properties)
}

/// Reads the envelope back from a received message's properties.
pub(crate) fn from_properties(properties: &BasicProperties) -> Result<Envelope, EnvelopeError> {
    let empty = FieldTable::default();
    let headers = properties.headers().as_ref().unwrap_or(&empty);
    let required = |value: &Option<ShortString>, field| {
        value
            .as_ref()
            .map(|v| v.as_str().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(EnvelopeError::Missing(field))
    };
    let required_header = |field| {
        get_str(headers, field)
            .filter(|v| !v.is_empty())
            .ok_or(EnvelopeError::Missing(field))
    };

    let timestamp = match get_int(headers, TIMESTAMP_MS) {
        Some(ms) => DateTime::<Utc>::from_timestamp_millis(ms),
        None => {
            let seconds = properties
                .timestamp()
                .ok_or(EnvelopeError::Missing("timestamp"))?;
            i64::try_from(seconds)
                .ok()
                .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        }
    }
    .ok_or(EnvelopeError::Invalid("timestamp"))?;
    let schema_version = get_int(headers, SCHEMA_VERSION)
        .ok_or(EnvelopeError::Missing(SCHEMA_VERSION))
        .and_then(|v| u32::try_from(v).map_err(|_| EnvelopeError::Invalid(SCHEMA_VERSION)))?;

    Ok(Envelope {
        message_id: required(properties.message_id(), "message_id")?,
        kind: required(properties.kind(), "type")?,
        correlation_id: properties
            .correlation_id()
            .as_ref()
            .map(|v| v.as_str().to_owned()),
        reply_to: properties
            .reply_to()
            .as_ref()
            .map(|v| v.as_str().to_owned()),
        timestamp,
        tenant: required_header(TENANT)?,
        env: required_header(ENV)?,
        schema_version,
        traceparent: get_str(headers, TRACEPARENT),
        tracestate: get_str(headers, TRACESTATE),
    })
}

/// The attempt a received message is on: its retry header, else 1.
pub(crate) fn attempt_of(properties: &BasicProperties) -> u32 {
    properties
        .headers()
        .as_ref()
        .and_then(|headers| get_int(headers, ATTEMPT))
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .unwrap_or(1)
}

/// A string header (long or short string; RabbitMQ re-encodes what it touches).
pub(crate) fn get_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(value) => String::from_utf8(value.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

/// An integer header, whatever integer width it was encoded with.
pub(crate) fn get_int(headers: &FieldTable, key: &str) -> Option<i64> {
    match headers.inner().get(key)? {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// Sets a string header as a long string (no length limit).
pub(crate) fn put_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(
        key.into(),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

/// Sets an integer header as a signed 64-bit value, which RabbitMQ keeps as is.
pub(crate) fn put_int(headers: &mut FieldTable, key: &str, value: i64) {
    headers.insert(key.into(), AMQPValue::LongLongInt(value));
}

/// `properties` with header `key` removed.
pub(crate) fn without_header(properties: BasicProperties, key: &str) -> BasicProperties {
    let Some(headers) = properties.headers().clone() else {
        return properties;
    };
    let kept = headers
        .inner()
        .iter()
        .filter(|(name, _)| name.as_str() != key)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect::<std::collections::BTreeMap<_, _>>();
    properties.with_headers(FieldTable::from(kept))
}

/// `properties` with extra headers set (existing ones of the same name are replaced).
pub(crate) fn with_headers(
    properties: BasicProperties,
    set: impl FnOnce(&mut FieldTable),
) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    set(&mut headers);
    properties.with_headers(headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn full_envelope() -> Envelope {
        Envelope {
            message_id: "msg_01J9X8Y7Z6W5V4T3S2R1Q0P9N8".into(),
            kind: "ticket.create".into(),
            correlation_id: Some("corr-1".into()),
            reply_to: Some("p.replies.abc".into()),
            timestamp: Utc.timestamp_millis_opt(1_735_000_123_456).unwrap(),
            tenant: "acme".into(),
            env: "live".into(),
            schema_version: 3,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: Some("vendor=abc".into()),
        }
    }

    #[test]
    fn envelope_survives_properties_both_ways() {
        let envelope = full_envelope();
        let properties = to_properties(&envelope).unwrap();

        assert_eq!(
            properties.content_type().as_ref().unwrap().as_str(),
            CONTENT_TYPE
        );
        assert_eq!(*properties.delivery_mode(), Some(2));
        assert_eq!(
            properties.message_id().as_ref().unwrap().as_str(),
            envelope.message_id
        );
        assert_eq!(
            properties.kind().as_ref().unwrap().as_str(),
            "ticket.create"
        );
        assert_eq!(*properties.timestamp(), Some(1_735_000_123));
        let headers = properties.headers().as_ref().unwrap();
        assert_eq!(get_str(headers, TENANT).as_deref(), Some("acme"));
        assert_eq!(get_int(headers, SCHEMA_VERSION), Some(3));

        assert_eq!(from_properties(&properties).unwrap(), envelope);
    }

    #[test]
    fn optional_fields_stay_absent() {
        let mut envelope = full_envelope();
        envelope.correlation_id = None;
        envelope.reply_to = None;
        envelope.traceparent = None;
        envelope.tracestate = None;
        let properties = to_properties(&envelope).unwrap();
        assert!(properties.reply_to().is_none());
        assert!(
            !properties
                .headers()
                .as_ref()
                .unwrap()
                .contains_key(TRACEPARENT)
        );
        assert_eq!(from_properties(&properties).unwrap(), envelope);
    }

    #[test]
    fn seconds_are_enough_without_the_millisecond_header() {
        let envelope = full_envelope();
        let properties = without_header(to_properties(&envelope).unwrap(), TIMESTAMP_MS);
        let read = from_properties(&properties).unwrap();
        assert_eq!(read.timestamp.timestamp(), 1_735_000_123);
    }

    #[test]
    fn missing_message_id_or_tenant_is_refused() {
        let properties = to_properties(&full_envelope()).unwrap();
        let no_id = properties.clone().with_message_id("".into());
        assert_eq!(
            from_properties(&no_id),
            Err(EnvelopeError::Missing("message_id"))
        );
        let no_tenant = without_header(properties, TENANT);
        assert_eq!(
            from_properties(&no_tenant),
            Err(EnvelopeError::Missing(TENANT))
        );
        assert_eq!(
            from_properties(&BasicProperties::default()),
            Err(EnvelopeError::Missing("timestamp"))
        );
    }

    #[test]
    fn overlong_short_strings_are_an_error_not_a_panic() {
        let mut envelope = full_envelope();
        envelope.kind = "k".repeat(300);
        assert_eq!(
            to_properties(&envelope),
            Err(EnvelopeError::TooLong("type"))
        );
    }

    #[test]
    fn attempt_defaults_to_one_and_reads_any_integer() {
        let properties = to_properties(&full_envelope()).unwrap();
        assert_eq!(attempt_of(&properties), 1);
        let retried = with_headers(properties, |h| {
            h.insert(ATTEMPT.into(), AMQPValue::LongInt(3));
        });
        assert_eq!(attempt_of(&retried), 3);
    }
}
