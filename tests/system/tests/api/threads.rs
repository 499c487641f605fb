//! Ticket threads: append-only responses with attachments by reference, audit entries,
//! cursor pages, and no way to change or remove a response.

use loopdesk_auth::Ability;
use loopdesk_contracts::Env;
use serde_json::{Value, json};

use crate::{
    helpers::spawn_app,
    steps::{agent_reply, customer_message, fresh_key, new_ticket, respond},
};

#[tokio::test]
async fn responses_append_and_page_oldest_first() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let id = new_ticket(&app, &key, "Thread").await;

    let attachment = json!({"url": "https://files.example.com/a.pdf", "name": "a.pdf", "size": 1234, "content_type": "application/pdf"});
    let mut first = agent_reply("First");
    first["attachments"] = json!([attachment]);
    let created = respond(&app, &key, &id, &first).await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = created.json().await.unwrap();
    let rsp = created["id"].as_str().unwrap();
    assert!(rsp.starts_with("rsp_"));
    assert_eq!(location, format!("/v1/tickets/{id}/responses/{rsp}"));
    assert_eq!(created["public"], true);
    assert_eq!(
        created["attachments"],
        json!([attachment]),
        "linked, as given"
    );
    let note = json!({"kind": "note", "body": "Internal: check the meter"});
    let note: Value = respond(&app, &key, &id, &note).await.json().await.unwrap();
    assert_eq!(note["public"], false);
    assert_eq!(
        note["author"]["type"], "agent",
        "a note defaults to the key as agent"
    );
    for i in 0..3 {
        let r = respond(&app, &key, &id, &customer_message(&format!("m{i}"))).await;
        assert_eq!(r.status(), 201);
    }
    assert_eq!(
        app.get(&location, &key)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        created
    );

    let mut bodies = Vec::new();
    let mut path = format!("/v1/tickets/{id}/responses?limit=2");
    loop {
        let page: Value = app.get(&path, &key).await.json().await.unwrap();
        bodies.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["body"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/tickets/{id}/responses?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        bodies,
        ["First", "Internal: check the meter", "m0", "m1", "m2"]
    );

    let other = app.key_for("globex", Env::Test, &Ability::ALL);
    assert_eq!(
        app.get(&format!("/v1/tickets/{id}/responses"), &other)
            .await
            .status(),
        404
    );
    assert_eq!(
        respond(&app, &other, &id, &agent_reply("x")).await.status(),
        404
    );
    app.teardown().await;
}

#[tokio::test]
async fn invalid_responses_are_refused_naming_each_field() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let id = new_ticket(&app, &key, "Thread").await;
    let bad = json!({
        "kind": "message",
        "author": {"type": "agent", "id": "agt_1"},
        "body": " ",
        "attachments": [{"url": "ftp://x/y", "name": "y", "size": -1, "content_type": "nope"}]
    });
    let refused = respond(&app, &key, &id, &bad).await;
    assert_eq!(refused.status(), 422);
    let refused: Value = refused.json().await.unwrap();
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "author.type",
            "body",
            "attachments[0].url",
            "attachments[0].size",
            "attachments[0].content_type"
        ]
    );
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"url": format!("https://x.com/{i}"), "name": "f", "size": 1, "content_type": "text/plain"}))
        .collect();
    let mut reply = agent_reply("hi");
    reply["attachments"] = json!(many);
    assert_eq!(respond(&app, &key, &id, &reply).await.status(), 422);
    assert_eq!(app.count("tickets.responses").await, 0);
    app.teardown().await;
}

#[tokio::test]
async fn responses_cannot_be_changed_or_removed_and_audit_entries_append() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let id = new_ticket(&app, &key, "Thread").await;
    let created: Value = respond(&app, &key, &id, &agent_reply("Original"))
        .await
        .json()
        .await
        .unwrap();
    let rsp = created["id"].as_str().unwrap();
    let path = format!("/v1/tickets/{id}/responses/{rsp}");

    let url = format!("{}{path}", app.address);
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let answer = app
            .client
            .request(method.clone(), &url)
            .bearer_auth(&key)
            .header("Idempotency-Key", fresh_key())
            .json(&json!({"body": "Rewritten"}))
            .send()
            .await
            .unwrap();
        assert!(
            [404, 405].contains(&answer.status().as_u16()),
            "{method} {path}: {}",
            answer.status()
        );
    }
    // Not even the database lets a response change.
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    for statement in [
        "UPDATE tickets.responses SET body = 'Rewritten'",
        "DELETE FROM tickets.responses",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn).await;
        assert!(refused.is_err(), "{statement} must be refused");
    }

    let audit = app
        .post(
            &format!("{path}/audit"),
            &key,
            Some(&fresh_key()),
            &json!({"body": "Corrected the amount: 12.40"}),
        )
        .await;
    assert_eq!(audit.status(), 201);
    let entry: Value = audit.json().await.unwrap();
    assert!(entry["id"].as_str().unwrap().starts_with("aud_"));
    assert_eq!(entry["response_id"], rsp);

    let read: Value = app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(read["body"], "Original");
    assert_eq!(read["audit"][0]["body"], "Corrected the amount: 12.40");
    let unknown = format!("/v1/tickets/{id}/responses/rsp_01J9X0000000000000000000AA/audit");
    let missing = app
        .post(&unknown, &key, Some(&fresh_key()), &json!({"body": "x"}))
        .await;
    assert_eq!(missing.status(), 404);
    app.teardown().await;
}

#[tokio::test]
async fn a_replayed_response_post_appends_once() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let id = new_ticket(&app, &key, "Replay").await;
    let path = format!("/v1/tickets/{id}/responses");
    let idem = fresh_key();
    let first = app
        .post(&path, &key, Some(&idem), &agent_reply("Once"))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = app
        .post(&path, &key, Some(&idem), &agent_reply("Once"))
        .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = app
        .post(&path, &key, Some(&idem), &agent_reply("Twice"))
        .await;
    assert_eq!(other.status(), 409);
    assert_eq!(app.count("tickets.responses").await, 1);
    app.teardown().await;
}
