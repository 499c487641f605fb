use std::time::Duration;

use loopdesk_testkit::wait_until;
use serde_json::Value;

use crate::helpers::{Options, spawn_app_with, ticket_body};

#[tokio::test]
async fn the_gateway_answers_503_while_the_broker_is_away_and_recovers() {
    let app = spawn_app_with(Options {
        gateway_broker_proxy: true,
        ..Options::default()
    })
    .await;
    let key = app.admin_key();
    let body = ticket_body("During the outage");
    assert_eq!(
        app.create_ticket(&key, &ticket_body("Before"))
            .await
            .status(),
        201
    );

    let proxy = app.broker_proxy.as_ref().unwrap();
    proxy.cut();
    let refused = app.post("/v1/tickets", &key, Some("outage-1"), &body).await;
    assert_eq!(refused.status(), 503);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "service_unavailable");
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "not ready without the broker");
    assert_eq!(app.count("tickets.tickets").await, 1, "nothing half-done");

    proxy.restore();
    wait_until(
        Duration::from_secs(20),
        "the gateway to reconnect",
        || async {
            let ready = app
                .client
                .get(format!("{}/readyz", app.address))
                .send()
                .await
                .ok()?;
            (ready.status() == 200).then_some(())
        },
    )
    .await;
    let retried = app.post("/v1/tickets", &key, Some("outage-1"), &body).await;
    assert_eq!(
        retried.status(),
        201,
        "the same key works once the broker is back"
    );
    let again = app.post("/v1/tickets", &key, Some("outage-1"), &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.count("tickets.tickets").await, 2);

    app.teardown().await;
}

#[tokio::test]
async fn commands_accepted_while_the_ticket_database_is_down_apply_once_when_it_returns() {
    let app = spawn_app_with(Options {
        ticket_db_proxy: true,
        reply_deadline_ms: Some(1000),
        ..Options::default()
    })
    .await;
    let tap = app.tap_events("ticket.created").await;
    let key = app.admin_key();
    assert_eq!(
        app.create_ticket(&key, &ticket_body("Before"))
            .await
            .status(),
        201
    );

    let proxy = app.ticket_db_proxy.as_ref().unwrap();
    proxy.cut();
    let accepted = app
        .post(
            "/v1/tickets",
            &key,
            Some("db-outage-1"),
            &ticket_body("During"),
        )
        .await;
    assert_eq!(
        accepted.status(),
        202,
        "durably queued while the owner cannot write"
    );
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    let read = app.get(&location, &key).await;
    assert_eq!(read.status(), 503);
    assert!(read.headers().contains_key("retry-after"));

    proxy.restore();
    wait_until(
        Duration::from_secs(30),
        "the queued ticket to be created",
        || async { (app.get(&location, &key).await.status() == 200).then_some(()) },
    )
    .await;
    app.wait_count("tickets.tickets", 2).await;
    app.outbox_drained().await;
    // The relay may publish a message again if the outage cut it between the broker's
    // confirm and its own commit (at-least-once); the copy carries the same message id,
    // which is what consumers deduplicate on. Distinct messages: one per ticket.
    let events = tap.settle(&app).await;
    let messages: std::collections::HashMap<String, String> = events
        .iter()
        .map(|d| {
            let event: loopdesk_contracts::events::TicketEvent = d.json().unwrap();
            (
                d.envelope.message_id.clone(),
                event.data.ticket.id.to_string(),
            )
        })
        .collect();
    assert_eq!(messages.len(), 2, "one ticket.created message per ticket");
    let tickets: std::collections::HashSet<_> = messages.values().collect();
    assert_eq!(tickets.len(), 2);

    app.teardown().await;
}

#[tokio::test]
async fn a_restart_during_a_burst_loses_nothing() {
    let mut app = spawn_app_with(Options {
        reply_deadline_ms: Some(1000),
        ..Options::default()
    })
    .await;
    let receiver = crate::receiver::Receiver::start().await;
    receiver.always(crate::receiver::Reply::status(200)).await;
    let key = app.admin_key();
    app.create_endpoint(
        &key,
        &serde_json::json!({"url": receiver.url("/hooks"), "event_types": ["ticket.created"]}),
    )
    .await;

    let bodies: Vec<serde_json::Value> = (0..60)
        .map(|i| ticket_body(&format!("Burst {i}")))
        .collect();
    let burst = futures::future::join_all(bodies.iter().map(|b| app.create_ticket(&key, b)));
    let (stop_tickets, stop_webhooks) = app.consumer_stop_tokens();
    let sigterm = async {
        // Mid-burst, the consumers get SIGTERM (what their shutdown token stands for)
        // and drain; later requests are accepted into the queue (202) meanwhile.
        wait_until(
            Duration::from_secs(20),
            "the burst to be under way",
            || async { (app.count("tickets.tickets").await >= 10).then_some(()) },
        )
        .await;
        stop_tickets.cancel();
        stop_webhooks.cancel();
    };
    let (responses, ()) = tokio::join!(burst, sigterm);
    // The restart: new instances take over the queues and the outbox.
    app.start_another_ticket_service().await;
    app.start_another_webhook_fanout().await;

    let mut accepted = std::collections::HashSet::new();
    for response in responses {
        let status = response.status().as_u16();
        assert!(
            status == 201 || status == 202,
            "every create was accepted: {status}"
        );
        let body: Value = response.json().await.unwrap();
        accepted.insert(body["id"].as_str().unwrap().to_owned());
    }
    app.wait_count("tickets.tickets", accepted.len() as i64)
        .await;
    app.outbox_drained().await;
    let delivered = wait_until(
        Duration::from_secs(30),
        "a webhook for every ticket",
        || async {
            let ids: std::collections::HashSet<String> = receiver
                .received()
                .await
                .iter()
                .filter_map(|r| r.json()["data"]["ticket"]["id"].as_str().map(str::to_owned))
                .collect();
            (ids.len() >= accepted.len()).then_some(ids)
        },
    )
    .await;
    assert_eq!(
        delivered, accepted,
        "every accepted ticket persisted and announced"
    );

    receiver.stop().await;
    app.teardown().await;
}
