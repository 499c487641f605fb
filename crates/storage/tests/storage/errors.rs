use diesel_async::RunQueryDsl;
use loopdesk_storage::{
    DatabaseSettings, build_pool, connection, is_unavailable, ping, transaction,
    violated_constraint,
};

use crate::helpers::TestDb;

fn closed_port_settings() -> DatabaseSettings {
    let mut settings = DatabaseSettings::new("postgres://postgres@127.0.0.1:1/nowhere", "s");
    settings.acquire_timeout_ms = 500;
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_unavailable() {
    // Building the pool does not connect: a service starts while its database is down.
    let pool = build_pool(&closed_port_settings()).unwrap();
    assert!(!ping(&pool).await);

    let err = connection(&pool).await.map(|_| ()).unwrap_err();
    assert!(is_unavailable(&err), "{err}");

    let err = transaction(&pool, async |conn| {
        diesel::sql_query("SELECT 1").execute(conn).await
    })
    .await
    .unwrap_err();
    assert!(is_unavailable(&err), "{err}");
    assert!(loopdesk_storage::StorageError::from(err).is_unavailable());

    let err = loopdesk_storage::purge_inbox(&pool, chrono::Duration::days(1))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reachable_database_answers_ping() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("svc").await;
    assert!(ping(&pool).await);
    drop(pool);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraint_violations_are_named_and_not_unavailable() {
    let db = TestDb::create().await;
    let (_, pool) = db.migrated("svc").await;

    let insert = "INSERT INTO widgets (name) VALUES ('same')";
    transaction(&pool, async |conn| {
        diesel::sql_query(insert).execute(conn).await
    })
    .await
    .unwrap();
    let err = transaction(&pool, async |conn| {
        diesel::sql_query(insert).execute(conn).await
    })
    .await
    .unwrap_err();
    assert_eq!(violated_constraint(&err), Some("widgets_name_key"));
    assert!(!is_unavailable(&err));

    let err = transaction(&pool, async |conn| {
        diesel::sql_query("SELECT * FROM no_such_table")
            .execute(conn)
            .await
    })
    .await
    .unwrap_err();
    assert_eq!(violated_constraint(&err), None);
    assert!(!is_unavailable(&err));

    drop(pool);
    db.drop().await;
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let settings = DatabaseSettings::new("postgres://postgres@127.0.0.1:5432/x", "");
    assert!(build_pool(&settings).is_err());
}
