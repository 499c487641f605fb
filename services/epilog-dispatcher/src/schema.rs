//! Diesel's view of epilog-dispatcher's tables (schema `epilogs` by default).

diesel::table! {
    epilog_jobs (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        submission_id -> Text,
        status -> Text,
        payload_id -> Text,
        ticket_id -> Text,
        response_id -> Text,
        intervention -> Text,
        uid -> Text,
        action -> Text,
        data -> Jsonb,
        epilog_url -> Nullable<Text>,
        timeout_seconds -> Integer,
        traceparent -> Nullable<Text>,
        attempts -> Integer,
        round_start -> Integer,
        next_attempt_at -> Nullable<Timestamptz>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        rejection -> Nullable<Text>,
        final_reply -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    epilog_attempts (id) {
        id -> BigInt,
        job_id -> Text,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        refused_reason -> Nullable<Text>,
        response_excerpt -> Nullable<Text>,
    }
}

diesel::joinable!(epilog_attempts -> epilog_jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(epilog_jobs, epilog_attempts);
