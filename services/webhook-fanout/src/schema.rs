//! Diesel's view of webhook-fanout's tables (schema `webhooks` by default).

diesel::table! {
    endpoints (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Array<Text>,
        payload_style -> Text,
        headers -> Jsonb,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Bytea,
        previous_secret -> Nullable<Bytea>,
        previous_secret_expires_at -> Nullable<Timestamptz>,
        failing_since -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        #[sql_name = "type"]
        kind -> Text,
        sequence -> BigInt,
        ticket_id -> Nullable<Text>,
        created_at -> Timestamptz,
        received_at -> Timestamptz,
        traceparent -> Nullable<Text>,
        body -> Text,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        tenant -> Text,
        env -> Text,
        event_type -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamptz>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> BigInt,
        delivery_id -> Text,
        attempted_at -> Timestamptz,
        succeeded -> Bool,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        refused_reason -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
    }
}

diesel::joinable!(deliveries -> endpoints (endpoint_id));
diesel::joinable!(deliveries -> events (event_id));
diesel::joinable!(delivery_attempts -> deliveries (delivery_id));
diesel::allow_tables_to_appear_in_same_query!(endpoints, events, deliveries, delivery_attempts);
