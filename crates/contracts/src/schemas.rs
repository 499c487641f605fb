//! JSON Schema of every message body that crosses a queue, as committed under
//! `proto-schemas/`. Each file describes one stream's body type at one schema version,
//! named `{stream}.v{version}.json`; adding a message type means adding a line here.

use schemars::{JsonSchema, Schema, generate::SchemaSettings};

use crate::{
    commands::{TicketCommand, TicketReply},
    epilogs::{EpilogCommand, EpilogOutcome, EpilogReply, InterventionSubmitted},
    events::TicketEvent,
    interventions::{InterventionCommand, InterventionEvent, InterventionReply},
    webhooks::{ThinEvent, WebhookCommand, WebhookReply},
};

/// Every message schema as `(file name, schema)`, sorted by file name so the output is
/// stable.
pub fn all() -> Vec<(&'static str, Schema)> {
    let mut schemas = vec![
        ("ticket.command.v1.json", schema_of::<TicketCommand>()),
        ("ticket.reply.v1.json", schema_of::<TicketReply>()),
        ("ticket.event.v1.json", schema_of::<TicketEvent>()),
        (
            "intervention.command.v2.json",
            schema_of::<InterventionCommand>(),
        ),
        (
            "intervention.reply.v1.json",
            schema_of::<InterventionReply>(),
        ),
        (
            "intervention.event.v1.json",
            schema_of::<InterventionEvent>(),
        ),
        ("epilog.command.v1.json", schema_of::<EpilogCommand>()),
        ("epilog.reply.v1.json", schema_of::<EpilogReply>()),
        ("epilog.event.v1.json", schema_of::<EpilogOutcome>()),
        (
            "intervention.submitted.v1.json",
            schema_of::<InterventionSubmitted>(),
        ),
        ("webhook.command.v1.json", schema_of::<WebhookCommand>()),
        ("webhook.reply.v1.json", schema_of::<WebhookReply>()),
        ("webhook.thin_event.v1.json", schema_of::<ThinEvent>()),
    ];
    schemas.sort_by_key(|(name, _)| *name);
    schemas
}

/// The schema of `T` as producers put it on the wire (JSON Schema 2020-12). The
/// serialize contract is the one that matters on a queue: what consumers will receive.
pub fn schema_of<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn file_names_are_unique_sorted_and_versioned() {
        let names: Vec<&str> = all().into_iter().map(|(name, _)| name).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "duplicate file names: {names:?}");
        assert!(names.is_sorted(), "{names:?}");
        for name in names {
            // `{stream}.v{version}.json`, the naming proto-schemas/README.md documents.
            let stem = name.strip_suffix(".json").unwrap_or_default();
            let (stream, version) = stem.rsplit_once(".v").unwrap_or_default();
            assert!(
                !stream.is_empty()
                    && stream
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
                    && !version.is_empty()
                    && version.bytes().all(|b| b.is_ascii_digit()),
                "{name} is not {{stream}}.v{{version}}.json"
            );
        }
    }

    #[test]
    fn command_schema_names_the_command_type() {
        let (_, schema) = all()
            .into_iter()
            .find(|(name, _)| *name == "ticket.command.v1.json")
            .unwrap();
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.contains("\"ticket.create\""), "{text}");
        assert!(
            schema.get("$schema").is_some(),
            "the meta-schema is declared"
        );
    }
}
