use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Options, spawn_app, spawn_app_with, ticket_body};

#[tokio::test]
async fn the_same_key_and_body_replays_the_original_answer() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let body = ticket_body("Replay me");

    let first = app.post("/v1/tickets", &key, Some("idem-1"), &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    // The same JSON with members in another order is the same request.
    let reordered: Value = serde_json::from_str(&body.to_string()).unwrap();
    let second = app
        .post("/v1/tickets", &key, Some("idem-1"), &reordered)
        .await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.headers()["location"],
        format!("/v1/tickets/{}", first["id"].as_str().unwrap())
    );
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(app.count("tickets.tickets").await, 1);

    app.teardown().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let app = spawn_app().await;
    let key = app.admin_key();
    assert_eq!(
        app.post("/v1/tickets", &key, Some("idem-2"), &ticket_body("One"))
            .await
            .status(),
        201
    );

    let reused = app
        .post("/v1/tickets", &key, Some("idem-2"), &ticket_body("Two"))
        .await;
    assert_eq!(reused.status(), 409);
    assert_eq!(reused.headers()["content-type"], "application/problem+json");
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused");
    assert_eq!(app.count("tickets.tickets").await, 1);

    // Keys are scoped to the tenant: another tenant may use the same key.
    let other = app.key_for(
        "globex",
        loopdesk_contracts::Env::Test,
        &loopdesk_auth::Ability::ALL,
    );
    assert_eq!(
        app.post("/v1/tickets", &other, Some("idem-2"), &ticket_body("Two"))
            .await
            .status(),
        201
    );

    app.teardown().await;
}

#[tokio::test]
async fn a_key_in_flight_is_refused_with_retry_after() {
    // Without a ticket service nobody answers, so the first request holds its key for
    // the whole reply deadline.
    let app = spawn_app_with(Options {
        without_ticket_service: true,
        reply_deadline_ms: Some(3000),
        ..Options::default()
    })
    .await;
    // The command queue must exist for the command to be accepted at all.
    declare_ticket_queue(&app).await;
    let key = app.admin_key();
    let body = ticket_body("Slow");

    let first = app.post("/v1/tickets", &key, Some("idem-3"), &body);
    let second = async {
        // Let the first request claim the key.
        loopdesk_testkit::wait_until(
            Duration::from_secs(5),
            "the first request to claim its key",
            || async { (app.count("gateway.idempotency_keys").await == 1).then_some(()) },
        )
        .await;
        app.post("/v1/tickets", &key, Some("idem-3"), &body).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(second.status(), 409);
    assert!(second.headers().contains_key("retry-after"));
    let problem: Value = second.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_in_use");

    // Unanswered within the deadline: accepted, and replayed as such.
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let replay = app.post("/v1/tickets", &key, Some("idem-3"), &body).await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["location"], location.as_str());

    app.teardown().await;
}

async fn declare_ticket_queue(app: &crate::helpers::TestApp) {
    let spec = loopdesk_messaging::ConsumerSpec {
        name: "ticket-service.commands".into(),
        bindings: vec![loopdesk_messaging::Binding::Command("ticket.create".into())],
        prefetch: None,
        concurrency: 1,
    };
    loopdesk_messaging::declare_consumer(&app.broker, &spec)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_create_without_a_key_is_refused() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/tickets",
            &app.admin_key(),
            None,
            &ticket_body("No key"),
        )
        .await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_missing");
    assert_eq!(app.count("tickets.tickets").await, 0);
    assert_eq!(app.count("gateway.idempotency_keys").await, 0);

    app.teardown().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_ticket() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let body = ticket_body("Raced");
    let responses = futures::future::join_all(
        (0..8).map(|_| app.post("/v1/tickets", &key, Some("idem-4"), &body)),
    )
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert!(statuses.contains(&201), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(app.count("tickets.tickets").await, 1);

    app.teardown().await;
}
