use std::{sync::Arc, time::Duration};

use loopdesk_messaging::{Broker, BrokerSettings};
use loopdesk_storage::{Relay, RelaySettings, enqueue, enqueue_all, transaction};
use tokio_util::sync::CancellationToken;

use crate::{
    broker::{TestBroker, event},
    helpers::{TestDb, eventually, unique},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_publish_every_message_exactly_once() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("tickets").await;
    let broker = TestBroker::start("ticket.#").await;

    let messages: Vec<_> = (0..1000).map(|n| event("ticket.created", n)).collect();
    transaction(&pool, async |conn| enqueue_all(conn, &messages).await)
        .await
        .unwrap();

    // Small batches, so the two relays interleave over many passes.
    let settings = || RelaySettings {
        batch_size: 25,
        poll_interval_ms: 50,
    };
    let shutdown = CancellationToken::new();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let relay = Relay::new(pool.clone(), broker.broker.publisher(), settings());
            tokio::spawn(relay.run(shutdown.clone()))
        })
        .collect();

    let observer = Relay::new(pool.clone(), broker.broker.publisher(), settings());
    eventually(Duration::from_secs(60), "the outbox to drain", || {
        let observer = observer.clone();
        async move { (observer.backlog().await.ok()?.0 == 0).then_some(()) }
    })
    .await;
    shutdown.cancel();
    for relay in relays {
        relay.await.unwrap();
    }

    let collector = Arc::clone(&broker.collector);
    eventually(Duration::from_secs(30), "all 1000 messages", || {
        let distinct = collector.counts().len();
        async move { (distinct >= 1000).then_some(()) }
    })
    .await;
    let counts = broker.collector.counts();
    let expected: std::collections::HashSet<_> = messages
        .iter()
        .map(|m| m.envelope.message_id.clone())
        .collect();
    assert_eq!(counts.len(), 1000);
    assert!(counts.keys().all(|id| expected.contains(id)));
    let duplicated = counts.values().filter(|n| **n > 1).count();
    assert_eq!(duplicated, 0, "messages delivered more than once");
    assert_eq!(observer.backlog().await.unwrap(), (0, None));

    broker.stop().await;
    drop((observer, pool));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_leaves_the_rows_in_place() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("tickets").await;
    let shutdown = CancellationToken::new();
    let settings = BrokerSettings {
        url: "amqp://guest:guest@127.0.0.1:1/%2f".to_owned().into(),
        prefix: format!("ld_storage_{}", unique()),
        ..BrokerSettings::default()
    };
    let broker = Broker::start(settings, shutdown.clone());
    let relay = Relay::new(pool.clone(), broker.publisher(), RelaySettings::default());

    let messages = [event("ticket.created", 1), event("ticket.updated", 2)];
    transaction(&pool, async |conn| enqueue_all(conn, &messages).await)
        .await
        .unwrap();

    let err = relay.relay_once().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(relay.backlog().await.unwrap().0, 2);
    // Again: nothing was half-done by the failed pass.
    assert!(relay.relay_once().await.is_err());
    assert_eq!(relay.backlog().await.unwrap().0, 2);

    shutdown.cancel();
    drop((relay, pool));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_nobody_subscribes_to_do_not_block_the_outbox() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("tickets").await;
    let broker = TestBroker::start("ticket.#").await;
    let relay = Relay::new(
        pool.clone(),
        broker.broker.publisher(),
        RelaySettings::default(),
    );

    let unheard = event("intervention.submitted", 1);
    let heard = event("ticket.created", 2);
    transaction(&pool, async |conn| {
        enqueue(conn, &unheard).await?;
        enqueue(conn, &heard).await
    })
    .await
    .unwrap();

    assert_eq!(relay.relay_once().await.unwrap(), 2);
    assert_eq!(relay.backlog().await.unwrap(), (0, None));
    eventually(Duration::from_secs(10), "the routable event", || {
        let ids: Vec<_> = broker
            .collector
            .received()
            .into_iter()
            .map(|d| d.envelope.message_id)
            .collect();
        let wanted = heard.envelope.message_id.clone();
        async move { ids.contains(&wanted).then_some(()) }
    })
    .await;

    broker.stop().await;
    drop((relay, pool));
    db.drop().await;
}
