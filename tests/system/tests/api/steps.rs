//! Request steps shared by the ticket lifecycle tests (threads, transitions, PATCH,
//! SLA, events): each sends one request through the gateway with a fresh idempotency key.

use std::collections::BTreeMap;

use loopdesk_contracts::events::TicketEvent;
use serde_json::{Value, json};

use crate::helpers::{EventTap, TestApp, ticket_body};

/// Creates a ticket and returns its id.
pub async fn new_ticket(app: &TestApp, key: &str, subject: &str) -> String {
    let created = app.create_ticket(key, &ticket_body(subject)).await;
    assert_eq!(created.status(), 201);
    let ticket: Value = created.json().await.unwrap();
    ticket["id"].as_str().unwrap().to_owned()
}

/// A fresh idempotency key.
pub fn fresh_key() -> String {
    ulid::Ulid::new().to_string()
}

/// `POST /v1/tickets/{id}/transitions`.
pub async fn transition(app: &TestApp, key: &str, id: &str, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/tickets/{id}/transitions"),
        key,
        Some(&fresh_key()),
        body,
    )
    .await
}

/// Moves a ticket to `to` and checks it moved.
pub async fn move_to(app: &TestApp, key: &str, id: &str, to: &str) {
    let moved = transition(app, key, id, &json!({"to": to})).await;
    assert_eq!(
        moved.status(),
        200,
        "-> {to}: {}",
        moved.text().await.unwrap()
    );
}

/// `POST /v1/tickets/{id}/responses`.
pub async fn respond(app: &TestApp, key: &str, id: &str, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/tickets/{id}/responses"),
        key,
        Some(&fresh_key()),
        body,
    )
    .await
}

/// An agent's public reply.
pub fn agent_reply(text: &str) -> Value {
    json!({"kind": "reply", "author": {"type": "agent", "id": "agt_1", "name": "Bo"}, "body": text})
}

/// A customer's message.
pub fn customer_message(text: &str) -> Value {
    json!({"kind": "message", "author": {"type": "customer", "id": "ann@example.com"}, "body": text})
}

/// `PATCH /v1/tickets/{id}` with an optional `If-Match`.
pub async fn patch(
    app: &TestApp,
    key: &str,
    id: &str,
    if_match: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app
        .client
        .patch(format!("{}/v1/tickets/{id}", app.address))
        .bearer_auth(key)
        .header("Idempotency-Key", fresh_key())
        .json(body);
    if let Some(tag) = if_match {
        req = req.header("If-Match", tag);
    }
    req.send().await.unwrap()
}

/// `DELETE path` with a fresh idempotency key.
pub async fn delete(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}{path}", app.address))
        .bearer_auth(key)
        .header("Idempotency-Key", fresh_key())
        .send()
        .await
        .unwrap()
}

/// The ticket as read back, with its ETag.
pub async fn read(app: &TestApp, key: &str, id: &str) -> (Value, String) {
    let read = app.get(&format!("/v1/tickets/{id}"), key).await;
    assert_eq!(read.status(), 200);
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    (read.json().await.unwrap(), etag)
}

/// Runs SQL against the test database (to simulate time passing).
pub async fn sql(app: &TestApp, statement: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Every ticket event published so far, decoded and grouped by ticket id, each ticket's
/// in the order they arrived.
pub async fn events_by_ticket(app: &TestApp, tap: &EventTap) -> BTreeMap<String, Vec<TicketEvent>> {
    app.outbox_drained().await;
    let mut by_ticket: BTreeMap<String, Vec<TicketEvent>> = BTreeMap::new();
    for delivery in tap.settle(app).await {
        if delivery.envelope.kind == "ticket.sentinel" {
            continue; // an earlier settle's marker
        }
        let event: TicketEvent = delivery.json().unwrap();
        assert_eq!(delivery.envelope.kind, event.kind, "AMQP type = event type");
        by_ticket
            .entry(event.data.ticket.id.to_string())
            .or_default()
            .push(event);
    }
    by_ticket
}

/// The types of `events`, in order.
pub fn kinds(events: &[TicketEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}
