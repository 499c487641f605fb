//! Publishing: envelope round trip, routing errors, batches.

use std::{collections::HashSet, time::Duration};

use chrono::{TimeZone, Utc};
use loopdesk_messaging::{
    Binding, Broker, BrokerSettings, ConsumerSpec, Envelope, OutgoingMessage, PublishError, Route,
    spawn_consumer,
};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Recorder, TestBroker, event, eventually, settings};

#[tokio::test]
async fn an_event_arrives_with_its_envelope_intact() {
    let test = TestBroker::start().await;
    let recorder = Recorder::acking();
    let consumer = spawn_consumer(
        &test.broker,
        ConsumerSpec::new("audit", vec![Binding::Event("ticket.#".into())]),
        recorder.clone(),
    );

    let envelope = Envelope {
        message_id: "msg_01J9X8Y7Z6W5V4T3S2R1Q0P9N8".into(),
        kind: "ticket.created".into(),
        correlation_id: Some("corr-7".into()),
        reply_to: Some("somewhere.replies".into()),
        timestamp: Utc.timestamp_millis_opt(1_735_000_123_456).unwrap(),
        tenant: "acme".into(),
        env: "live".into(),
        schema_version: 2,
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tracestate: Some("vendor=abc".into()),
    };
    let body = serde_json::json!({"id": "tkt_1", "subject": "Printer on fire"});
    let msg = OutgoingMessage::json(
        Route::Event("ticket.created".into()),
        envelope.clone(),
        &body,
    )
    .unwrap();
    // The queue is declared by the consumer task: publish once it is bound.
    eventually("the consumer's binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    let delivery = eventually("the delivery", || async { recorder.calls().pop() }).await;
    assert_eq!(delivery.envelope, envelope);
    assert_eq!(delivery.json::<serde_json::Value>().unwrap(), body);
    assert_eq!(delivery.attempt, 1);
    assert!(!delivery.redelivered);
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn a_command_reaches_its_owner_only() {
    let test = TestBroker::start().await;
    let owner = Recorder::acking();
    let other = Recorder::acking();
    let consumers = vec![
        spawn_consumer(
            &test.broker,
            ConsumerSpec::new("tickets", vec![Binding::Command("ticket.create".into())]),
            owner.clone(),
        ),
        spawn_consumer(
            &test.broker,
            ConsumerSpec::new("webhooks", vec![Binding::Command("webhook.create".into())]),
            other.clone(),
        ),
    ];
    let msg = OutgoingMessage::json(
        Route::Command("ticket.create".into()),
        Envelope::new("ticket.create", "acme", "test"),
        &serde_json::json!({"subject": "hi"}),
    )
    .unwrap();
    eventually("the command binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    let delivery = eventually("the command", || async { owner.calls().pop() }).await;
    assert_eq!(delivery.envelope.message_id, msg.envelope.message_id);
    assert_eq!(other.call_count(), 0);
    test.stop(consumers).await;
}

#[tokio::test]
async fn unroutable_messages_are_an_error() {
    let test = TestBroker::start().await;
    let publisher = test.broker.publisher();

    let error = publisher
        .publish(&event("nobody.listens", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PublishError::Unroutable { routing_key } if routing_key == "nobody.listens"),
        "{error:?}"
    );
    assert!(!error.is_unavailable());

    let mut request = Envelope::new("ticket.create", "acme", "test");
    request.reply_to = Some(test.broker.names().reply_queue("gone"));
    let reply = OutgoingMessage::reply_to(&request, "ticket.create.ok", b"{}".to_vec()).unwrap();
    let error = publisher.publish(&reply).await.unwrap_err();
    assert!(
        matches!(error, PublishError::Unroutable { .. }),
        "{error:?}"
    );

    // The channel survives a returned message.
    let error = publisher
        .publish(&event("still.nobody", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PublishError::Unroutable { .. }),
        "{error:?}"
    );
    test.stop(vec![]).await;
}

#[tokio::test]
async fn publishing_without_a_broker_is_unavailable() {
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        BrokerSettings {
            // Nothing listens on port 1.
            url: SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f"),
            ..settings()
        },
        shutdown.clone(),
    );
    assert!(
        broker
            .wait_connected(Duration::from_millis(300))
            .await
            .is_err()
    );
    assert!(!broker.is_connected());
    let error = broker
        .publisher()
        .publish(&event("ticket.created", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_batch_of_500_all_arrives() {
    let test = TestBroker::start().await;
    let recorder = Recorder::acking();
    let mut spec = ConsumerSpec::new("bulk", vec![Binding::Event("bulk.*".into())]);
    spec.concurrency = 16;
    let consumer = spawn_consumer(&test.broker, spec, recorder.clone());
    let probe = event("bulk.probe", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&probe).await.ok()
    })
    .await;

    let batch: Vec<_> = (0..500)
        .map(|n| event("bulk.item", serde_json::json!({ "n": n })))
        .collect();
    test.broker.publisher().publish_all(&batch).await.unwrap();

    let expected: HashSet<_> = batch
        .iter()
        .map(|m| m.envelope.message_id.clone())
        .collect();
    eventually("all 500 messages", || async {
        let seen: HashSet<_> = recorder
            .calls()
            .into_iter()
            .map(|d| d.envelope.message_id)
            .filter(|id| expected.contains(id))
            .collect();
        (seen.len() == expected.len()).then_some(())
    })
    .await;
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn a_batch_with_one_unroutable_message_fails() {
    let test = TestBroker::start().await;
    let recorder = Recorder::acking();
    let consumer = spawn_consumer(
        &test.broker,
        ConsumerSpec::new("mixed", vec![Binding::Event("routed".into())]),
        recorder.clone(),
    );
    let probe = event("routed", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&probe).await.ok()
    })
    .await;

    let batch = vec![
        event("routed", serde_json::json!({})),
        event("lost", serde_json::json!({})),
        event("routed", serde_json::json!({})),
    ];
    let error = test
        .broker
        .publisher()
        .publish_all(&batch)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PublishError::Unroutable { routing_key } if routing_key == "lost"),
        "{error:?}"
    );
    test.stop(vec![consumer]).await;
}
