//! Diesel table definitions of the storage crate's own tables.
//!
//! Unqualified on purpose: the pool's `search_path` resolves them in the service's schema.

diesel::table! {
    /// Messages committed with a domain change, waiting for the relay to publish them.
    outbox (id) {
        id -> BigInt,
        message_id -> Text,
        route_kind -> Text,
        routing_key -> Text,
        kind -> Text,
        correlation_id -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        occurred_at -> Timestamptz,
        tenant -> Text,
        env -> Text,
        schema_version -> BigInt,
        traceparent -> Nullable<Text>,
        tracestate -> Nullable<Text>,
        body -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Messages a consumer has already applied, so a redelivery is not applied twice.
    inbox (consumer, message_id) {
        consumer -> Text,
        message_id -> Text,
        processed_at -> Timestamptz,
    }
}
