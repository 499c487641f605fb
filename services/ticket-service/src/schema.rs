//! Diesel's view of the ticket service's tables (schema `tickets` by default).

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
    }
}
