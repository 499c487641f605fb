//! The event consumer: every `ticket.*` event becomes one stored event and one pending
//! delivery per matching endpoint (written in batches with the events handled at the
//! same time), then the dispatcher is woken.

use std::sync::Arc;

use loopdesk_messaging::{Delivery, Handler, Outcome};
use loopdesk_storage::Pool;

use crate::{
    dispatch::Dispatcher,
    events::EventHead,
    ingest_batch::{Arrival, EventWriter},
};

/// Handles every message on webhook-fanout's event queue.
pub struct EventHandler {
    writer: EventWriter,
    dispatcher: Dispatcher,
}

impl EventHandler {
    /// A handler storing into `pool` (starting its batch writer on the current runtime)
    /// and waking `dispatcher`.
    pub fn new(pool: Pool, dispatcher: Dispatcher) -> Arc<Self> {
        Arc::new(Self {
            writer: EventWriter::start(pool),
            dispatcher,
        })
    }
}

#[async_trait::async_trait]
impl Handler for EventHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let Ok(body) = std::str::from_utf8(&delivery.body) else {
            return Outcome::DeadLetter {
                reason: "event body is not UTF-8".to_owned(),
            };
        };
        let head: EventHead = match serde_json::from_str(body) {
            Ok(head) => head,
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("undecodable event body: {e}"),
                };
            }
        };
        let id = head.id;
        let arrival = Arrival {
            message_id: envelope.message_id.clone(),
            head,
            body: body.to_owned(),
            traceparent: envelope.traceparent.clone(),
        };
        match self.writer.ingest(arrival).await {
            Ok(created) => {
                if created > 0 {
                    self.dispatcher.notify();
                }
                tracing::debug!(event = %id, deliveries = created, "event fanned out");
                Outcome::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, event = %id, "event not stored");
                e.outcome()
            }
        }
    }
}
