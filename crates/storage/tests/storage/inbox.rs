use chrono::Duration;
use diesel_async::RunQueryDsl;
use loopdesk_storage::{claim, purge_inbox, transaction};

use crate::helpers::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_claimed_once_per_consumer() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("fanout").await;

    let claim_in_tx = |consumer: &'static str, id: &'static str| {
        let pool = pool.clone();
        async move {
            transaction(&pool, async |conn| claim(conn, consumer, id).await)
                .await
                .unwrap()
        }
    };
    assert!(claim_in_tx("webhooks", "msg_1").await);
    assert!(!claim_in_tx("webhooks", "msg_1").await);
    // Another consumer of the same message applies its own effect.
    assert!(claim_in_tx("audit", "msg_1").await);
    assert!(claim_in_tx("webhooks", "msg_2").await);

    drop(pool);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_claim_can_be_claimed_again() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("fanout").await;

    let failed: Result<(), diesel::result::Error> = transaction(&pool, async |conn| {
        assert!(claim(conn, "webhooks", "msg_1").await?);
        Err(diesel::result::Error::RollbackTransaction)
    })
    .await;
    assert!(failed.is_err());
    let again = transaction(&pool, async |conn| claim(conn, "webhooks", "msg_1").await)
        .await
        .unwrap();
    assert!(
        again,
        "the effect was rolled back, so the message must apply again"
    );

    drop(pool);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_only_old_rows() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("fanout").await;
    transaction(&pool, async |conn| {
        for id in ["old_1", "old_2", "new_1"] {
            claim(conn, "webhooks", id).await?;
        }
        diesel::sql_query(
            "UPDATE inbox SET processed_at = now() - interval '2 days' WHERE message_id LIKE 'old_%'",
        )
        .execute(conn)
        .await?;
        Ok::<_, diesel::result::Error>(())
    })
    .await
    .unwrap();

    assert_eq!(purge_inbox(&pool, Duration::days(1)).await.unwrap(), 2);
    assert_eq!(purge_inbox(&pool, Duration::days(1)).await.unwrap(), 0);
    let still_there = transaction(&pool, async |conn| claim(conn, "webhooks", "new_1").await)
        .await
        .unwrap();
    assert!(!still_there, "a recent row must survive the purge");
    let purged = transaction(&pool, async |conn| claim(conn, "webhooks", "old_1").await)
        .await
        .unwrap();
    assert!(purged);

    drop(pool);
    db.drop().await;
}
