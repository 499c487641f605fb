use std::time::Duration;

use loopdesk_testkit::wait_until;
use opentelemetry::trace::TraceId;
use serde_json::json;

use crate::{
    helpers::{TestApp, spawn_app, ticket_body},
    receiver::{Receiver, Reply},
};

async fn subscribed(app: &TestApp) -> (Receiver, String) {
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(200)).await;
    let key = app.admin_key();
    app.create_endpoint(
        &key,
        &json!({"url": receiver.url("/hooks"), "event_types": ["ticket.created"]}),
    )
    .await;
    (receiver, key)
}

#[tokio::test]
async fn one_trace_runs_from_the_request_through_each_queue_to_the_webhook() {
    let capture = loopdesk_telemetry::testing::capture_spans();
    let app = spawn_app().await;
    let (receiver, key) = subscribed(&app).await;
    let trace_id = format!("{:032x}", ulid::Ulid::new().0);
    let created = app
        .client
        .post(format!("{}/v1/tickets", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", ulid::Ulid::new().to_string())
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&ticket_body("Traced"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let delivered = receiver.wait_for(1).await;
    let traceparent = delivered[0].header("traceparent").to_owned();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "the receiver sees the caller's trace: {traceparent}"
    );

    // Each hop recorded its spans in that trace: the gateway's request, the ticket
    // service's command, the fan-out's event.
    let wanted = TraceId::from_hex(&trace_id).unwrap();
    let hops = wait_until(
        Duration::from_secs(10),
        "the spans of every hop",
        || async {
            let spans: Vec<_> = capture
                .spans()
                .into_iter()
                .filter(|s| s.span_context.trace_id() == wanted)
                .collect();
            let queue_of = |s: &opentelemetry_sdk::trace::SpanData| {
                s.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "queue")
                    .map(|kv| kv.value.to_string())
                    .unwrap_or_default()
            };
            let request = spans.iter().any(|s| s.name == "http_request");
            let command = spans
                .iter()
                .any(|s| s.name == "message" && queue_of(s).ends_with("ticket-service.commands"));
            let fanout = spans
                .iter()
                .any(|s| s.name == "message" && queue_of(s).ends_with("webhook-fanout.events"));
            (request && command && fanout).then_some(spans.len())
        },
    )
    .await;
    assert!(hops >= 3);

    receiver.stop().await;
    app.teardown().await;
}

/// Sums the samples of `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_move_when_a_ticket_is_created_and_its_webhook_delivered() {
    let app = spawn_app().await;
    let (receiver, key) = subscribed(&app).await;
    let scrape = || async {
        let response = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    };
    let created = [
        ("route", "/v1/tickets"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let succeeded = [("outcome", "succeeded")];
    let before = scrape().await;

    assert_eq!(
        app.create_ticket(&key, &ticket_body("Counted"))
            .await
            .status(),
        201
    );
    receiver.wait_for(1).await;

    let after = wait_until(
        Duration::from_secs(10),
        "the delivery to be counted",
        || async {
            let text = scrape().await;
            (sample(&text, "webhook_delivery_attempts_total", &succeeded)
                > sample(&before, "webhook_delivery_attempts_total", &succeeded))
            .then_some(text)
        },
    )
    .await;
    assert!(
        sample(&after, "http_requests_total", &created)
            >= sample(&before, "http_requests_total", &created) + 1.0
    );
    assert!(sample(&after, "http_request_duration_seconds_count", &created) >= 1.0);
    assert!(
        sample(&after, "messages_consumed_total", &[("outcome", "ack")])
            > sample(&before, "messages_consumed_total", &[("outcome", "ack")])
    );
    assert!(
        sample(
            &after,
            "messages_published_total",
            &[("outcome", "confirmed")]
        ) >= 2.0
    );
    assert!(after.contains("webhook_delivery_attempt_duration_seconds_bucket"));

    receiver.stop().await;
    app.teardown().await;
}
