//! Webhook endpoints through the gateway, signed deliveries verified by the reference
//! Standard Webhooks implementation (also during secret rotation), filters, tenant
//! isolation, and the events catch-up listing.

use std::time::Duration;

use loopdesk_auth::Ability;
use loopdesk_contracts::Env;
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{TENANT, TestApp, spawn_app, ticket_body},
    receiver::Receiver,
};

/// The deliveries of an endpoint, as the API lists them.
pub async fn deliveries_of(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/v1/webhook_endpoints/{endpoint}/deliveries"), key)
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn endpoints_are_managed_and_their_secret_is_shown_once() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let body = json!({
        "url": "https://hooks.example.com/loopdesk",
        "event_types": ["ticket.created", "ticket.status_changed"],
        "payload_style": "thin",
        "description": "CRM sync",
        "headers": {"X-Team": "support"}
    });
    let response = app
        .post("/v1/webhook_endpoints", &key, Some("create-1"), &body)
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/webhook_endpoints/{id}"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["payload_style"], "thin");
    assert_eq!(created["headers"]["X-Team"], "support");

    // A replay answers the same, without the secret; reads never show it.
    let replay = app
        .post("/v1/webhook_endpoints", &key, Some("create-1"), &body)
        .await;
    assert_eq!(replay.status(), 201);
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed["id"], id.as_str());
    assert!(replayed["secret"].is_null(), "{replayed}");
    let read: Value = app.get(&location, &key).await.json().await.unwrap();
    assert_eq!(read["url"], "https://hooks.example.com/loopdesk");
    assert!(read.get("secret").is_none(), "{read}");
    let list: Value = app
        .get("/v1/webhook_endpoints", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Another tenant cannot see it.
    let other = app.key_for("globex", Env::Test, &[Ability::WebhooksAdmin]);
    assert_eq!(app.get(&location, &other).await.status(), 404);

    let patched = app
        .client
        .patch(format!("{}{location}", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", "patch-1")
        .json(&json!({"enabled": false, "event_types": ["ticket.*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["event_types"], json!(["ticket.*"]));

    let deleted = app
        .client
        .delete(format!("{}{location}", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", "delete-1")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(app.get(&location, &key).await.status(), 404);
    app.teardown().await;
}

#[tokio::test]
async fn invalid_endpoints_are_refused_naming_every_field() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let response = app
        .post(
            "/v1/webhook_endpoints",
            &key,
            Some("bad-1"),
            &json!({
                "url": "ftp://example.com/",
                "event_types": ["ticket.created", "ticket.exploded"],
                "headers": {"webhook-signature": "forged"}
            }),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["url", "event_types[1]", "headers.webhook-signature"],
        "{problem}"
    );
    // Without the ability: 403.
    let reader = app.key_for(TENANT, Env::Test, &[Ability::TicketsRead]);
    assert_eq!(
        app.get("/v1/webhook_endpoints", &reader).await.status(),
        403
    );
    app.teardown().await;
}

#[tokio::test]
async fn deliveries_verify_with_standard_webhooks_also_during_rotation() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let key = app.admin_key();
    let endpoint = app
        .create_endpoint(
            &key,
            &json!({"url": receiver.url("/hook"), "event_types": ["ticket.*"]}),
        )
        .await;
    let first_secret = endpoint["secret"].as_str().unwrap().to_owned();

    // A real ticket.created from the ticket service.
    assert_eq!(
        app.create_ticket(&key, &ticket_body("Printer on fire"))
            .await
            .status(),
        201
    );
    let first = receiver.wait_for(1).await.remove(0);
    first.assert_signed_by(&first_secret);
    let payload = first.json();
    assert_eq!(payload["type"], "ticket.created");
    assert_eq!(first.header("webhook-id"), payload["id"].as_str().unwrap());
    assert_eq!(payload["data"]["ticket"]["subject"], "Printer on fire");
    assert_eq!(first.header("content-type"), "application/json");
    assert!(
        first.header("user-agent").starts_with("Loopdesk-Webhooks/"),
        "{}",
        first.header("user-agent")
    );
    assert_eq!(first.header("webhook-signature").split(' ').count(), 1);

    // During the grace period both secrets sign.
    let id = endpoint["id"].as_str().unwrap();
    let rotated = app
        .post(
            &format!("/v1/webhook_endpoints/{id}/rotate_secret"),
            &key,
            Some("rotate-1"),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    assert!(rotated["previous_secret_expires_at"].is_string());

    app.publish_event(TENANT, "ticket.updated").await;
    let second = receiver.wait_for(2).await.remove(1);
    assert_eq!(second.header("webhook-signature").split(' ').count(), 2);
    second.assert_signed_by(&second_secret);
    second.assert_signed_by(&first_secret);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn filters_and_tenants_decide_who_receives_what() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let key = app.admin_key();
    let only_status = app
        .create_endpoint(
            &key,
            &json!({"url": receiver.url("/status"), "event_types": ["ticket.status_changed"]}),
        )
        .await;
    let thin_all = app
        .create_endpoint(
            &key,
            &json!({"url": receiver.url("/all"), "event_types": ["ticket.*"], "payload_style": "thin"}),
        )
        .await;
    let globex_key = app.key_for("globex", Env::Test, &Ability::ALL);
    let globex = app
        .create_endpoint(
            &globex_key,
            &json!({"url": receiver.url("/globex"), "event_types": ["ticket.*"]}),
        )
        .await;

    app.publish_event(TENANT, "ticket.created").await;
    let status_event = app.publish_event(TENANT, "ticket.status_changed").await;
    // Each event fans out to every endpoint in one transaction: once these three have
    // arrived, nothing else is coming.
    receiver.wait_for(3).await;
    let received = receiver.received().await;
    let at = |path: &str| -> Vec<Value> {
        received
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json())
            .collect()
    };
    let status = at("/status");
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["id"], status_event.as_str());
    let all = at("/all");
    assert_eq!(all.len(), 2);
    for thin in &all {
        assert!(
            thin["data"]["ticket_id"]
                .as_str()
                .unwrap()
                .starts_with("tkt_")
        );
        assert!(thin["data"].get("ticket").is_none(), "{thin}");
        assert!(thin.get("tenant").is_none(), "{thin}");
    }
    assert!(at("/globex").is_empty());
    let globex_id = globex["id"].as_str().unwrap();
    assert!(deliveries_of(&app, &globex_key, globex_id).await.is_empty());
    let only_status_id = only_status["id"].as_str().unwrap();
    assert_eq!(deliveries_of(&app, &key, only_status_id).await.len(), 1);
    assert_eq!(
        deliveries_of(&app, &key, thin_all["id"].as_str().unwrap())
            .await
            .len(),
        2
    );
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn recent_events_can_be_listed_for_catch_up() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let first = app.publish_event(TENANT, "ticket.created").await;
    let second = app.publish_event(TENANT, "ticket.status_changed").await;
    app.publish_event("globex", "ticket.created").await;
    let listed = wait_until(Duration::from_secs(15), "two events listed", || async {
        let page: Value = app.get("/v1/events", &key).await.json().await.unwrap();
        let data = page["data"].as_array().unwrap().clone();
        (data.len() == 2).then_some(data)
    })
    .await;
    // Ids sort by time; two made in the same millisecond may sort either way.
    let mut expected = [first.clone(), second.clone()];
    expected.sort();
    let ids: Vec<&str> = listed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);

    let after: Value = app
        .get(&format!("/v1/events?after={}", expected[0]), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["data"].as_array().unwrap().len(), 1);
    assert_eq!(after["data"][0]["id"], expected[1].as_str());
    let typed: Value = app
        .get("/v1/events?type=ticket.created", &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(typed["data"].as_array().unwrap().len(), 1);
    assert_eq!(typed["data"][0]["id"], first.as_str());
    assert_eq!(
        app.get("/v1/events?type=ticket.nope", &key).await.status(),
        422
    );
    app.teardown().await;
}
