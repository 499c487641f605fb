use diesel::{QueryableByName, sql_types::Text};
use diesel_async::RunQueryDsl;
use loopdesk_storage::{build_pool, migrate, migrations_applied};

use crate::helpers::{TestDb, WIDGETS, unique};

#[derive(QueryableByName, Debug, PartialEq)]
struct TableRow {
    #[diesel(sql_type = Text)]
    table_schema: String,
    #[diesel(sql_type = Text)]
    table_name: String,
}

async fn tables(db: &TestDb) -> Vec<(String, String)> {
    let mut conn = db.raw().await;
    let rows: Vec<TableRow> = diesel::sql_query(
        "SELECT table_schema::text AS table_schema, table_name::text AS table_name \
         FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY 1, 2",
    )
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| (r.table_schema, r.table_name))
        .collect()
}

fn expected_tables(schema: &str) -> Vec<(String, String)> {
    ["__diesel_schema_migrations", "inbox", "outbox", "widgets"]
        .iter()
        .map(|t| (schema.to_owned(), (*t).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_of_one_schema_apply_once() {
    let db = TestDb::create().await;
    let settings = db.settings("tickets");

    let (a, b) = tokio::join!(
        tokio::spawn({
            let settings = settings.clone();
            async move { migrate(&settings, WIDGETS).await }
        }),
        tokio::spawn({
            let settings = settings.clone();
            async move { migrate(&settings, WIDGETS).await }
        }),
    );
    let mut applied = [a.unwrap().unwrap(), b.unwrap().unwrap()];
    applied.sort_by_key(Vec::len);
    // One replica applied everything, the other found nothing left to do.
    assert_eq!(applied[0], Vec::<String>::new());
    assert_eq!(applied[1], vec!["00000000000001", "20240101000000"]);
    assert_eq!(tables(&db).await, expected_tables("tickets"));

    // A later start applies nothing.
    assert!(migrate(&settings, WIDGETS).await.unwrap().is_empty());
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_in_one_database_do_not_collide() {
    let db = TestDb::create().await;
    let (one, two) = (db.settings("svc_one"), db.settings("svc_two"));

    let (a, b) = tokio::join!(migrate(&one, WIDGETS), migrate(&two, WIDGETS));
    assert_eq!(a.unwrap().len(), 2);
    assert_eq!(b.unwrap().len(), 2);

    let mut expected = expected_tables("svc_one");
    expected.extend(expected_tables("svc_two"));
    assert_eq!(tables(&db).await, expected);

    // Each pool sees its own schema's rows only.
    let pool_one = build_pool(&one).unwrap();
    let pool_two = build_pool(&two).unwrap();
    let mut conn = loopdesk_storage::connection(&pool_one).await.unwrap();
    diesel::sql_query("INSERT INTO widgets (name) VALUES ('only-in-one')")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut conn = loopdesk_storage::connection(&pool_two).await.unwrap();
    let in_two = diesel::sql_query("SELECT name FROM widgets")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(in_two, 0);
    drop(conn);
    drop((pool_one, pool_two));
    db.drop().await;
}

#[tokio::test]
async fn migrate_works_on_a_current_thread_runtime() {
    let db = TestDb::create().await;
    let applied = migrate(&db.settings("single"), WIDGETS).await.unwrap();
    assert_eq!(applied.len(), 2);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_applied_reports_readiness() {
    let db = TestDb::create().await;
    let schema = format!("s_{}", unique());
    let settings = db.settings(&schema);
    let pool = build_pool(&settings).unwrap();
    assert!(!migrations_applied(&pool, WIDGETS).await);

    migrate(&settings, WIDGETS).await.unwrap();
    assert!(migrations_applied(&pool, WIDGETS).await);
    drop(pool);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_an_unreachable_database() {
    let settings =
        loopdesk_storage::DatabaseSettings::new("postgres://postgres@127.0.0.1:1/x", "s");
    let err = migrate(&settings, WIDGETS).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}
