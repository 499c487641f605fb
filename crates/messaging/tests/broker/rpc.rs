//! Request/reply.

use std::{sync::Arc, time::Duration};

use loopdesk_messaging::{
    Binding, ConsumerSpec, Delivery, Envelope, Handler, Outcome, OutgoingMessage, Publisher, Route,
    RpcClient, RpcError, spawn_consumer,
};

use crate::helpers::{Recorder, TestBroker, eventually};

/// Answers every request with its own body.
struct Echo {
    publisher: Publisher,
}

#[async_trait::async_trait]
impl Handler for Echo {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let Some(reply) =
            OutgoingMessage::reply_to(&delivery.envelope, "echo.ok", delivery.body.clone())
        else {
            return Outcome::Ack;
        };
        if let Err(error) = self.publisher.publish(&reply).await {
            return Outcome::Retry {
                reason: error.to_string(),
            };
        }
        Outcome::Ack
    }
}

fn command(name: &str) -> OutgoingMessage {
    OutgoingMessage::json(
        Route::Command(name.into()),
        Envelope::new(name, "acme", "test"),
        &serde_json::json!({"say": "hello"}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_call_gets_its_reply() {
    let test = TestBroker::start().await;
    let echo = Arc::new(Echo {
        publisher: test.broker.publisher(),
    });
    let consumer = spawn_consumer(
        &test.broker,
        ConsumerSpec::new("echo", vec![Binding::Command("echo".into())]),
        echo,
    );
    let client = RpcClient::start(&test.broker);

    let request = command("echo");
    let reply = eventually("a reply", || {
        let client = client.clone();
        let request = request.clone();
        // Unroutable until the echo consumer has bound its queue.
        async move { client.call(request, Duration::from_secs(5)).await.ok() }
    })
    .await;
    assert_eq!(reply.envelope.kind, "echo.ok");
    assert_eq!(
        reply.envelope.correlation_id.as_deref(),
        Some(request.envelope.message_id.as_str())
    );
    assert_eq!(reply.envelope.tenant, "acme");
    assert_eq!(reply.json::<serde_json::Value>().unwrap()["say"], "hello");

    // Concurrent calls each get their own answer.
    let calls = (0..10).map(|n| {
        let client = client.clone();
        async move {
            let msg = OutgoingMessage::json(
                Route::Command("echo".into()),
                Envelope::new("echo", "acme", "test"),
                &serde_json::json!({ "n": n }),
            )
            .unwrap();
            let reply = client.call(msg, Duration::from_secs(5)).await.unwrap();
            assert_eq!(reply.json::<serde_json::Value>().unwrap()["n"], n);
        }
    });
    futures::future::join_all(calls).await;
    test.stop(vec![consumer]).await;
}

#[tokio::test]
async fn a_call_nobody_answers_times_out() {
    let test = TestBroker::start().await;
    let silent = Recorder::acking();
    let consumer = spawn_consumer(
        &test.broker,
        ConsumerSpec::new("silent", vec![Binding::Command("void".into())]),
        silent.clone(),
    );
    let client = RpcClient::start(&test.broker);
    // An unanswered command that was routed: Timeout, not a publish error.
    let error = eventually("a routed call", || {
        let client = client.clone();
        async move {
            match client
                .call(command("void"), Duration::from_millis(300))
                .await
            {
                Err(RpcError::Timeout) => Some(RpcError::Timeout),
                Err(RpcError::Publish(_)) => None,
                Ok(reply) => panic!("unexpected reply {reply:?}"),
            }
        }
    })
    .await;
    assert!(matches!(error, RpcError::Timeout));
    assert!(silent.call_count() >= 1);
    let request = &silent.calls()[0].envelope;
    assert_eq!(request.reply_to.as_deref(), Some(client.reply_queue()));
    assert_eq!(request.correlation_id.as_ref(), Some(&request.message_id));

    // Nobody bound at all: nothing was sent, so it is a publish error.
    let error = client
        .call(command("unbound"), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(error, RpcError::Publish(_)), "{error:?}");
    test.stop(vec![consumer]).await;
}
