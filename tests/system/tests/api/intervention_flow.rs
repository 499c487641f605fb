//! Interventions in the ticket flow (seed 000 §5.2–5.5): the remote's create call, the
//! rendered templates on the ticket, resends by `uid`, staff submissions, and the
//! epilog dispatcher's outcomes (published here as the dispatcher would).

use std::time::Duration;

use loopdesk_auth::Ability;
use loopdesk_contracts::Env;
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TENANT, TestApp, spawn_app};

const NAME: &str = "discount_request";
const PRIVATE: &str = "Discount asked: {{ data.order_price }} {{ data.currency }} ({{ title }})";
const PUBLIC: &str = "We are reviewing your {{ data.currency }} discount.";
const FINAL: &str = "Approved at {{ final.applied_price }}: {{ final.ticket_audit }}";

async fn send(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(key)
        .header("Idempotency-Key", ulid::Ulid::new().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The guide's discount intervention with fields and the three templates (or only some).
async fn define(app: &TestApp, key: &str, name: &str, templates: &[(&str, &str)]) {
    let definition = json!({
        "name": name, "title": "Discount request", "queue_name": "billing",
        "remote_enabled": true, "remote_name": "Shop",
        "remote_epilog_url": "https://shop.example/epilog",
        "remote_bearer_token": "rbt-secret-token", "remote_timeout_seconds": 7
    });
    let (status, body) = send(app, Method::POST, "/v1/interventions", key, definition).await;
    assert_eq!(status, 201, "{body}");
    let fields = json!([
        {"type": "label", "label": "Price in {{currency}}"},
        {"type": "checkbox", "name": "accept", "label": "Accept"},
        {"type": "text", "name": "note", "required": true}
    ]);
    let path = format!("/v1/interventions/{name}/fields");
    let (status, body) = send(app, Method::PUT, &path, key, fields).await;
    assert_eq!(status, 200, "{body}");
    for (kind, source) in templates {
        let path = format!("/v1/interventions/{name}/templates/{kind}");
        let (status, body) = send(app, Method::PUT, &path, key, json!({"body": source})).await;
        assert_eq!(status, 200, "{body}");
    }
}

fn all_templates() -> Vec<(&'static str, &'static str)> {
    vec![("private", PRIVATE), ("public", PUBLIC), ("final", FINAL)]
}

/// The guide's create body (seed §5.2).
fn seed_body(uid: &str, price: i64) -> Value {
    json!({
        "originator_email_address": "someone@client-system.example",
        "intervention": NAME,
        "uid": uid,
        "data": {
            "data": {"currency": "GBP", "order_price": price, "accept": false},
            "title": "Order <7>"
        }
    })
}

async fn seed_create(app: &TestApp, key: &str, uid: &str, price: i64) -> Value {
    let (status, body) = send(
        app,
        Method::POST,
        "/api/create_ticket",
        key,
        seed_body(uid, price),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    body["data"].clone()
}

/// The ticket once the ticket service has it.
async fn ticket(app: &TestApp, key: &str, id: &str) -> Value {
    wait_until(Duration::from_secs(15), "the ticket", || async {
        let r = app.get(&format!("/v1/tickets/{id}"), key).await;
        if r.status() == 200 {
            r.json::<Value>().await.ok()
        } else {
            None
        }
    })
    .await
}

/// The ticket's responses once `check` holds for them.
async fn responses_when(
    app: &TestApp,
    key: &str,
    id: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    wait_until(Duration::from_secs(15), what, || async {
        let r = app
            .get(&format!("/v1/tickets/{id}/responses?limit=100"), key)
            .await;
        let body: Value = r.json().await.ok()?;
        let data = body["data"].as_array()?.clone();
        check(&data).then_some(data)
    })
    .await
}

async fn panel(app: &TestApp, key: &str, id: &str) -> Vec<Value> {
    let body: Value = app
        .get(&format!("/v1/tickets/{id}/interventions"), key)
        .await
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn tracked_status(app: &TestApp, id: &str, status: &str) {
    let query = format!(
        "interventions.intervention_tickets WHERE ticket_id = '{id}' AND status = '{status}'"
    );
    app.wait_count(&query, 1).await;
}

async fn transition(app: &TestApp, key: &str, id: &str, to: &str) {
    let path = format!("/v1/tickets/{id}/transitions");
    let (status, body) = send(app, Method::POST, &path, key, json!({"to": to})).await;
    assert_eq!(status, 200, "{body}");
}

/// Publishes an epilog outcome as the epilog dispatcher would.
async fn publish_outcome(app: &TestApp, kind: &str, submitted: &Value, detail: Value) {
    let body = json!({
        "id": loopdesk_contracts::ids::EventId::generate().to_string(),
        "type": kind,
        "created_at": chrono::Utc::now(),
        "tenant": TENANT, "env": "test",
        "job_id": loopdesk_contracts::ids::EpilogJobId::generate().to_string(),
        "payload_id": submitted["payload_id"],
        "ticket_id": submitted["ticket_id"],
        "response_id": submitted["response_id"],
        "intervention": NAME,
        "uid": submitted["uid"],
        "detail": detail,
    });
    let message = OutgoingMessage {
        route: Route::Event(kind.to_owned()),
        envelope: Envelope::new(kind, TENANT, "test"),
        body: serde_json::to_vec(&body).unwrap(),
    };
    app.broker.publisher().publish(&message).await.unwrap();
}

#[tokio::test]
async fn the_guides_create_call_opens_a_ticket_with_the_rendered_templates() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &all_templates()).await;
    let remote = app.key_for(TENANT, Env::Test, &[Ability::CreateTicket]);

    let created = seed_create(&app, &remote, "remote-unique-id-123", 100).await;
    assert_eq!(
        created["used_intervention"],
        json!({"private": true, "public": true, "final": true})
    );
    assert_eq!(created["created_ticket"], true);
    assert_eq!(created["reopened"], false);
    let id = created["ticket_id"].as_str().unwrap().to_owned();
    let payload_id = created["payload_id"].as_str().unwrap().to_owned();
    assert!(payload_id.starts_with("itv_"), "{created}");

    let t = ticket(&app, &admin, &id).await;
    assert_eq!(t["queue"], "billing");
    assert_eq!(t["subject"], "Order <7>");
    assert_eq!(t["source"], "intervention");
    assert_eq!(t["status"], "new", "templates never move the status");
    assert_eq!(t["requester"]["email"], "someone@client-system.example");
    assert_eq!(
        t["metadata"],
        json!({"intervention": NAME, "uid": "remote-unique-id-123"})
    );
    let thread = responses_when(&app, &admin, &id, "two responses", |r| r.len() == 2).await;
    assert_eq!(thread[0]["kind"], "note");
    assert_eq!(thread[0]["public"], false);
    assert_eq!(thread[0]["author"]["type"], "system");
    assert_eq!(
        thread[0]["body"],
        "Discount asked: 100 GBP (Order &lt;7&gt;)"
    );
    assert_eq!(thread[1]["kind"], "reply");
    assert_eq!(thread[1]["body"], "We are reviewing your GBP discount.");

    let items = panel(&app, &admin, &id).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], payload_id.as_str());
    assert_eq!(items[0]["fields"][0]["label"], "Price in GBP");

    // The v1 route takes the same request with `requester`.
    let (status, body) = send(
        &app,
        Method::POST,
        "/v1/tickets",
        &remote,
        json!({
            "intervention": NAME, "uid": "v1-uid", "requester": {"email": "ann@example.com"},
            "data": {"data": {"currency": "EUR"}}
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["intervention"], NAME);
    assert_eq!(body["uid"], "v1-uid");
    assert_eq!(body["created_ticket"], true);
    let v1 = ticket(&app, &admin, body["ticket_id"].as_str().unwrap()).await;
    assert_eq!(
        v1["subject"], "Discount request",
        "the definition's title by default"
    );
    app.teardown().await;
}

#[tokio::test]
async fn refusals_create_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &[("public", PUBLIC)]).await;

    let (status, body) = send(
        &app,
        Method::POST,
        "/api/create_ticket",
        &admin,
        seed_body("u1", 1),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("intervention_template_missing")),
        "{body}"
    );
    let mut unknown = seed_body("u1", 1);
    unknown["intervention"] = json!("nope");
    let (status, body) = send(&app, Method::POST, "/api/create_ticket", &admin, unknown).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("unknown_intervention")),
        "{body}"
    );
    let mut no_uid = seed_body("u1", 1);
    no_uid.as_object_mut().unwrap().remove("uid");
    let (status, body) = send(&app, Method::POST, "/api/create_ticket", &admin, no_uid).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "uid", "{body}");
    let mut bad_data = seed_body("u1", 1);
    bad_data["data"] = json!([1, 2]);
    let (status, body) = send(&app, Method::POST, "/api/create_ticket", &admin, bad_data).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "data", "{body}");

    assert_eq!(app.count("interventions.intervention_payloads").await, 0);
    assert_eq!(app.count("interventions.outbox").await, 0);
    assert_eq!(app.count("tickets.tickets").await, 0);
    app.teardown().await;
}

#[tokio::test]
async fn resending_a_uid_refreshes_reopens_and_follows_up() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &all_templates()).await;
    let first = seed_create(&app, &admin, "uid-r", 100).await;
    let id = first["ticket_id"].as_str().unwrap().to_owned();
    ticket(&app, &admin, &id).await;

    // Open payload: the data bag is refreshed, the templates posted again, no new ticket.
    let again = seed_create(&app, &admin, "uid-r", 90).await;
    assert_eq!(again["ticket_id"], id.as_str());
    assert_eq!(again["payload_id"], first["payload_id"]);
    assert_eq!(
        (again["created_ticket"].clone(), again["reopened"].clone()),
        (json!(false), json!(false))
    );
    let items = panel(&app, &admin, &id).await;
    assert_eq!(items[0]["data"]["data"]["order_price"], 90);
    let thread = responses_when(&app, &admin, &id, "four responses", |r| r.len() == 4).await;
    assert_eq!(
        thread[2]["body"],
        "Discount asked: 90 GBP (Order &lt;7&gt;)"
    );

    // Solved: reopened.
    transition(&app, &admin, &id, "solved").await;
    tracked_status(&app, &id, "solved").await;
    let reopened = seed_create(&app, &admin, "uid-r", 80).await;
    assert_eq!(reopened["reopened"], true, "{reopened}");
    assert_eq!(reopened["ticket_id"], id.as_str());
    wait_until(Duration::from_secs(15), "the reopen", || async {
        let t = ticket(&app, &admin, &id).await;
        (t["status"] == "open").then_some(())
    })
    .await;
    assert_eq!(app.count("tickets.tickets").await, 1);

    // Closed: a follow-up ticket, and the open payload moves to it.
    transition(&app, &admin, &id, "solved").await;
    transition(&app, &admin, &id, "closed").await;
    tracked_status(&app, &id, "closed").await;
    let follow = seed_create(&app, &admin, "uid-r", 70).await;
    assert_eq!(follow["created_ticket"], true, "{follow}");
    assert_eq!(follow["follow_up_of"], id.as_str());
    assert_eq!(follow["payload_id"], first["payload_id"]);
    let new_id = follow["ticket_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    let t = ticket(&app, &admin, &new_id).await;
    assert_eq!(t["follow_up_of"], id.as_str());
    assert!(panel(&app, &admin, &id).await.is_empty());
    assert_eq!(panel(&app, &admin, &new_id).await.len(), 1);
    app.teardown().await;
}

#[tokio::test]
async fn submit_checks_the_fields_then_posts_the_response_and_asks_for_the_epilog() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &all_templates()).await;
    let created = seed_create(&app, &admin, "uid-s", 100).await;
    let id = created["ticket_id"].as_str().unwrap().to_owned();
    let payload = created["payload_id"].as_str().unwrap().to_owned();
    ticket(&app, &admin, &id).await;
    let tap = app.tap_events("intervention.#").await;
    let path = format!("/v1/tickets/{id}/interventions/{payload}/submit");

    let (status, body) = send(
        &app,
        Method::POST,
        &path,
        &admin,
        json!({
            "action": "submit", "data": {"accept": "yes", "note": "ok"}
        }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "data.accept", "{body}");
    let (status, body) = send(
        &app,
        Method::POST,
        &path,
        &admin,
        json!({
            "action": "submit", "data": {"accept": true}
        }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "data.note", "{body}");
    let other = format!("/v1/tickets/{id}/interventions/itv_01J9X0000000000000000000AA/submit");
    let (status, _) = send(
        &app,
        Method::POST,
        &other,
        &admin,
        json!({"action": "submit", "data": {}}),
    )
    .await;
    assert_eq!(status, 404);

    let data = json!({"currency": "GBP", "order_price": 95, "accept": true, "note": "fine"});
    let (status, body) = send(
        &app,
        Method::POST,
        &path,
        &admin,
        json!({
            "action": "submit", "data": data, "response": {"body": "Approved at 95."}
        }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "submitted");
    let response_id = body["response_id"].as_str().unwrap().to_owned();
    let thread = responses_when(&app, &admin, &id, "the staff response", |r| {
        r.iter().any(|x| x["id"] == response_id.as_str())
    })
    .await;
    let staff = thread
        .iter()
        .find(|x| x["id"] == response_id.as_str())
        .unwrap();
    assert_eq!(
        (staff["kind"].as_str(), staff["body"].as_str()),
        (Some("note"), Some("Approved at 95."))
    );
    assert_eq!(panel(&app, &admin, &id).await[0]["data"], data);

    app.wait_count("interventions.outbox", 0).await;
    let events = tap.settle(&app).await;
    let submitted: Vec<Value> = events
        .iter()
        .filter(|d| d.envelope.kind == "intervention.submitted")
        .map(|d| d.json().unwrap())
        .collect();
    assert_eq!(submitted.len(), 1, "{submitted:?}");
    let e = &submitted[0];
    assert_eq!(e["ticket_id"], id.as_str());
    assert_eq!(e["payload_id"], payload.as_str());
    assert_eq!(e["response_id"], response_id.as_str());
    assert_eq!(
        (
            e["intervention"].as_str(),
            e["uid"].as_str(),
            e["action"].as_str()
        ),
        (Some(NAME), Some("uid-s"), Some("submit"))
    );
    assert_eq!(e["data"], data);
    assert_eq!(
        e["remote"],
        json!({"enabled": true, "name": "Shop", "epilog_url": "https://shop.example/epilog", "timeout_seconds": 7})
    );
    assert!(!e.to_string().contains("rbt-secret-token"));
    app.teardown().await;
}

/// Creates and submits an intervention; answers the submission as the event carries it.
async fn submitted(app: &TestApp, admin: &str, uid: &str) -> Value {
    let created = seed_create(app, admin, uid, 100).await;
    let id = created["ticket_id"].as_str().unwrap().to_owned();
    let payload = created["payload_id"].as_str().unwrap().to_owned();
    ticket(app, admin, &id).await;
    let path = format!("/v1/tickets/{id}/interventions/{payload}/submit");
    let (status, body) = send(
        app,
        Method::POST,
        &path,
        admin,
        json!({
            "action": "submit", "data": {"accept": true, "note": "n"}
        }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let response_id = body["response_id"].as_str().unwrap().to_owned();
    responses_when(app, admin, &id, "the initiating note", |r| {
        r.iter().any(|x| x["id"] == response_id.as_str())
    })
    .await;
    json!({"ticket_id": id, "payload_id": payload, "response_id": response_id, "uid": uid})
}

#[tokio::test]
async fn a_final_audits_the_initiating_response_accepts_and_posts_the_final_template() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &all_templates()).await;
    let s = submitted(&app, &admin, "uid-f").await;
    let id = s["ticket_id"].as_str().unwrap().to_owned();
    let rsp = s["response_id"].as_str().unwrap().to_owned();
    let initiating = responses_when(&app, &admin, &id, "the note", |r| {
        r.iter().any(|x| x["id"] == rsp.as_str())
    })
    .await;
    let note = initiating.iter().find(|x| x["id"] == rsp.as_str()).unwrap();
    assert_eq!(
        note["body"],
        "Intervention Discount request submitted: submit"
    );

    publish_outcome(&app, "epilog.completed", &s, json!({"outcome": "completed", "final": {
        "response_id": rsp, "ticket_audit": "Discount approved at 95 GBP, remote order updated: ORD-10021",
        "remote_reference": "ORD-10021", "applied_price": 95
    }})).await;
    let thread = responses_when(&app, &admin, &id, "the audit and the final", |r| {
        r.iter()
            .any(|x| x["id"] == rsp.as_str() && !x["audit"].as_array().unwrap().is_empty())
            && r.iter().any(|x| {
                x["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with("Approved at 95"))
            })
    })
    .await;
    let audited = thread.iter().find(|x| x["id"] == rsp.as_str()).unwrap();
    assert_eq!(
        audited["audit"][0]["body"],
        "Discount approved at 95 GBP, remote order updated: ORD-10021"
    );
    let fin = thread
        .iter()
        .find(|x| {
            x["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("Approved at 95"))
        })
        .unwrap();
    assert_eq!(
        fin["body"],
        "Approved at 95: Discount approved at 95 GBP, remote order updated: ORD-10021"
    );
    assert_eq!(
        (fin["kind"].as_str(), fin["author"]["type"].as_str()),
        (Some("reply"), Some("system"))
    );
    assert!(
        panel(&app, &admin, &id).await.is_empty(),
        "accepted payloads leave the panel"
    );

    // The same uid after acceptance: a new payload on the same ticket.
    let again = seed_create(&app, &admin, "uid-f", 60).await;
    assert_eq!(again["ticket_id"], id.as_str());
    assert_eq!(again["created_ticket"], false);
    assert_ne!(again["payload_id"], s["payload_id"]);
    assert_eq!(panel(&app, &admin, &id).await.len(), 1);
    assert_eq!(app.count("tickets.tickets").await, 1);
    app.teardown().await;
}

#[tokio::test]
async fn failed_and_rejected_epilogs_leave_private_notes() {
    let app = spawn_app().await;
    let admin = app.admin_key();
    define(&app, &admin, NAME, &all_templates()).await;
    let s = submitted(&app, &admin, "uid-x").await;
    let id = s["ticket_id"].as_str().unwrap().to_owned();

    publish_outcome(
        &app,
        "epilog.failed",
        &s,
        json!({"outcome": "failed", "reason": "HTTP 401", "attempts": 1}),
    )
    .await;
    publish_outcome(
        &app,
        "epilog.final_rejected",
        &s,
        json!({"outcome": "final_rejected", "reason": "final.uid does not match"}),
    )
    .await;
    let thread = responses_when(&app, &admin, &id, "two notes", |r| {
        r.iter()
            .filter(|x| x["author"]["type"] == "system" && x["kind"] == "note")
            .count()
            == 3
    })
    .await;
    let failed = thread
        .iter()
        .find(|x| {
            x["body"]
                .as_str()
                .unwrap()
                .contains("failed after 1 attempt")
        })
        .unwrap();
    assert_eq!(failed["public"], false);
    assert!(
        failed["body"].as_str().unwrap().contains("(Shop)"),
        "{failed}"
    );
    assert!(failed["body"].as_str().unwrap().contains("HTTP 401"));
    assert!(failed["body"].as_str().unwrap().contains("/retry"));
    let rejected = thread
        .iter()
        .find(|x| x["body"].as_str().unwrap().contains("was rejected"))
        .unwrap();
    assert!(
        rejected["body"]
            .as_str()
            .unwrap()
            .contains("final.uid does not match")
    );
    assert_eq!(
        panel(&app, &admin, &id).await.len(),
        1,
        "nothing else changes"
    );
    app.teardown().await;
}
