//! Diesel's view of the gateway's tables (schema `gateway` by default).

diesel::table! {
    idempotency_keys (tenant, env, key) {
        tenant -> Text,
        env -> Text,
        key -> Text,
        fingerprint -> Text,
        method -> Text,
        path -> Text,
        resource_id -> Text,
        message_id -> Text,
        locked_until -> Nullable<Timestamptz>,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        response_location -> Nullable<Text>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        sub -> Text,
        abilities -> Array<Text>,
        label -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}
