//! Diesel's view of the ticket service's tables (schema `tickets` by default). The
//! generated `search` tsvector columns are left out: only raw SQL filters read them.

diesel::table! {
    tickets (id) {
        id -> Text,
        tenant -> Text,
        env -> Text,
        subject -> Text,
        description -> Text,
        requester_email -> Text,
        requester_name -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        queue -> Text,
        tags -> Array<Text>,
        source -> Text,
        metadata -> Jsonb,
        version -> BigInt,
        event_sequence -> BigInt,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        assignee -> Nullable<Text>,
        due_at -> Nullable<Timestamptz>,
        follow_up_of -> Nullable<Text>,
        solved_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        first_response_due_at -> Nullable<Timestamptz>,
        resolution_due_at -> Nullable<Timestamptz>,
        first_responded_at -> Nullable<Timestamptz>,
        first_response_breached_at -> Nullable<Timestamptz>,
        resolution_breached_at -> Nullable<Timestamptz>,
        sla_paused_at -> Nullable<Timestamptz>,
        sla_paused_ms -> BigInt,
    }
}

diesel::table! {
    responses (id) {
        id -> Text,
        ticket_id -> Text,
        tenant -> Text,
        env -> Text,
        kind -> Text,
        public -> Bool,
        author -> Jsonb,
        body -> Text,
        attachments -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_entries (id) {
        id -> Text,
        response_id -> Text,
        ticket_id -> Text,
        body -> Text,
        actor -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    status_history (id) {
        id -> BigInt,
        ticket_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        actor -> Jsonb,
        at -> Timestamptz,
    }
}

diesel::table! {
    sla_policies (tenant, env, priority) {
        tenant -> Text,
        env -> Text,
        priority -> Text,
        first_response_minutes -> Integer,
        resolution_minutes -> Integer,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(responses -> tickets (ticket_id));
diesel::joinable!(audit_entries -> responses (response_id));
diesel::allow_tables_to_appear_in_same_query!(
    tickets,
    responses,
    audit_entries,
    status_history,
    sla_policies
);
