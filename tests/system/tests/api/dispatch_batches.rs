//! webhook-fanout's dispatcher claims due deliveries in batches (a finished attempt no
//! longer claims for the one slot it freed), with a claim statement each connection
//! prepares once. What subscribers see must not change: every due delivery is attempted,
//! once, after a burst larger than the dispatcher's concurrency, past an endpoint held
//! at its own cap, and when only a few slots are free for a long time.

use std::{collections::BTreeMap, time::Duration};

use loopdesk_testkit::wait_until;
use serde_json::json;

use crate::{
    helpers::{Options, TENANT, TestApp, spawn_app_with},
    receiver::{Received, Receiver, Reply},
};

/// webhook-fanout's defaults, which the system under test runs with.
const CONCURRENCY: usize = 64;
const PER_ENDPOINT: usize = 16;

/// A system whose attempts may take a while (slow endpoints answer within it).
async fn patient_app() -> TestApp {
    spawn_app_with(Options {
        webhook_attempt_timeout_ms: Some(20_000),
        ..Options::default()
    })
    .await
}

/// Creates an endpoint for `path` subscribed to `types`.
async fn endpoint_at(app: &TestApp, receiver: &Receiver, path: &str, types: &[&str]) {
    app.create_endpoint(
        &app.admin_key(),
        &json!({"url": receiver.url(path), "event_types": types}),
    )
    .await;
}

/// The requests that came to paths starting with `prefix`, in arrival order.
async fn arrivals(receiver: &Receiver, prefix: &str) -> Vec<Received> {
    let mut seen: Vec<Received> = receiver
        .received()
        .await
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect();
    seen.sort_by_key(|r| r.at);
    seen
}

/// Waits until `n` requests came to paths starting with `prefix`; answers them.
async fn wait_for_arrivals(receiver: &Receiver, prefix: &str, n: usize) -> Vec<Received> {
    wait_until(
        Duration::from_secs(60),
        &format!("{n} requests to {prefix}"),
        || async {
            let seen = arrivals(receiver, prefix).await;
            (seen.len() >= n).then_some(seen)
        },
    )
    .await
}

/// How many requests each (path, `webhook-id`) pair got.
fn sends(received: &[Received]) -> BTreeMap<(String, String), usize> {
    let mut sends = BTreeMap::new();
    for request in received {
        let key = (
            request.path.clone(),
            request.header("webhook-id").to_owned(),
        );
        *sends.entry(key).or_default() += 1;
    }
    sends
}

/// Waits until every one of the `n` deliveries succeeded at its first attempt, then
/// checks the receiver got each exactly once: a delivery that succeeded is never sent
/// again, so nothing more can come.
async fn all_delivered_once(app: &TestApp, receiver: &Receiver, n: usize) {
    let n = i64::try_from(n).unwrap();
    wait_until(
        Duration::from_secs(60),
        &format!("{n} deliveries succeeded"),
        || async {
            let done = app
                .count("webhooks.deliveries WHERE status = 'succeeded'")
                .await;
            (done == n).then_some(())
        },
    )
    .await;
    assert_eq!(app.count("webhooks.deliveries").await, n);
    assert_eq!(
        app.count("webhooks.deliveries WHERE attempts = 1").await,
        n,
        "every delivery went out in one attempt"
    );
    assert_eq!(app.count("webhooks.delivery_attempts").await, n);
    let received = receiver.received().await;
    let sends = sends(&received);
    assert_eq!(received.len(), usize::try_from(n).unwrap());
    assert_eq!(sends.len(), received.len(), "each delivery was sent once");
}

#[tokio::test]
async fn a_burst_larger_than_the_concurrency_reaches_every_endpoint_once() {
    let app = patient_app().await;
    let receiver = Receiver::start().await;
    // Answers that take a moment, so the burst holds every slot for a while.
    receiver
        .always(Reply::status(200).after(Duration::from_millis(50)))
        .await;
    let endpoints = 8;
    for i in 0..endpoints {
        endpoint_at(&app, &receiver, &format!("/burst/{i}"), &["ticket.*"]).await;
    }
    let events = 40;
    let mut published = Vec::new();
    for _ in 0..events {
        published.push(app.publish_event(TENANT, "ticket.created").await);
    }
    let deliveries = endpoints * events;
    assert!(deliveries > 4 * CONCURRENCY);

    let received = wait_for_arrivals(&receiver, "/burst/", deliveries).await;
    all_delivered_once(&app, &receiver, deliveries).await;
    // Every endpoint got every event.
    let sends = sends(&received);
    for i in 0..endpoints {
        for event in &published {
            assert_eq!(
                sends.get(&(format!("/burst/{i}"), event.clone())),
                Some(&1),
                "endpoint {i}, event {event}"
            );
        }
    }
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_slow_endpoint_at_its_cap_does_not_hold_up_the_others() {
    let app = patient_app().await;
    let receiver = Receiver::start().await;
    let slow = Duration::from_secs(3);
    receiver
        .always_from(move |request| match request.path.as_str() {
            "/slow" => Reply::status(200).after(slow),
            _ => Reply::status(200),
        })
        .await;
    endpoint_at(&app, &receiver, "/slow", &["ticket.*"]).await;
    endpoint_at(&app, &receiver, "/fast", &["ticket.*"]).await;
    let events = PER_ENDPOINT + 8;
    for _ in 0..events {
        app.publish_event(TENANT, "ticket.created").await;
    }

    let fast = wait_for_arrivals(&receiver, "/fast", events).await;
    let slow_sent = wait_for_arrivals(&receiver, "/slow", PER_ENDPOINT).await;
    let first_slow = slow_sent[0].at;
    let last_fast = fast.last().unwrap().at;
    assert!(
        last_fast < first_slow + slow,
        "the fast endpoint waited for the slow one: its last request came {:?} after the \
         slow one's first",
        last_fast - first_slow
    );

    let slow_sent = wait_for_arrivals(&receiver, "/slow", events).await;
    // The slow endpoint had as many attempts in flight as it may, and no more: its
    // 16th request came before any answer, its 17th after one.
    assert!(slow_sent[PER_ENDPOINT - 1].at - first_slow < slow);
    assert!(slow_sent[PER_ENDPOINT].at - first_slow >= slow);
    all_delivered_once(&app, &receiver, 2 * events).await;
    app.teardown().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_few_free_slots_are_still_used_while_the_rest_stay_busy() {
    let app = patient_app().await;
    let receiver = Receiver::start().await;
    let busy_for = Duration::from_secs(4);
    receiver
        .always_from(move |request| {
            if request.path.starts_with("/busy/") {
                Reply::status(200).after(busy_for)
            } else {
                Reply::status(200)
            }
        })
        .await;
    // Three endpoints at their cap and a fourth one short of it: one slot of the
    // dispatcher's 64 stays free while they answer, fewer than a claim waits for.
    for i in 0..3 {
        endpoint_at(&app, &receiver, &format!("/busy/{i}"), &["ticket.created"]).await;
    }
    endpoint_at(&app, &receiver, "/busy/3", &["ticket.updated"]).await;
    endpoint_at(&app, &receiver, "/quick", &["ticket.closed"]).await;
    for _ in 0..PER_ENDPOINT {
        app.publish_event(TENANT, "ticket.created").await;
    }
    for _ in 0..PER_ENDPOINT - 1 {
        app.publish_event(TENANT, "ticket.updated").await;
    }
    let busy = CONCURRENCY - 1;
    let busy_sent = wait_for_arrivals(&receiver, "/busy/", busy).await;
    let busy_since = busy_sent[0].at;

    let quick = 5;
    for _ in 0..quick {
        app.publish_event(TENANT, "ticket.closed").await;
    }
    let quick_sent = wait_for_arrivals(&receiver, "/quick", quick).await;
    let last_quick = quick_sent.last().unwrap().at;
    assert!(
        last_quick < busy_since + busy_for,
        "the free slot went unused until the busy endpoints answered ({:?} after the \
         first busy request)",
        last_quick - busy_since
    );
    // They went out through the one free slot: every busy attempt was in flight then.
    assert!(busy_sent[busy - 1].at < busy_since + busy_for);
    all_delivered_once(&app, &receiver, busy + quick).await;
    app.teardown().await;
    receiver.stop().await;
}
