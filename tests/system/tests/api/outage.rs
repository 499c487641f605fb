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
