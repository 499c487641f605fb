//! webhook-fanout stores the events that arrive together in one transaction: a burst of
//! events still fans out to exactly the subscribed endpoints, each delivery received
//! once, and a message or an event that comes twice still fans out once. Deliveries and
//! attempts have no foreign keys: deleting an endpoint and purging old events take
//! theirs along, and nothing is left dangling.

use std::{collections::BTreeMap, time::Duration};

use loopdesk_contracts::ids::{EventId, TicketId};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{Options, TENANT, TestApp, spawn_app, spawn_app_with, ticket_body},
    receiver::{Received, Receiver, Reply},
    steps::{delete, sql},
    webhooks::deliveries_of,
};

/// Deliveries whose endpoint or event is gone, plus attempts whose delivery is gone.
async fn dangling(app: &TestApp) -> i64 {
    app.count(
        "webhooks.deliveries d
         WHERE NOT EXISTS (SELECT 1 FROM webhooks.endpoints e WHERE e.id = d.endpoint_id)
            OR NOT EXISTS (SELECT 1 FROM webhooks.events e WHERE e.id = d.event_id)",
    )
    .await
        + app
            .count(
                "webhooks.delivery_attempts a
                 WHERE NOT EXISTS (SELECT 1 FROM webhooks.deliveries d WHERE d.id = a.delivery_id)",
            )
            .await
}

/// A system whose failed attempts are retried only after ten minutes, with a receiver
/// failing every request to `/failing` and taking the others.
async fn with_a_failing_path() -> (TestApp, Receiver) {
    let app = spawn_app_with(Options {
        webhook_schedule_ms: Some("0,600000".into()),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver
        .always_from(|request| match request.path.as_str() {
            "/failing" => Reply::status(500),
            _ => Reply::status(200),
        })
        .await;
    (app, receiver)
}

/// Creates an endpoint for `path` subscribed to `types`; answers its id.
async fn endpoint_at(
    app: &TestApp,
    key: &str,
    receiver: &Receiver,
    path: &str,
    types: Value,
) -> String {
    let endpoint = app
        .create_endpoint(
            key,
            &json!({"url": receiver.url(path), "event_types": types}),
        )
        .await;
    endpoint["id"].as_str().unwrap().to_owned()
}

/// The `webhook-id`s a path received, with how many times each.
fn ids_at(received: &[Received], path: &str) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for request in received.iter().filter(|r| r.path == path) {
        *ids.entry(request.header("webhook-id").to_owned())
            .or_default() += 1;
    }
    ids
}

/// Each id, once.
fn once_each(ids: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    ids.map(|id| (id, 1)).collect()
}

/// Messages webhook-fanout's event consumer has acknowledged so far (every test runs
/// in its own process, so the counter is this test's).
async fn events_acked(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("messages_consumed_total{"))
        .filter(|line| {
            line.contains(".webhook-fanout.events\"") && line.contains("outcome=\"ack\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_burst_of_events_reaches_exactly_the_subscribed_endpoints_once_each() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let key = app.admin_key();
    let tap = app.tap_events("ticket.#").await;
    let mut secrets = BTreeMap::new();
    let mut endpoint_ids = BTreeMap::new();
    for (path, types) in [
        ("/created", json!(["ticket.created"])),
        ("/all", json!(["ticket.*"])),
        ("/closed", json!(["ticket.closed"])),
    ] {
        let endpoint = app
            .create_endpoint(
                &key,
                &json!({"url": receiver.url(path), "event_types": types}),
            )
            .await;
        secrets.insert(path, endpoint["secret"].as_str().unwrap().to_owned());
        endpoint_ids.insert(path, endpoint["id"].as_str().unwrap().to_owned());
    }

    let creates = (0..50).map(|i| {
        let app = &app;
        let key = &key;
        async move {
            let response = app
                .create_ticket(key, &ticket_body(&format!("Burst {i}")))
                .await;
            assert_eq!(response.status(), 201);
            let ticket: Value = response.json().await.unwrap();
            ticket["id"].as_str().unwrap().to_owned()
        }
    });
    let mut tickets = futures::future::join_all(creates).await;
    tickets.sort();
    app.outbox_drained().await;

    // What was published, as an independent consumer saw it.
    let published: Vec<Value> = tap
        .settle(&app)
        .await
        .iter()
        .map(|d| serde_json::from_slice(&d.body).unwrap())
        .collect();
    let id_of = |e: &Value| e["id"].as_str().unwrap().to_owned();
    let created: Vec<&Value> = published
        .iter()
        .filter(|e| e["type"] == "ticket.created")
        .collect();
    let mut created_tickets: Vec<String> = created
        .iter()
        .map(|e| e["data"]["ticket"]["id"].as_str().unwrap().to_owned())
        .collect();
    created_tickets.sort();
    assert_eq!(created_tickets, tickets, "one ticket.created per ticket");
    let expected_created = once_each(created.iter().map(|e| id_of(e)));
    let expected_all = once_each(published.iter().map(id_of));

    let total = expected_created.len() + expected_all.len();
    wait_until(
        Duration::from_secs(30),
        &format!("{total} deliveries succeeded"),
        || async {
            let done = app
                .count("webhooks.deliveries WHERE status = 'succeeded'")
                .await;
            (done == total as i64).then_some(())
        },
    )
    .await;
    let received = receiver.received().await;
    assert_eq!(ids_at(&received, "/created"), expected_created);
    assert_eq!(ids_at(&received, "/all"), expected_all);
    assert!(ids_at(&received, "/closed").is_empty());
    for request in &received {
        request.assert_signed_by(&secrets[request.path.as_str()]);
        let body = request.json();
        assert_eq!(body["id"], request.header("webhook-id"));
    }
    // The filtered-out endpoint got no delivery at all, not merely none sent yet: an
    // event's deliveries are created together.
    assert!(
        deliveries_of(&app, &key, &endpoint_ids["/closed"])
            .await
            .is_empty()
    );
    assert_eq!(app.count("webhooks.deliveries").await, total as i64);

    receiver.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn an_event_that_comes_twice_fans_out_once() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let key = app.admin_key();
    let endpoint = app
        .create_endpoint(
            &key,
            &json!({"url": receiver.url("/hook"), "event_types": ["ticket.*"]}),
        )
        .await;
    let secret = endpoint["secret"].as_str().unwrap();

    let event = EventId::generate().to_string();
    let body = json!({
        "id": event,
        "type": "ticket.created",
        "created_at": chrono::Utc::now(),
        "tenant": TENANT,
        "env": "test",
        "sequence": 1,
        "data": {
            "ticket": {"id": TicketId::generate().to_string(), "subject": "Said twice"},
            "actor": {"type": "system", "id": "test"},
        }
    });
    let message = OutgoingMessage {
        route: Route::Event("ticket.created".to_owned()),
        envelope: Envelope::new("ticket.created", TENANT, "test"),
        body: serde_json::to_vec(&body).unwrap(),
    };
    // The same message twice (a redelivery), then the same event under another message
    // id (a republish): back to back, so they may share a batch or not.
    let mut republished = message.clone();
    republished.envelope = Envelope::new("ticket.created", TENANT, "test");
    let publisher = app.broker.publisher();
    for m in [&message, &message, &republished] {
        publisher.publish(m).await.expect("event published");
    }

    wait_until(
        Duration::from_secs(20),
        "the three messages acknowledged",
        || async { (events_acked(&app).await >= 3.0).then_some(()) },
    )
    .await;
    app.wait_count("webhooks.deliveries WHERE status = 'succeeded'", 1)
        .await;
    let received = receiver.received().await;
    assert_eq!(received.len(), 1, "one request for one event");
    assert_eq!(received[0].header("webhook-id"), event);
    received[0].assert_signed_by(secret);
    assert_eq!(received[0].json(), body);
    assert_eq!(app.count("webhooks.deliveries").await, 1);
    assert_eq!(app.count("webhooks.events").await, 1);
    let endpoint_id = endpoint["id"].as_str().unwrap();
    assert_eq!(deliveries_of(&app, &key, endpoint_id).await.len(), 1);

    receiver.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn deleting_an_endpoint_deletes_its_deliveries_and_their_attempts() {
    let (app, receiver) = with_a_failing_path().await;
    let key = app.admin_key();
    let failing = endpoint_at(&app, &key, &receiver, "/failing", json!(["ticket.*"])).await;
    let kept = endpoint_at(&app, &key, &receiver, "/kept", json!(["ticket.*"])).await;
    for _ in 0..3 {
        app.publish_event(TENANT, "ticket.created").await;
    }
    // Three succeeded deliveries to /kept; three pending ones to /failing, each with its
    // failed first attempt.
    app.wait_count("webhooks.delivery_attempts", 6).await;
    let of = |endpoint: &str| format!("webhooks.deliveries WHERE endpoint_id = '{endpoint}'");
    assert_eq!(
        app.count(&format!("{} AND status = 'pending'", of(&failing)))
            .await,
        3
    );

    let deleted = delete(&app, &key, &format!("/v1/webhook_endpoints/{failing}")).await;
    assert_eq!(deleted.status(), 200);
    assert_eq!(app.count(&of(&failing)).await, 0);
    assert_eq!(app.count(&of(&kept)).await, 3);
    assert_eq!(
        app.count("webhooks.delivery_attempts").await,
        3,
        "/kept's attempts stay"
    );
    assert_eq!(dangling(&app).await, 0);

    receiver.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn purging_old_events_deletes_their_deliveries_and_attempts_but_not_what_still_waits() {
    let (mut app, receiver) = with_a_failing_path().await;
    let key = app.admin_key();
    endpoint_at(&app, &key, &receiver, "/ok", json!(["ticket.*"])).await;
    endpoint_at(&app, &key, &receiver, "/failing", json!(["ticket.updated"])).await;
    // Delivered everywhere; still waiting for /failing; delivered but recent.
    let delivered = app.publish_event(TENANT, "ticket.created").await;
    let waiting = app.publish_event(TENANT, "ticket.updated").await;
    let recent = app.publish_event(TENANT, "ticket.created").await;
    app.wait_count("webhooks.delivery_attempts", 4).await;

    // Older than the retention (30 days); the purge runs when an instance starts.
    sql(
        &app,
        &format!(
            "UPDATE webhooks.events SET received_at = now() - interval '31 days'
             WHERE id IN ('{delivered}', '{waiting}')"
        ),
    )
    .await;
    app.restart_webhook_fanout().await;
    app.wait_count("webhooks.events", 2).await;

    let deliveries_of_event =
        |event: &str| format!("webhooks.deliveries WHERE event_id = '{event}'");
    assert_eq!(app.count(&deliveries_of_event(&delivered)).await, 0);
    assert_eq!(app.count(&deliveries_of_event(&waiting)).await, 2);
    assert_eq!(app.count(&deliveries_of_event(&recent)).await, 1);
    assert_eq!(
        app.count("webhooks.delivery_attempts").await,
        3,
        "the purged event's one attempt went with it"
    );
    assert_eq!(dangling(&app).await, 0);

    receiver.stop().await;
    app.teardown().await;
}
