//! Real messages, as the services put them on the broker, validate against the committed
//! JSON Schemas in `proto-schemas/`: the commands the gateway sends, the events the
//! owners publish, and replies built from real answers.

use std::{path::Path, sync::Arc, time::Duration};

use loopdesk_contracts::{DomainError, commands::TicketReply, tickets::Ticket};
use loopdesk_messaging::{
    Binding, ConsumerSpec, Delivery, Handler, Outcome, declare_consumer, spawn_consumer,
};
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::{
    helpers::{spawn_app, ticket_body},
    receiver::Receiver,
};

/// The committed schema of one stream.
fn schema(file: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto-schemas")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, file: &str, message: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(message)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{file} rejects {message}: {errors:?}");
}

/// Copies of the commands sent on the commands exchange (a direct exchange delivers to
/// every queue bound with the key, so the owner still gets its own).
struct CommandTap(Arc<Mutex<Vec<Delivery>>>);

#[async_trait::async_trait]
impl Handler for CommandTap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0.lock().await.push(delivery.clone());
        Outcome::Ack
    }
}

#[tokio::test]
async fn published_messages_validate_against_the_committed_schemas() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let spec = ConsumerSpec {
        name: format!(
            "tap.commands.{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ),
        bindings: [
            "ticket.create",
            "ticket.transition",
            "webhook_endpoint.create",
        ]
        .into_iter()
        .map(|c| Binding::Command(c.to_owned()))
        .collect(),
        prefetch: None,
        concurrency: 1,
    };
    declare_consumer(&app.broker, &spec).await.unwrap();
    spawn_consumer(&app.broker, spec, Arc::new(CommandTap(commands.clone())));
    let events = app.tap_events("ticket.#").await;

    let created = app.create_ticket(&key, &ticket_body("Schema check")).await;
    assert_eq!(created.status(), 201);
    let ticket: Value = created.json().await.unwrap();
    let id = ticket["id"].as_str().unwrap();
    let moved = app
        .post(
            &format!("/v1/tickets/{id}/transitions"),
            &key,
            Some(&ulid::Ulid::new().to_string()),
            &json!({"to": "open", "reason": "triaged"}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let receiver = Receiver::start().await;
    app.create_endpoint(
        &key,
        &json!({"url": receiver.url("/hook"), "event_types": ["ticket.created"]}),
    )
    .await;

    // Commands.
    let seen = wait_until(Duration::from_secs(15), "three commands tapped", || async {
        let seen = commands.lock().await;
        (seen.len() >= 3).then(|| seen.clone())
    })
    .await;
    for (kind, file) in [
        ("ticket.create", "ticket.command.v1.json"),
        ("ticket.transition", "ticket.command.v1.json"),
        ("webhook_endpoint.create", "webhook.command.v1.json"),
    ] {
        let delivery = seen
            .iter()
            .find(|d| d.envelope.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} command"));
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_valid(&schema(file), file, &body);
    }

    // Events.
    app.outbox_drained().await;
    let published = events.settle(&app).await;
    let kinds: Vec<&str> = published.iter().map(|d| d.envelope.kind.as_str()).collect();
    assert!(
        kinds.contains(&"ticket.created") && kinds.contains(&"ticket.status_changed"),
        "{kinds:?}"
    );
    let event_schema = schema("ticket.event.v1.json");
    for delivery in &published {
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_valid(&event_schema, "ticket.event.v1.json", &body);
    }

    // Replies, built from what the owner answered.
    let reply_schema = schema("ticket.reply.v1.json");
    let ticket: Ticket = serde_json::from_value(ticket).unwrap();
    let replies = [
        TicketReply::Ticket {
            ticket: Box::new(ticket),
        },
        TicketReply::Rejected {
            error: DomainError::new(
                409,
                "illegal_transition",
                "Illegal transition",
                "closed to open",
            ),
        },
    ];
    for reply in replies {
        assert_valid(
            &reply_schema,
            "ticket.reply.v1.json",
            &serde_json::to_value(&reply).unwrap(),
        );
    }

    // The check bites: a message the schema does not describe is refused.
    let mut broken = serde_json::from_slice::<Value>(&published[0].body).unwrap();
    broken["sequence"] = json!("first");
    assert!(
        !event_schema.is_valid(&broken),
        "a retyped field must not validate"
    );

    app.teardown().await;
}
