//! Consuming: retry, dead-lettering, backoff, shutdown.

use std::{sync::Arc, time::Duration};

use lapin::{BasicProperties, Connection, ConnectionProperties, options::BasicPublishOptions};
use loopdesk_messaging::{
    Binding, ConsumerSpec, EnvelopeError, Outcome, peek_dead_letters, replay_dead_letters,
    spawn_consumer,
};
use tokio::sync::Notify;

use crate::helpers::{BROKER_URL, Recorder, TestBroker, event, eventually, queue_depth};

fn spec(name: &str, pattern: &str) -> ConsumerSpec {
    ConsumerSpec::new(name, vec![Binding::Event(pattern.into())])
}

#[tokio::test]
async fn retry_comes_back_after_the_delay_then_dead_letters() {
    let test = TestBroker::start().await;
    let recorder = Recorder::new(|_, _| Outcome::Retry {
        reason: "remote said 503".into(),
    });
    let consumer = spawn_consumer(&test.broker, spec("flaky", "job.*"), recorder.clone());
    let msg = event("job.run", serde_json::json!({"n": 1}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    let letters = eventually("the dead letter", || async {
        let letters = peek_dead_letters(&test.broker, "flaky", 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.envelope.as_ref().unwrap(), &msg.envelope);
    assert_eq!(letter.attempt, 3);
    let reason = letter.reason.clone().unwrap();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("503"),
        "{reason}"
    );
    assert_eq!(letter.original_routing_key.as_deref(), Some("job.run"));
    assert_eq!(
        letter.original_exchange.as_deref(),
        Some(test.broker.names().events_exchange().as_str())
    );

    let calls = recorder.calls.lock().unwrap().clone();
    let attempts: Vec<_> = calls.iter().map(|(_, d)| d.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    for pair in calls.windows(2) {
        let waited = pair[1].0 - pair[0].0;
        assert!(
            waited >= Duration::from_millis(150),
            "retried after {waited:?}"
        );
    }
    // Peeking leaves the letter in place.
    assert_eq!(
        peek_dead_letters(&test.broker, "flaky", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn a_retry_that_then_succeeds_is_not_dead_lettered() {
    let test = TestBroker::start().await;
    let recorder = Recorder::new(|delivery, _| match delivery.attempt {
        1 => Outcome::Retry {
            reason: "once".into(),
        },
        _ => Outcome::Ack,
    });
    let consumer = spawn_consumer(&test.broker, spec("second", "job.*"), recorder.clone());
    let msg = event("job.run", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    eventually("the second attempt", || async {
        (recorder.call_count() == 2).then_some(())
    })
    .await;
    let second = &recorder.calls()[1];
    assert_eq!(second.attempt, 2);
    assert_eq!(second.envelope, msg.envelope);
    test.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        queue_depth(&test.broker.names().dead_letter_queue("second")).await,
        0
    );
    assert_eq!(queue_depth(&test.broker.names().queue("second")).await, 0);
    assert_eq!(
        queue_depth(&test.broker.names().retry_queue("second")).await,
        0
    );
    test.stop(vec![]).await;
}

#[tokio::test]
async fn dead_letter_goes_straight_to_the_dlq_and_replays() {
    let test = TestBroker::start().await;
    let recorder = Recorder::new(|_, calls| match calls {
        0 => Outcome::DeadLetter {
            reason: "body is not a ticket".into(),
        },
        _ => Outcome::Ack,
    });
    let consumer = spawn_consumer(&test.broker, spec("poison", "job.*"), recorder.clone());
    let msg = event("job.run", serde_json::json!({"bad": true}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    let letters = eventually("the dead letter", || async {
        let letters = peek_dead_letters(&test.broker, "poison", 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters[0].reason.as_deref(), Some("body is not a ticket"));
    assert_eq!(letters[0].attempt, 1);
    assert_eq!(letters[0].body, msg.body);
    assert_eq!(recorder.call_count(), 1);

    assert_eq!(
        replay_dead_letters(&test.broker, "poison", 10)
            .await
            .unwrap(),
        1
    );
    eventually("the replayed message", || async {
        (recorder.call_count() == 2).then_some(())
    })
    .await;
    let replayed = &recorder.calls()[1];
    assert_eq!(replayed.envelope, msg.envelope);
    assert_eq!(replayed.attempt, 1);
    assert!(
        peek_dead_letters(&test.broker, "poison", 10)
            .await
            .unwrap()
            .is_empty()
    );
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn an_unreadable_envelope_is_dead_lettered_not_dropped() {
    let test = TestBroker::start().await;
    let recorder = Recorder::acking();
    let consumer = spawn_consumer(&test.broker, spec("strict", "raw.*"), recorder.clone());
    let probe = event("raw.probe", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&probe).await.ok()
    })
    .await;

    // A foreign publisher that sets no message id and no tenant.
    let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            test.broker.names().events_exchange().into(),
            "raw.thing".into(),
            BasicPublishOptions::default(),
            b"{\"x\":1}",
            BasicProperties::default().with_type("raw.thing".into()),
        )
        .await
        .unwrap();
    let letters = eventually("the dead letter", || async {
        let letters = peek_dead_letters(&test.broker, "strict", 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    let _ = connection.close(200, "done".into()).await;
    assert_eq!(
        letters[0].envelope,
        Err(EnvelopeError::Missing("timestamp"))
    );
    assert!(
        letters[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("unreadable envelope")
    );
    assert_eq!(letters[0].body, b"{\"x\":1}");
    // Only the probe reached the handler.
    assert_eq!(recorder.call_count(), 1);
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn backoff_keeps_the_message_and_calls_again() {
    let test = TestBroker::start().await;
    let recorder = Recorder::new(|_, calls| match calls {
        0 | 1 => Outcome::Backoff {
            reason: "database is down".into(),
        },
        _ => Outcome::Ack,
    });
    let consumer = spawn_consumer(&test.broker, spec("patient", "job.*"), recorder.clone());
    let msg = event("job.run", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;

    eventually("the third call", || async {
        (recorder.call_count() == 3).then_some(())
    })
    .await;
    for delivery in recorder.calls() {
        assert_eq!(delivery.envelope, msg.envelope);
        assert_eq!(delivery.attempt, 1, "backoff is not an attempt");
        assert!(!delivery.redelivered, "the same delivery, not a redelivery");
    }
    test.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorder.call_count(), 3);
    assert_eq!(queue_depth(&test.broker.names().queue("patient")).await, 0);
    assert_eq!(
        queue_depth(&test.broker.names().retry_queue("patient")).await,
        0
    );
    test.stop(vec![]).await;
}

#[tokio::test]
async fn shutdown_during_backoff_requeues_the_message() {
    let test = TestBroker::start().await;
    let recorder = Recorder::new(|_, _| Outcome::Backoff {
        reason: "database is down".into(),
    });
    let consumer = spawn_consumer(&test.broker, spec("held", "job.*"), recorder.clone());
    let msg = event("job.run", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;
    eventually("the first call", || async {
        (recorder.call_count() >= 1).then_some(())
    })
    .await;

    test.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue_depth(&test.broker.names().queue("held")).await, 1);
    test.stop(vec![]).await;
}

/// Holds every call until released, then acks.
struct Gate {
    entered: Notify,
    release: Notify,
}

#[async_trait::async_trait]
impl loopdesk_messaging::Handler for Gate {
    async fn handle(&self, _: &loopdesk_messaging::Delivery) -> Outcome {
        self.entered.notify_one();
        self.release.notified().await;
        Outcome::Ack
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_handlers_finish_and_ack() {
    let test = TestBroker::start().await;
    let gate = Arc::new(Gate {
        entered: Notify::new(),
        release: Notify::new(),
    });
    let consumer = spawn_consumer(&test.broker, spec("draining", "job.*"), gate.clone());
    let msg = event("job.run", serde_json::json!({}));
    eventually("the binding", || async {
        test.broker.publisher().publish(&msg).await.ok()
    })
    .await;
    tokio::time::timeout(Duration::from_secs(15), gate.entered.notified())
        .await
        .unwrap();

    test.shutdown.cancel();
    assert!(
        !consumer.is_finished(),
        "the consumer waits for its handler"
    );
    gate.release.notify_one();
    tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue_depth(&test.broker.names().queue("draining")).await, 0);
    test.stop(vec![]).await;
}
