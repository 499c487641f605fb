//! The test's own broker connection: watching events go by, and putting messages on
//! the broker as another service would.

use std::{sync::Arc, time::Duration};

use loopdesk_contracts::{
    Actor, ActorKind,
    commands::{CREATE_TICKET, CreateTicket, TicketCommand},
    ids::{EventId, InterventionPayloadId, MessageId, TicketId},
    interventions::OPEN_PAYLOAD,
    tickets::{NewTicket, Priority, Requester},
};
use loopdesk_messaging::{
    Binding, ConsumerSpec, Delivery, Envelope, Handler, Outcome, OutgoingMessage, Route, RpcClient,
    declare_consumer, spawn_consumer,
};
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{TENANT, TestApp};

impl TestApp {
    /// Starts collecting every event published under this test's prefix that matches
    /// `pattern` (e.g. `ticket.#`).
    pub async fn tap_events(&self, pattern: &str) -> EventTap {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spec = ConsumerSpec {
            name: format!("tap.{}", ulid::Ulid::new().to_string().to_lowercase()),
            bindings: vec![Binding::Event(pattern.to_owned())],
            prefetch: None,
            concurrency: 1,
        };
        // Bound before anything is published, so the tap misses nothing.
        declare_consumer(&self.broker, &spec)
            .await
            .expect("tap declared");
        spawn_consumer(&self.broker, spec, Arc::new(Tap(seen.clone())));
        // A routing key the pattern matches, for the sentinel of `settle`.
        let sentinel_key = pattern.replace(['#', '*'], "sentinel");
        EventTap { seen, sentinel_key }
    }

    /// Publishes a `ticket.*` event of `kind` for `tenant` (test env) straight onto the
    /// events exchange, as the ticket service would; answers its id.
    pub async fn publish_event(&self, tenant: &str, kind: &str) -> String {
        let id = EventId::generate().to_string();
        let body = json!({
            "id": id,
            "type": kind,
            "created_at": chrono::Utc::now(),
            "tenant": tenant,
            "env": "test",
            "sequence": 1,
            "data": {
                "ticket": {"id": TicketId::generate().to_string(), "subject": "Printer on fire"},
                "actor": {"type": "system", "id": "test"},
            }
        });
        let message = OutgoingMessage {
            route: Route::Event(kind.to_owned()),
            envelope: Envelope::new(kind, tenant, "test"),
            body: serde_json::to_vec(&body).unwrap(),
        };
        self.broker
            .publisher()
            .publish(&message)
            .await
            .expect("event published");
        id
    }

    /// Sends `intervention.payload.open` for `tenant` (test env) straight to the
    /// intervention service, as the create flow will, and answers its reply.
    pub async fn open_intervention_payload(
        &self,
        tenant: &str,
        ticket_id: &str,
        intervention: &str,
        uid: &str,
        data: Value,
    ) -> Value {
        let command = json!({
            "type": OPEN_PAYLOAD,
            "id": InterventionPayloadId::generate().to_string(),
            "ticket_id": ticket_id,
            "intervention": intervention,
            "uid": uid,
            "data": data,
            "actor": {"type": "system", "id": "test"},
        });
        let message = OutgoingMessage::json(
            Route::Command(OPEN_PAYLOAD.to_owned()),
            Envelope::new(OPEN_PAYLOAD, tenant, "test"),
            &command,
        )
        .unwrap();
        let reply = RpcClient::start(&self.broker)
            .call(message, Duration::from_secs(10))
            .await
            .expect("the intervention service answers");
        reply.json().unwrap()
    }
}

/// Events seen by a tap.
pub struct EventTap {
    seen: Arc<Mutex<Vec<Delivery>>>,
    sentinel_key: String,
}

impl EventTap {
    /// Everything published before now, once it has all arrived: a sentinel event is
    /// published behind it and, queues being FIFO, its arrival means nothing earlier is
    /// still on the way. Call once the outbox is empty.
    pub async fn settle(&self, app: &TestApp) -> Vec<Delivery> {
        let mut envelope = Envelope::new(self.sentinel_key.clone(), TENANT, "test");
        envelope.message_id = MessageId::generate().to_string();
        let sentinel = envelope.message_id.clone();
        let message = OutgoingMessage {
            route: Route::Event(self.sentinel_key.clone()),
            envelope,
            body: b"{}".to_vec(),
        };
        app.broker
            .publisher()
            .publish(&message)
            .await
            .expect("sentinel published");
        wait_until(Duration::from_secs(15), "the sentinel event", || async {
            let seen = self.seen.lock().await;
            seen.iter()
                .any(|d| d.envelope.message_id == sentinel)
                .then(|| {
                    seen.iter()
                        .filter(|d| d.envelope.message_id != sentinel)
                        .cloned()
                        .collect()
                })
        })
        .await
    }
}

struct Tap(Arc<Mutex<Vec<Delivery>>>);

#[async_trait::async_trait]
impl Handler for Tap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0.lock().await.push(delivery.clone());
        Outcome::Ack
    }
}

/// A plain `ticket.create` of ticket `id` for the default tenant, as the gateway sends it
/// (a fresh message id, no reply queue).
pub fn create_ticket_command(id: TicketId, subject: &str, priority: Priority) -> OutgoingMessage {
    let command = TicketCommand::Create(CreateTicket {
        ticket: NewTicket {
            id,
            subject: subject.into(),
            description: String::new(),
            requester: Requester {
                email: "ann@example.com".into(),
                name: None,
            },
            priority,
            queue: "general".into(),
            tags: vec![],
            source: "api".into(),
            metadata: Default::default(),
            follow_up_of: None,
        },
        actor: Actor {
            kind: ActorKind::System,
            id: "test".into(),
            key_id: None,
        },
        initial_responses: vec![],
    });
    let mut envelope = Envelope::new(CREATE_TICKET, TENANT, "test");
    envelope.message_id = MessageId::generate().to_string();
    OutgoingMessage::json(Route::Command(CREATE_TICKET.into()), envelope, &command).unwrap()
}
