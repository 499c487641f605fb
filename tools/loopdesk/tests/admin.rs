//! The CLI's operational commands against the real database and broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use loopdesk_messaging::{
    Binding, Broker, BrokerSettings, ConsumerSpec, Delivery, Envelope, Handler, Outcome,
    OutgoingMessage, Route, declare_consumer, peek_dead_letters, spawn_consumer,
};
use loopdesk_testkit::{TestDatabase, amqp_url, unique_prefix, wait_until};
use tokio_util::sync::CancellationToken;

fn loopdesk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_loopdesk"))
        .args(args)
        .env_remove("LOOPDESK_DATABASE__URL")
        .env_remove("LOOPDESK_BROKER__URL")
        .env_remove("LOOPDESK_BROKER__PREFIX")
        .output()
        .expect("the CLI runs")
}

#[tokio::test]
async fn migrate_applies_every_schema_once() {
    let db = TestDatabase::create().await;
    let first = loopdesk(&["migrate", "--database-url", &db.url]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("gateway: applied"), "{out}");
    assert!(out.contains("tickets: applied"), "{out}");
    assert!(out.contains("webhooks: applied"), "{out}");
    assert!(out.contains("interventions: applied"), "{out}");

    let second = loopdesk(&[
        "migrate",
        "--service",
        "ticket-service",
        "--database-url",
        &db.url,
    ]);
    assert!(second.status.success());
    assert!(second.stdout.is_empty(), "nothing left to apply");
    assert!(String::from_utf8_lossy(&second.stderr).contains("tickets: up to date"));
    db.drop_database().await;
}

/// Dead-letters a message the first time it sees it, acks it after that.
struct FailOnce(Arc<AtomicUsize>);

#[async_trait::async_trait]
impl Handler for FailOnce {
    async fn handle(&self, _: &Delivery) -> Outcome {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            Outcome::DeadLetter {
                reason: "poison for the test".into(),
            }
        } else {
            Outcome::Ack
        }
    }
}

#[tokio::test]
async fn dlq_lists_and_replays_dead_letters() {
    let prefix = unique_prefix("cli");
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        BrokerSettings {
            url: amqp_url().into(),
            prefix: prefix.clone(),
            ..BrokerSettings::default()
        },
        shutdown.clone(),
    );
    broker
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    let spec = ConsumerSpec::new("poisoned", vec![Binding::Command("thing.do".into())]);
    declare_consumer(&broker, &spec).await.unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    spawn_consumer(&broker, spec, Arc::new(FailOnce(seen.clone())));
    let message = OutgoingMessage {
        route: Route::Command("thing.do".into()),
        envelope: Envelope::new("thing.do", "acme", "test"),
        body: b"{\"n\":1}".to_vec(),
    };
    broker.publisher().publish(&message).await.unwrap();
    wait_until(
        Duration::from_secs(10),
        "the message to be dead-lettered",
        || async {
            let letters = peek_dead_letters(&broker, "poisoned", 10).await.ok()?;
            (letters.len() == 1).then_some(())
        },
    )
    .await;

    let listed = loopdesk(&[
        "dlq",
        "list",
        "poisoned",
        "--broker-url",
        &amqp_url(),
        "--prefix",
        &prefix,
    ]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message_id"], message.envelope.message_id);
    assert_eq!(lines[0]["reason"], "poison for the test");

    let replayed = loopdesk(&[
        "dlq",
        "replay",
        "poisoned",
        "--broker-url",
        &amqp_url(),
        "--prefix",
        &prefix,
    ]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(String::from_utf8_lossy(&replayed.stderr).contains("replayed 1"));
    wait_until(
        Duration::from_secs(10),
        "the replayed message to be handled",
        || async { (seen.load(Ordering::SeqCst) == 2).then_some(()) },
    )
    .await;
    assert!(
        peek_dead_letters(&broker, "poisoned", 10)
            .await
            .unwrap()
            .is_empty()
    );

    broker.delete_declared_topology().await.unwrap();
    shutdown.cancel();
}
