//! Surviving a lost connection.

use loopdesk_messaging::{Binding, BrokerSettings, ConsumerSpec, spawn_consumer};
use secrecy::SecretString;

use crate::{
    helpers::{Recorder, TestBroker, WAIT, event, eventually, settings},
    proxy::Proxy,
};

#[tokio::test]
async fn a_consumer_recovers_after_the_connection_is_cut() {
    let proxy = Proxy::start().await;
    let test = TestBroker::start_with(BrokerSettings {
        url: SecretString::from(proxy.url()),
        ..settings()
    })
    .await;
    let recorder = Recorder::acking();
    let consumer = spawn_consumer(
        &test.broker,
        ConsumerSpec::new("survivor", vec![Binding::Event("job.*".into())]),
        recorder.clone(),
    );
    let publisher = test.broker.publisher();
    let before = event("job.before", serde_json::json!({}));
    eventually("the binding", || async {
        publisher.publish(&before).await.ok()
    })
    .await;
    eventually("the first message", || async {
        (recorder.call_count() == 1).then_some(())
    })
    .await;

    proxy.cut();
    eventually("the loss to be noticed", || async {
        (!test.broker.is_connected()).then_some(())
    })
    .await;
    let error = publisher
        .publish(&event("job.during", serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");

    let connections_before = proxy.accepted();
    proxy.restore();
    test.broker.wait_connected(WAIT).await.unwrap();
    assert!(
        proxy.accepted() > connections_before,
        "a new connection was made"
    );

    let after = event("job.after", serde_json::json!({}));
    // The consumer re-declares and re-consumes on the new connection.
    eventually("publishing again", || async {
        publisher.publish(&after).await.ok()
    })
    .await;
    let delivery = eventually("the message after the cut", || async {
        recorder
            .calls()
            .into_iter()
            .find(|d| d.envelope.message_id == after.envelope.message_id)
    })
    .await;
    assert_eq!(delivery.envelope, after.envelope);
    test.stop(vec![consumer]).await;
}
