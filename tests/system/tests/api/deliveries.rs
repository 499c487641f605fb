//! Delivery behaviour against a real receiver: the retry schedule with a stable
//! `webhook-id`, dead deliveries brought back by redeliver and recover, 410, redirects,
//! timeouts, `Retry-After`, and two fanout instances sharing one queue.

use std::time::Duration;

use loopdesk_testkit::wait_until;
use serde_json::{Value, json};

use crate::{
    helpers::{Options, TENANT, TestApp, spawn_app, spawn_app_with},
    receiver::{Receiver, Reply},
    webhooks::deliveries_of,
};

async fn endpoint(app: &TestApp, key: &str, receiver: &Receiver) -> (String, String) {
    let created = app
        .create_endpoint(
            key,
            &json!({"url": receiver.url("/hook"), "event_types": ["ticket.*"]}),
        )
        .await;
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Waits until the endpoint's only delivery has `status`; answers it.
async fn delivery_with_status(app: &TestApp, key: &str, endpoint: &str, status: &str) -> Value {
    wait_until(
        Duration::from_secs(20),
        &format!("a {status} delivery"),
        || async {
            deliveries_of(app, key, endpoint)
                .await
                .into_iter()
                .find(|d| d["status"] == status)
        },
    )
    .await
}

async fn attempts(app: &TestApp, key: &str, delivery: &str) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/v1/deliveries/{delivery}/attempts"), key)
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn failures_are_retried_on_schedule_with_the_same_webhook_id() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver
        .script(vec![
            Reply::status(500),
            Reply::status(500),
            Reply::status(500),
        ])
        .await;
    let key = app.admin_key();
    let (id, secret) = endpoint(&app, &key, &receiver).await;
    let event = app.publish_event(TENANT, "ticket.created").await;

    let seen = receiver.wait_for(4).await;
    assert_eq!(seen.len(), 4);
    for request in &seen {
        assert_eq!(request.header("webhook-id"), event);
        request.assert_signed_by(&secret);
    }
    // Test schedule 0, 100, 200, 300 ms with ±20% jitter.
    for (i, planned) in [100u64, 200, 300].into_iter().enumerate() {
        let gap = seen[i + 1].at - seen[i].at;
        assert!(
            gap >= Duration::from_millis(planned * 8 / 10),
            "retry {} came after {gap:?}",
            i + 1
        );
    }
    let delivery = delivery_with_status(&app, &key, &id, "succeeded").await;
    let tried = attempts(&app, &key, delivery["id"].as_str().unwrap()).await;
    let codes: Vec<i64> = tried
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 500, 200]);
    assert_eq!(tried[0]["response_excerpt"], "answered 500");
    assert!(tried[0]["latency_ms"].as_i64().unwrap() >= 0);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn dead_deliveries_come_back_with_redeliver_and_recover() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(500)).await;
    let key = app.admin_key();
    let (id, _) = endpoint(&app, &key, &receiver).await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    app.publish_event(TENANT, "ticket.created").await;

    // Five attempts on the test schedule, then dead.
    let dead = delivery_with_status(&app, &key, &id, "dead").await;
    assert_eq!(receiver.received().await.len(), 5);
    assert_eq!(dead["attempts"], 5);

    receiver.always(Reply::status(200)).await;
    let dead_id = dead["id"].as_str().unwrap();
    let redelivered = app
        .post(
            &format!("/v1/deliveries/{dead_id}/redeliver"),
            &key,
            Some("redeliver-1"),
            &json!({}),
        )
        .await;
    assert_eq!(redelivered.status(), 202);
    receiver.wait_for(6).await;
    delivery_with_status(&app, &key, &id, "succeeded").await;

    // A second one dies, then recover re-sends every failed one of the window.
    receiver.always(Reply::status(500)).await;
    app.publish_event(TENANT, "ticket.updated").await;
    wait_until(
        Duration::from_secs(20),
        "the second delivery dead",
        || async {
            let all = deliveries_of(&app, &key, &id).await;
            all.iter().any(|d| d["status"] == "dead").then_some(())
        },
    )
    .await;
    receiver.always(Reply::status(200)).await;
    let recovered = app
        .post(
            &format!("/v1/webhook_endpoints/{id}/recover"),
            &key,
            Some("recover-1"),
            &json!({"since": since}),
        )
        .await;
    assert_eq!(recovered.status(), 202);
    let recovered: Value = recovered.json().await.unwrap();
    assert_eq!(recovered["deliveries"], 1);
    wait_until(
        Duration::from_secs(20),
        "both deliveries succeeded",
        || async {
            let all = deliveries_of(&app, &key, &id).await;
            all.iter().all(|d| d["status"] == "succeeded").then_some(())
        },
    )
    .await;
    assert_eq!(receiver.received().await.len(), 12);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(410)).await;
    let key = app.admin_key();
    let (id, _) = endpoint(&app, &key, &receiver).await;
    app.publish_event(TENANT, "ticket.created").await;
    let dead = delivery_with_status(&app, &key, &id, "dead").await;
    assert_eq!(dead["attempts"], 1);
    let endpoint: Value = app
        .get(&format!("/v1/webhook_endpoints/{id}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{endpoint}"
    );
    // A disabled endpoint gets no new deliveries.
    app.publish_event(TENANT, "ticket.updated").await;
    wait_until(
        Duration::from_secs(15),
        "the second event stored",
        || async { (app.count("webhooks.events").await == 2).then_some(()) },
    )
    .await;
    assert_eq!(deliveries_of(&app, &key, &id).await.len(), 1);
    assert_eq!(receiver.received().await.len(), 1);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn endpoints_failing_continuously_are_disabled_and_say_why() {
    let app = spawn_app_with(Options {
        webhook_failure_disable_after_ms: Some(150),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(500)).await;
    let key = app.admin_key();
    let (id, _) = endpoint(&app, &key, &receiver).await;
    app.publish_event(TENANT, "ticket.created").await;
    let endpoint = wait_until(Duration::from_secs(20), "the endpoint disabled", || async {
        let endpoint: Value = app
            .get(&format!("/v1/webhook_endpoints/{id}"), &key)
            .await
            .json()
            .await
            .ok()?;
        (endpoint["enabled"] == false).then_some(endpoint)
    })
    .await;
    let reason = endpoint["disabled_reason"].as_str().unwrap();
    assert!(
        reason.contains("every attempt has failed since"),
        "{reason}"
    );
    // Disabled before the schedule ran out (5 attempts): the rest are not sent.
    let dead = delivery_with_status(&app, &key, &id, "dead").await;
    assert!(dead["attempts"].as_i64().unwrap() < 5, "{dead}");
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn redirects_are_failures_and_are_not_followed() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver
        .script(vec![
            Reply::status(302).header("location", &receiver.url("/elsewhere")),
        ])
        .await;
    let key = app.admin_key();
    let (id, _) = endpoint(&app, &key, &receiver).await;
    app.publish_event(TENANT, "ticket.created").await;
    let delivery = delivery_with_status(&app, &key, &id, "succeeded").await;
    let paths: Vec<String> = receiver
        .received()
        .await
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths, ["/hook", "/hook"]);
    let tried = attempts(&app, &key, delivery["id"].as_str().unwrap()).await;
    assert_eq!(tried[0]["status_code"], 302);
    assert_eq!(tried[0]["succeeded"], false);
    assert!(tried[0]["error"].as_str().unwrap().contains("redirect"));
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn timeouts_are_failures() {
    let app = spawn_app_with(Options {
        webhook_attempt_timeout_ms: Some(300),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver
        .script(vec![Reply::status(200).after(Duration::from_secs(2))])
        .await;
    let key = app.admin_key();
    let (id, _) = endpoint(&app, &key, &receiver).await;
    app.publish_event(TENANT, "ticket.created").await;
    let delivery = delivery_with_status(&app, &key, &id, "succeeded").await;
    let tried = attempts(&app, &key, delivery["id"].as_str().unwrap()).await;
    assert_eq!(tried.len(), 2);
    assert!(tried[0]["status_code"].is_null());
    assert!(
        tried[0]["error"].as_str().unwrap().contains("timed out"),
        "{}",
        tried[0]
    );
    assert_eq!(tried[1]["status_code"], 200);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn retry_after_delays_the_next_attempt() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    receiver
        .script(vec![Reply::status(503).header("retry-after", "1")])
        .await;
    let key = app.admin_key();
    endpoint(&app, &key, &receiver).await;
    app.publish_event(TENANT, "ticket.created").await;
    let seen = receiver.wait_for(2).await;
    // The schedule says 100 ms; the endpoint asked for 1 s.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(950));
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn two_instances_deliver_everything_without_sending_an_attempt_twice() {
    let mut app = spawn_app().await;
    app.start_another_webhook_fanout().await;
    let receiver = Receiver::start().await;
    receiver
        .always(Reply::status(200).after(Duration::from_millis(30)))
        .await;
    let key = app.admin_key();
    endpoint(&app, &key, &receiver).await;
    let mut events = Vec::new();
    for _ in 0..30 {
        events.push(app.publish_event(TENANT, "ticket.updated").await);
    }
    wait_until(
        Duration::from_secs(20),
        "30 deliveries succeeded",
        || async {
            let n = app
                .count("webhooks.deliveries WHERE status = 'succeeded'")
                .await;
            (n == 30).then_some(())
        },
    )
    .await;
    let seen = receiver.received().await;
    let mut ids: Vec<String> = seen
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    ids.sort();
    events.sort();
    assert_eq!(ids, events, "every event once, none twice");
    assert_eq!(receiver.max_in_flight_per_id().await, 1);
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_scheduled_retry_survives_a_restart_of_the_service() {
    let mut app = spawn_app_with(Options {
        webhook_schedule_ms: Some("0,1500".into()),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script(vec![Reply::status(500)]).await;
    let key = app.admin_key();
    let (_, secret) = endpoint(&app, &key, &receiver).await;
    let event = app.publish_event(TENANT, "ticket.created").await;
    receiver.wait_for(1).await;

    // The retry is due in 1.5 s; the instance that scheduled it goes away meanwhile.
    // (The gateway reads through the stopped instance's API, so the database tells.)
    app.restart_webhook_fanout().await;
    let seen = receiver.wait_for(2).await;
    assert_eq!(seen[1].header("webhook-id"), event);
    seen[1].assert_signed_by(&secret);
    app.wait_count("webhooks.deliveries WHERE status = 'succeeded'", 1)
        .await;
    assert_eq!(
        app.count("webhooks.delivery_attempts").await,
        2,
        "one failure before the restart, one success after"
    );

    receiver.stop().await;
    app.teardown().await;
}

#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_the_others() {
    let app = spawn_app_with(Options {
        webhook_attempt_timeout_ms: Some(15_000),
        ..Options::default()
    })
    .await;
    let slow = Receiver::start().await;
    slow.always(Reply::status(200).after(Duration::from_secs(5)))
        .await;
    let fast = Receiver::start().await;
    fast.always(Reply::status(200)).await;
    let key = app.admin_key();
    let (slow_id, _) = endpoint(&app, &key, &slow).await;
    endpoint(&app, &key, &fast).await;

    for _ in 0..20 {
        app.publish_event(TENANT, "ticket.created").await;
    }
    // Every delivery to the fast endpoint completes while the slow one's first answers
    // are still seconds away.
    fast.wait_for(20).await;
    let slow_done = deliveries_of(&app, &key, &slow_id)
        .await
        .into_iter()
        .filter(|d| d["status"] == "succeeded")
        .count();
    assert_eq!(
        slow_done, 0,
        "the fast endpoint did not wait for the slow one"
    );

    slow.stop().await;
    fast.stop().await;
    app.teardown().await;
}
