//! `PATCH /v1/tickets/{id}` with `If-Match`, and soft `DELETE`.

use serde_json::{Value, json};

use crate::{
    helpers::spawn_app,
    steps::{delete, events_by_ticket, kinds, move_to, new_ticket, patch, read},
};

#[tokio::test]
async fn a_patch_needs_the_current_etag_and_says_what_changed() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let id = new_ticket(&app, &key, "Fields").await;
    let (_, etag) = read(&app, &key, &id).await;
    assert_eq!(etag, "\"1\"");
    let change = json!({"subject": "Renamed", "priority": "urgent", "assignee": "agt_7", "due_at": "2030-01-01T00:00:00Z", "tags": ["a"]});

    let missing = patch(&app, &key, &id, None, &change).await;
    assert_eq!(missing.status(), 428);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["code"],
        "precondition_required"
    );
    let stale = patch(&app, &key, &id, Some("\"7\""), &change).await;
    assert_eq!(stale.status(), 412);
    assert_eq!(
        stale.json::<Value>().await.unwrap()["code"],
        "precondition_failed"
    );

    let patched = patch(&app, &key, &id, Some(&etag), &change).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["subject"], "Renamed");
    assert_eq!(patched["assignee"], "agt_7");
    let (read_back, etag) = read(&app, &key, &id).await;
    assert_eq!(read_back, patched);
    assert_eq!(etag, "\"2\"");

    let unassigned = patch(&app, &key, &id, Some(&etag), &json!({"assignee": null})).await;
    assert_eq!(unassigned.status(), 200);
    assert_eq!(
        unassigned.json::<Value>().await.unwrap()["assignee"],
        Value::Null
    );
    let listed: Value = app
        .get("/v1/tickets?assignee=agt_7", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));

    let events = events_by_ticket(&app, &tap).await;
    let seen = &events[&id];
    assert_eq!(
        kinds(seen),
        [
            "ticket.created",
            "ticket.updated",
            "ticket.assigned",
            "ticket.due_date_updated",
            "ticket.assigned"
        ]
    );
    assert_eq!(
        seen[1].data.changes["subject"],
        json!({"from": "Fields", "to": "Renamed"})
    );
    assert_eq!(
        seen[1].data.changes["priority"],
        json!({"from": "high", "to": "urgent"})
    );
    assert_eq!(
        seen[2].data.changes["assignee"],
        json!({"from": null, "to": "agt_7"})
    );
    assert_eq!(
        seen[4].data.changes["assignee"],
        json!({"from": "agt_7", "to": null})
    );
    app.teardown().await;
}

#[tokio::test]
async fn of_two_concurrent_patches_with_the_same_etag_exactly_one_wins() {
    let app = spawn_app().await;
    let key = app.admin_key();
    for round in 0..3 {
        let id = new_ticket(&app, &key, &format!("Race {round}")).await;
        let (_, etag) = read(&app, &key, &id).await;
        let a = json!({"subject": "A"});
        let b = json!({"subject": "B"});
        let (x, y) = tokio::join!(
            patch(&app, &key, &id, Some(&etag), &a),
            patch(&app, &key, &id, Some(&etag), &b)
        );
        let mut statuses = [x.status().as_u16(), y.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
        let (ticket, _) = read(&app, &key, &id).await;
        assert_eq!(ticket["version"], 2, "one change applied");
    }
    app.teardown().await;
}

#[tokio::test]
async fn a_closed_ticket_takes_no_patch_and_a_deleted_one_is_gone() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let closed = new_ticket(&app, &key, "Closed").await;
    move_to(&app, &key, &closed, "solved").await;
    move_to(&app, &key, &closed, "closed").await;
    let (_, etag) = read(&app, &key, &closed).await;
    let refused = patch(&app, &key, &closed, Some(&etag), &json!({"subject": "x"})).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["code"],
        "ticket_closed"
    );

    let id = new_ticket(&app, &key, "Doomed").await;
    let path = format!("/v1/tickets/{id}");
    let no_key = app
        .client
        .delete(format!("{}{path}", app.address))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400, "deletes need an idempotency key");
    assert_eq!(delete(&app, &key, &path).await.status(), 200);
    assert_eq!(app.get(&path, &key).await.status(), 404);
    assert_eq!(
        app.get(&format!("{path}/responses"), &key).await.status(),
        404
    );
    let listed: Value = app.get("/v1/tickets", &key).await.json().await.unwrap();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != id.as_str())
    );
    assert_eq!(delete(&app, &key, &path).await.status(), 404);

    let events = events_by_ticket(&app, &tap).await;
    assert_eq!(kinds(&events[&id]), ["ticket.created", "ticket.deleted"]);
    assert!(events[&id][1].data.ticket.deleted_at.is_some());
    app.teardown().await;
}
