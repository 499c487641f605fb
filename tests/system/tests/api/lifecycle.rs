//! The status model through the gateway: every (from, to) pair, the seed 003 flow end to
//! end, follow-up tickets and the status history.

use loopdesk_contracts::tickets::Status;
use serde_json::{Value, json};

use crate::{
    helpers::{spawn_app, ticket_body},
    steps::{
        agent_reply, customer_message, events_by_ticket, kinds, move_to, new_ticket, read, respond,
        transition,
    },
};

/// The manual moves the API allows (mirrors the ticket service's table on purpose: a
/// change to the model must change this test too).
const ALLOWED: [(&str, &str); 9] = [
    ("new", "open"),
    ("new", "pending"),
    ("new", "solved"),
    ("open", "pending"),
    ("open", "solved"),
    ("pending", "open"),
    ("pending", "solved"),
    ("solved", "open"),
    ("solved", "closed"),
];

/// The events one allowed move emits.
fn events_of(from: &str, to: &str) -> Vec<&'static str> {
    let mut kinds = vec!["ticket.status_changed"];
    match (from, to) {
        (_, "solved") => kinds.push("ticket.resolved"),
        ("solved", "open") => kinds.push("ticket.reopened"),
        (_, "closed") => kinds.push("ticket.closed"),
        _ => {}
    }
    kinds
}

/// The allowed moves that bring a new ticket to `status`.
fn path_to(status: &str) -> Vec<(&'static str, &'static str)> {
    match status {
        "new" => vec![],
        "open" => vec![("new", "open")],
        "pending" => vec![("new", "pending")],
        "solved" => vec![("new", "solved")],
        "closed" => vec![("new", "solved"), ("solved", "closed")],
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn every_status_pair_is_allowed_or_refused_as_the_model_says() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let mut cases = Vec::new();
    for from in Status::ALL.map(Status::as_str) {
        for to in Status::ALL.map(Status::as_str) {
            let id = new_ticket(&app, &key, &format!("{from} -> {to}")).await;
            for (_, step) in path_to(from) {
                move_to(&app, &key, &id, step).await;
            }
            let (before, _) = read(&app, &key, &id).await;
            let answer = transition(&app, &key, &id, &json!({"to": to, "reason": "test"})).await;
            let status = answer.status();
            let body: Value = answer.json().await.unwrap();
            let allowed = ALLOWED.contains(&(from, to));
            if allowed {
                assert_eq!(status, 200, "{from} -> {to}: {body}");
                assert_eq!(body["status"], to);
                assert_eq!(body["version"], before["version"].as_i64().unwrap() + 1);
            } else {
                assert_eq!(status, 409, "{from} -> {to}: {body}");
                let code = if from == "closed" {
                    "ticket_closed"
                } else {
                    "illegal_transition"
                };
                assert_eq!(body["code"], code, "{from} -> {to}");
                if code == "illegal_transition" {
                    assert_eq!(
                        (body["from"].as_str(), body["to"].as_str()),
                        (Some(from), Some(to))
                    );
                }
                let (after, _) = read(&app, &key, &id).await;
                assert_eq!(after, before, "a refused move changes nothing");
            }
            cases.push((id, from, to, allowed));
        }
    }

    let events = events_by_ticket(&app, &tap).await;
    for (id, from, to, allowed) in cases {
        let mut expected = vec!["ticket.created"];
        for (f, t) in path_to(from) {
            expected.extend(events_of(f, t));
        }
        if allowed {
            expected.extend(events_of(from, to));
        }
        let seen = &events[&id];
        assert_eq!(kinds(seen), expected, "{from} -> {to}");
        let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
        assert_eq!(sequences, (1..=seen.len() as i64).collect::<Vec<_>>());
        if allowed {
            let last = seen.last().unwrap();
            let moved = seen
                .iter()
                .rev()
                .find(|e| e.kind == "ticket.status_changed")
                .unwrap();
            let change = moved.data.status_change.as_ref().unwrap();
            assert_eq!((change.from.as_str(), change.to.as_str()), (from, to));
            assert_eq!(change.reason.as_deref(), Some("test"));
            assert_eq!(
                moved.data.changes["status"],
                json!({"from": from, "to": to})
            );
            assert_eq!(last.data.ticket.status.as_str(), to);
        }
    }
    app.teardown().await;
}

#[tokio::test]
async fn the_seed_003_flow_runs_end_to_end() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let id = new_ticket(&app, &key, "Meter reading wrong").await;
    let status = async |expected: &str| {
        let (ticket, _) = read(&app, &key, &id).await;
        assert_eq!(ticket["status"], expected);
    };
    status("new").await;

    // Support replies: the customer's turn.
    assert_eq!(
        respond(&app, &key, &id, &agent_reply("Can you send a photo?"))
            .await
            .status(),
        201
    );
    status("pending").await;
    // The customer answers: support's turn.
    assert_eq!(
        respond(&app, &key, &id, &customer_message("Here it is"))
            .await
            .status(),
        201
    );
    status("open").await;
    move_to(&app, &key, &id, "solved").await;
    // "Not resolved": the customer replies with more details, the ticket reopens.
    assert_eq!(
        respond(&app, &key, &id, &customer_message("Still wrong"))
            .await
            .status(),
        201
    );
    status("open").await;
    move_to(&app, &key, &id, "solved").await;
    // "Resolved": the customer confirms.
    let confirmed = transition(
        &app,
        &key,
        &id,
        &json!({"to": "closed", "reason": "customer confirmed", "actor": {"type": "customer", "id": "ann@example.com"}}),
    )
    .await;
    assert_eq!(confirmed.status(), 200);
    status("closed").await;

    // A closed ticket takes nothing more.
    let refused = respond(&app, &key, &id, &customer_message("One more thing")).await;
    assert_eq!(refused.status(), 409);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["code"], "ticket_closed");
    let thread: Value = app
        .get(&format!("/v1/tickets/{id}/responses"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        thread["data"].as_array().unwrap().len(),
        3,
        "the refused reply was not stored"
    );

    let history: Value = app
        .get(&format!("/v1/tickets/{id}/history"), &key)
        .await
        .json()
        .await
        .unwrap();
    let moves: Vec<(Value, Value)> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].clone(), h["to"].clone()))
        .collect();
    let s = |v: &str| Value::from(v);
    assert_eq!(
        moves,
        vec![
            (Value::Null, s("new")),
            (s("new"), s("pending")),
            (s("pending"), s("open")),
            (s("open"), s("solved")),
            (s("solved"), s("open")),
            (s("open"), s("solved")),
            (s("solved"), s("closed")),
        ]
    );
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"]["type"], "customer");
    assert_eq!(last["reason"], "customer confirmed");

    let events = events_by_ticket(&app, &tap).await;
    assert_eq!(
        kinds(&events[&id]),
        [
            "ticket.created",
            "ticket.replied",
            "ticket.status_changed",
            "ticket.commented",
            "ticket.status_changed",
            "ticket.status_changed",
            "ticket.resolved",
            "ticket.commented",
            "ticket.status_changed",
            "ticket.reopened",
            "ticket.status_changed",
            "ticket.resolved",
            "ticket.status_changed",
            "ticket.closed",
        ]
    );
    app.teardown().await;
}

#[tokio::test]
async fn a_follow_up_links_only_to_a_closed_ticket_of_the_same_tenant() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let original = new_ticket(&app, &key, "First").await;

    let mut body = ticket_body("Again");
    body["follow_up_of"] = json!(original);
    let early = app.create_ticket(&key, &body).await;
    assert_eq!(early.status(), 422, "the original is not closed yet");
    let early: Value = early.json().await.unwrap();
    assert_eq!(early["errors"][0]["field"], "follow_up_of");

    move_to(&app, &key, &original, "solved").await;
    move_to(&app, &key, &original, "closed").await;
    let follow_up = app.create_ticket(&key, &body).await;
    assert_eq!(follow_up.status(), 201);
    let follow_up: Value = follow_up.json().await.unwrap();
    assert_eq!(follow_up["follow_up_of"], original);
    assert_eq!(follow_up["status"], "new");

    let other = app.key_for(
        "globex",
        loopdesk_contracts::Env::Test,
        &loopdesk_auth::Ability::ALL,
    );
    assert_eq!(
        app.create_ticket(&other, &body).await.status(),
        422,
        "another tenant's ticket does not exist"
    );
    app.teardown().await;
}
