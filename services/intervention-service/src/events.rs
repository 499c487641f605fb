//! `intervention.*` events, written to the outbox in the transaction of the change.

use chrono::Utc;
use loopdesk_contracts::{
    Actor, Scope,
    ids::EventId,
    interventions::{Intervention, InterventionEvent, InterventionEventData},
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Conn, enqueue};

/// Enqueues the event `kind` about `intervention`, caused by the command `cause`.
pub async fn record(
    conn: &mut Conn,
    scope: &Scope,
    kind: &'static str,
    intervention: &Intervention,
    actor: &Actor,
    cause: &Envelope,
) -> diesel::QueryResult<()> {
    let event = InterventionEvent {
        id: EventId::generate(),
        kind: kind.to_owned(),
        created_at: Utc::now(),
        tenant: scope.tenant.clone(),
        env: scope.env,
        data: InterventionEventData {
            intervention: intervention.clone(),
            actor: actor.clone(),
        },
    };
    let mut envelope = Envelope::new(kind, scope.tenant.as_str(), scope.env.as_str());
    envelope.correlation_id = Some(cause.message_id.clone());
    envelope.traceparent = cause.traceparent.clone();
    envelope.tracestate = cause.tracestate.clone();
    let message = OutgoingMessage {
        route: Route::Event(kind.to_owned()),
        envelope,
        // Serializing our own plain data type cannot fail.
        body: serde_json::to_vec(&event).unwrap_or_default(),
    };
    enqueue(conn, &message).await
}
