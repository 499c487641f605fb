//! Diesel's view of the intervention service's tables (schema `interventions` by
//! default; every connection's search_path is that schema).

diesel::table! {
    interventions (tenant, env, name) {
        tenant -> Text,
        env -> Text,
        name -> Text,
        title -> Text,
        queue_name -> Text,
        notify_inbox_managers -> Bool,
        fma_inbox_managers -> Bool,
        remote_enabled -> Bool,
        remote_name -> Nullable<Text>,
        remote_epilog_url -> Nullable<Text>,
        remote_bearer_token_enc -> Nullable<Bytea>,
        remote_timeout_seconds -> Integer,
        version -> BigInt,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    intervention_fields (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        intervention -> Text,
        kind -> Text,
        name -> Nullable<Text>,
        label -> Nullable<Text>,
        width_px -> Nullable<Integer>,
        required -> Bool,
        ordinal -> Integer,
    }
}

diesel::table! {
    intervention_templates (tenant, env, intervention, kind) {
        tenant -> Text,
        env -> Text,
        intervention -> Text,
        kind -> Text,
        body -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    intervention_payloads (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        ticket_id -> Text,
        intervention -> Text,
        uid -> Text,
        accepted -> Bool,
        data -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    intervention_tickets (ticket_id) {
        ticket_id -> Text,
        tenant -> Text,
        env -> Text,
        status -> Text,
        sequence -> BigInt,
        updated_at -> Timestamptz,
    }
}
