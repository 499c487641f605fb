#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Test databases against the real PostgreSQL server.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use loopdesk_testkit::{TestDatabase, database_base_url, drop_stale_test_databases, unique_prefix};

#[tokio::test]
async fn creates_a_usable_database_and_drops_it() {
    let db = TestDatabase::create().await;
    assert!(db.name.starts_with("t_"));
    assert!(db.url.ends_with(&db.name));
    {
        let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
        conn.batch_execute("CREATE TABLE probe (id int); INSERT INTO probe VALUES (1);")
            .await
            .unwrap();
    }
    let url = db.url.clone();
    // An open connection must not block the drop.
    let _still_open = AsyncPgConnection::establish(&url).await.unwrap();
    db.drop_database().await;
    assert!(AsyncPgConnection::establish(&url).await.is_err());
}

#[tokio::test]
async fn two_databases_get_distinct_names() {
    let (a, b) = (TestDatabase::create().await, TestDatabase::create().await);
    assert_ne!(a.name, b.name);
    a.drop_database().await;
    b.drop_database().await;
}

#[tokio::test]
async fn stale_databases_are_dropped_and_fresh_ones_kept() {
    let fresh = TestDatabase::create().await;
    // A name in the test format dated 2001, as a crashed run long ago would leave.
    let suffix: String = unique_prefix("x").chars().rev().take(8).collect();
    let stale = format!("t_1000000000_{suffix}");
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", database_base_url()))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{stale}\""))
        .await
        .unwrap();

    drop_stale_test_databases(Duration::from_secs(3600)).await;

    let stale_url = format!("{}/{stale}", database_base_url());
    assert!(AsyncPgConnection::establish(&stale_url).await.is_err());
    assert!(AsyncPgConnection::establish(&fresh.url).await.is_ok());
    fresh.drop_database().await;
}
