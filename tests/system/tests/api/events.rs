//! Every `ticket.*` event type of DESIGN.md §6 reaches a queue bound to `ticket.#`, in
//! sequence order, each with the snapshot, the actor and what changed.

use std::time::Duration;

use loopdesk_contracts::events::ALL_TICKET_EVENTS;
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::spawn_app,
    steps::{
        agent_reply, customer_message, delete, events_by_ticket, fresh_key, kinds, move_to,
        new_ticket, patch, read, respond, sql,
    },
};

#[tokio::test]
async fn every_event_type_arrives_in_sequence_order() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let answer = app
        .client
        .put(format!("{}/v1/sla_policies/high", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", fresh_key())
        .json(&json!({"first_response_minutes": 5, "resolution_minutes": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let id = new_ticket(&app, &key, "Everything happens").await;
    let (_, etag) = read(&app, &key, &id).await;
    let patched = patch(
        &app,
        &key,
        &id,
        Some(&etag),
        &json!({"queue": "tier2", "assignee": "agt_9", "due_at": "2031-05-01T12:00:00Z"}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    sql(&app, &format!("UPDATE tickets.tickets SET first_response_due_at = now() - interval '1 minute' WHERE id = '{id}'")).await;
    wait_until(
        Duration::from_secs(20),
        "the first-response breach",
        || async {
            let (t, _) = read(&app, &key, &id).await;
            (!t["sla"]["first_response_breached_at"].is_null()).then_some(())
        },
    )
    .await;
    let note =
        json!({"kind": "note", "author": {"type": "agent", "id": "agt_9"}, "body": "Looking"});
    assert_eq!(respond(&app, &key, &id, &note).await.status(), 201);
    assert_eq!(
        respond(&app, &key, &id, &agent_reply("Fixed?"))
            .await
            .status(),
        201
    );
    assert_eq!(
        respond(&app, &key, &id, &customer_message("No"))
            .await
            .status(),
        201
    );
    move_to(&app, &key, &id, "solved").await;
    assert_eq!(
        respond(&app, &key, &id, &customer_message("Still no"))
            .await
            .status(),
        201
    );
    move_to(&app, &key, &id, "solved").await;
    move_to(&app, &key, &id, "closed").await;
    assert_eq!(
        delete(&app, &key, &format!("/v1/tickets/{id}"))
            .await
            .status(),
        200
    );

    let events = events_by_ticket(&app, &tap).await;
    let seen = &events[&id];
    assert_eq!(
        kinds(seen),
        [
            "ticket.created",
            "ticket.updated",
            "ticket.assigned",
            "ticket.due_date_updated",
            "ticket.sla_breached",
            "ticket.note_added",
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
            "ticket.deleted",
        ]
    );
    for kind in ALL_TICKET_EVENTS {
        assert!(kinds(seen).contains(&kind), "{kind} was published");
    }
    let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
    assert_eq!(
        sequences,
        (1..=seen.len() as i64).collect::<Vec<_>>(),
        "per-ticket, gap-free, in order"
    );
    let ids: std::collections::HashSet<_> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), seen.len(), "event ids are unique");

    let replied = &seen[6];
    let response = replied.data.response.as_ref().unwrap();
    assert_eq!(response.body, "Fixed?");
    assert_eq!(replied.data.actor.id, "agt_1", "the author acts");
    assert_eq!(
        seen[2].data.changes["assignee"],
        json!({"from": null, "to": "agt_9"})
    );
    assert_eq!(seen[2].data.ticket.assignee.as_deref(), Some("agt_9"));
    assert_eq!(
        seen[4].data.sla_breach.as_ref().unwrap().target.as_str(),
        "first_response"
    );
    assert_eq!(
        serde_json::to_value(seen[4].data.actor.kind).unwrap(),
        Value::from("system")
    );
    let note_event = &seen[5];
    assert!(!note_event.data.response.as_ref().unwrap().public);
    for e in seen {
        assert_eq!(e.tenant.as_str(), crate::helpers::TENANT);
    }
    app.teardown().await;
}
