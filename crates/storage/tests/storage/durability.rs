//! Pools: the commit durability each one promises, and connections the server dropped.

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl;
use loopdesk_storage::{Durability, build_pool, build_pool_with, connection, is_unavailable};

use crate::helpers::TestDb;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn synchronous_commit(pool: &loopdesk_storage::Pool) -> String {
    let mut conn = connection(pool).await.unwrap();
    let row: Setting = diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
        .get_result(&mut conn)
        .await
        .unwrap();
    row.value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relaxed_pool_does_not_wait_for_the_disk_and_a_durable_one_does() {
    let db = TestDb::create().await;
    let (settings, durable) = db.migrated("shop").await;
    let relaxed = build_pool_with(&settings, Durability::Relaxed).unwrap();

    assert_eq!(synchronous_commit(&durable).await, "on");
    assert_eq!(synchronous_commit(&relaxed).await, "off");
    // Both work in the service's schema.
    let mut conn = connection(&relaxed).await.unwrap();
    let inserted = diesel::sql_query("INSERT INTO widgets (name) VALUES ('relaxed')")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    drop(conn);
    drop((durable, relaxed));
    db.drop().await;
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

async fn backend_pid(pool: &loopdesk_storage::Pool) -> diesel::QueryResult<i32> {
    let mut conn = connection(pool).await?;
    let row: Backend = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut conn)
        .await?;
    Ok(row.pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_dropped_fails_as_unavailable_then_is_replaced() {
    let db = TestDb::create().await;
    let mut settings = db.settings("shop");
    settings.max_connections = 1;
    let pool = build_pool(&settings).unwrap();
    let first = backend_pid(&pool).await.unwrap();
    assert_eq!(
        backend_pid(&pool).await.unwrap(),
        first,
        "checkouts reuse the idle connection"
    );

    let mut admin = db.raw().await;
    diesel::sql_query(format!("SELECT pg_terminate_backend({first})"))
        .execute(&mut admin)
        .await
        .unwrap();

    // Checkouts ask the server nothing: the dropped connection fails its next queries
    // (until the client has noticed the close), each as "unavailable", which every caller
    // already handles, and is then replaced by a fresh one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        match backend_pid(&pool).await {
            Ok(pid) => break pid,
            Err(err) => assert!(is_unavailable(&err), "{err}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pool kept the dropped connection"
        );
    };
    assert_ne!(after, first);
    drop(pool);
    db.drop().await;
}
