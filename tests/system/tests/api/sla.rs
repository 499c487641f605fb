//! SLA policies, targets, breach detection (once per target, also with two checkers),
//! the clock stopping while pending, and auto-close. Time passing is simulated by moving
//! the stored instants into the past.

use std::time::Duration;

use chrono::{DateTime, Utc};
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{EventTap, TestApp, spawn_app},
    steps::{
        agent_reply, customer_message, events_by_ticket, fresh_key, move_to, new_ticket, read,
        respond, sql,
    },
};

async fn set_policy(app: &TestApp, key: &str, priority: &str, first: i32, resolution: i32) {
    let client = &app.client;
    let answer = client
        .put(format!("{}/v1/sla_policies/{priority}", app.address))
        .bearer_auth(key)
        .header("Idempotency-Key", fresh_key())
        .json(&json!({"first_response_minutes": first, "resolution_minutes": resolution}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
}

/// Breach events per ticket id and target.
async fn breaches(app: &TestApp, tap: &EventTap, id: &str) -> Vec<String> {
    events_by_ticket(app, tap)
        .await
        .remove(id)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.kind == "ticket.sla_breached")
        .map(|e| e.data.sla_breach.unwrap().target.as_str().to_owned())
        .collect()
}

async fn wait_breached(app: &TestApp, key: &str, id: &str, field: &str) {
    wait_until(
        Duration::from_secs(20),
        &format!("{id} {field}"),
        || async {
            let (ticket, _) = read(app, key, id).await;
            (!ticket["sla"][field].is_null()).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn targets_follow_the_policy_of_the_priority() {
    let app = spawn_app().await;
    let key = app.admin_key();
    set_policy(&app, &key, "high", 60, 480).await;
    set_policy(&app, &key, "urgent", 15, 120).await;
    let policies: Value = app
        .get("/v1/sla_policies", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(policies["data"].as_array().unwrap().len(), 2);

    let id = new_ticket(&app, &key, "With SLA").await;
    let (ticket, etag) = read(&app, &key, &id).await;
    let at = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let created = at(&ticket["created_at"]);
    assert_eq!(
        at(&ticket["sla"]["first_response_due_at"]),
        created + chrono::Duration::minutes(60)
    );
    assert_eq!(
        at(&ticket["sla"]["resolution_due_at"]),
        created + chrono::Duration::minutes(480)
    );

    let patched: Value =
        crate::steps::patch(&app, &key, &id, Some(&etag), &json!({"priority": "urgent"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(
        at(&patched["sla"]["resolution_due_at"]),
        created + chrono::Duration::minutes(120)
    );
    app.teardown().await;
}

#[tokio::test]
async fn each_target_breaches_once_with_two_checkers_running() {
    let mut app = spawn_app().await;
    app.start_another_ticket_service().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    set_policy(&app, &key, "high", 60, 480).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(new_ticket(&app, &key, &format!("Late {i}")).await);
    }
    sql(&app, "UPDATE tickets.tickets SET first_response_due_at = now() - interval '1 minute', resolution_due_at = now() - interval '1 minute'").await;
    for id in &ids {
        wait_breached(&app, &key, id, "resolution_breached_at").await;
        wait_breached(&app, &key, id, "first_response_breached_at").await;
    }
    // A later ticket breaching proves the checkers ran again after the first breaches.
    let later = new_ticket(&app, &key, "Later").await;
    sql(&app, &format!("UPDATE tickets.tickets SET resolution_due_at = now() - interval '1 minute' WHERE id = '{later}'")).await;
    wait_breached(&app, &key, &later, "resolution_breached_at").await;

    let events = events_by_ticket(&app, &tap).await;
    for id in &ids {
        let mut targets: Vec<&str> = events[id]
            .iter()
            .filter(|e| e.kind == "ticket.sla_breached")
            .map(|e| e.data.sla_breach.as_ref().unwrap().target.as_str())
            .collect();
        targets.sort_unstable();
        assert_eq!(targets, ["first_response", "resolution"], "{id}");
        let sequences: Vec<i64> = events[id].iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, (1..=sequences.len() as i64).collect::<Vec<_>>());
    }
    let breached: Value = app
        .get("/v1/tickets?sla_breached=true&limit=100", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(breached["data"].as_array().unwrap().len(), ids.len() + 1);
    app.teardown().await;
}

#[tokio::test]
async fn the_clock_stops_while_pending() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    set_policy(&app, &key, "high", 60, 480).await;
    let waiting = new_ticket(&app, &key, "Waiting on customer").await;
    let control = new_ticket(&app, &key, "Control").await;
    assert_eq!(
        respond(
            &app,
            &key,
            &waiting,
            &agent_reply("Please send the invoice")
        )
        .await
        .status(),
        201
    );
    let (ticket, _) = read(&app, &key, &waiting).await;
    assert_eq!(ticket["status"], "pending");
    assert!(!ticket["sla"]["paused_at"].is_null());
    assert!(!ticket["sla"]["first_responded_at"].is_null());
    sql(
        &app,
        "UPDATE tickets.tickets SET resolution_due_at = now() - interval '1 minute'",
    )
    .await;
    // The control ticket breaches; the pending one does not.
    wait_breached(&app, &key, &control, "resolution_breached_at").await;
    assert_eq!(breaches(&app, &tap, &waiting).await, Vec::<String>::new());

    // The customer answers: the clock runs again and the (still past) target breaches.
    assert_eq!(
        respond(&app, &key, &waiting, &customer_message("Attached"))
            .await
            .status(),
        201
    );
    wait_breached(&app, &key, &waiting, "resolution_breached_at").await;
    assert_eq!(
        breaches(&app, &tap, &waiting).await,
        ["resolution"],
        "first response was met"
    );
    app.teardown().await;
}

#[tokio::test]
async fn solved_tickets_close_on_their_own_once() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let id = new_ticket(&app, &key, "Solved long ago").await;
    let fresh = new_ticket(&app, &key, "Solved just now").await;
    move_to(&app, &key, &id, "solved").await;
    move_to(&app, &key, &fresh, "solved").await;
    sql(
        &app,
        &format!(
            "UPDATE tickets.tickets SET solved_at = now() - interval '100 hours' WHERE id = '{id}'"
        ),
    )
    .await;
    wait_until(Duration::from_secs(20), "auto-close", || async {
        let (ticket, _) = read(&app, &key, &id).await;
        (ticket["status"] == "closed").then_some(())
    })
    .await;
    let (other, _) = read(&app, &key, &fresh).await;
    assert_eq!(other["status"], "solved");
    let events = events_by_ticket(&app, &tap).await;
    let closing: Vec<_> = events[&id]
        .iter()
        .filter(|e| e.kind == "ticket.closed")
        .collect();
    assert_eq!(closing.len(), 1);
    assert_eq!(
        closing[0].data.actor.kind,
        loopdesk_contracts::ActorKind::System
    );
    app.teardown().await;
}
