use std::time::Duration;

use loopdesk_storage::{Relay, RelaySettings, enqueue, enqueue_all, transaction};

use crate::{
    broker::{TestBroker, event},
    helpers::{TestDb, eventually},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_committed_messages_are_relayed_with_their_envelope_intact() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("tickets").await;
    let broker = TestBroker::start("#").await;
    let relay = Relay::new(
        pool.clone(),
        broker.broker.publisher(),
        RelaySettings::default(),
    );

    let rolled_back = event("ticket.created", 1);
    let result: Result<(), diesel::result::Error> = transaction(&pool, async |conn| {
        enqueue(conn, &rolled_back).await?;
        Err(diesel::result::Error::RollbackTransaction)
    })
    .await;
    assert!(result.is_err());
    assert_eq!(relay.backlog().await.unwrap(), (0, None));
    assert_eq!(relay.relay_once().await.unwrap(), 0);

    let committed = event("ticket.created", 2);
    transaction(&pool, async |conn| enqueue(conn, &committed).await)
        .await
        .unwrap();
    let (waiting, age) = relay.backlog().await.unwrap();
    assert_eq!(waiting, 1);
    assert!(age.is_some_and(|age| age >= chrono::Duration::zero()));

    assert_eq!(relay.relay_once().await.unwrap(), 1);
    assert_eq!(relay.backlog().await.unwrap(), (0, None));

    let received = eventually(Duration::from_secs(10), "the relayed event", || {
        let received = broker.collector.received();
        async move { (!received.is_empty()).then_some(received) }
    })
    .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].envelope, committed.envelope);
    assert_eq!(received[0].body, committed.body);

    broker.stop().await;
    drop((relay, pool));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_a_running_relay() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("tickets").await;
    let broker = TestBroker::start("#").await;
    // A poll interval no test waits for: only notify() can explain a prompt delivery.
    let settings = RelaySettings {
        batch_size: 10,
        poll_interval_ms: 600_000,
    };
    let relay = Relay::new(pool.clone(), broker.broker.publisher(), settings);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(relay.clone().run(shutdown.clone()));

    // Let the relay find the outbox empty and go idle before anything is enqueued.
    eventually(Duration::from_secs(5), "the relay to go idle", || {
        let relay = relay.clone();
        async move { (relay.backlog().await.ok()? == (0, None)).then_some(()) }
    })
    .await;
    let messages: Vec<_> = (0..3).map(|n| event("ticket.updated", n)).collect();
    transaction(&pool, async |conn| enqueue_all(conn, &messages).await)
        .await
        .unwrap();
    relay.notify();

    eventually(
        Duration::from_secs(10),
        "the notified relay to publish",
        || {
            let count = broker.collector.received().len();
            async move { (count == 3).then_some(()) }
        },
    )
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the relay stops on shutdown")
        .unwrap();

    broker.stop().await;
    drop((relay, pool));
    db.drop().await;
}
