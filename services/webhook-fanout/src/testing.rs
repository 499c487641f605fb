//! What the database-backed unit tests share: a migrated database of their own, rows
//! put in place directly, and what the rows say afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use diesel::{QueryableByName, prelude::*, sql_query, sql_types::BigInt};
use diesel_async::RunQueryDsl;
use loopdesk_storage::{DatabaseSettings, Pool, PooledConn};
use loopdesk_testkit::{TestDatabase, wait_until};

use crate::schema::{deliveries, endpoints};

/// A fresh, migrated database and a pool on it.
pub async fn database() -> (TestDatabase, Pool) {
    let test = TestDatabase::create().await;
    let settings = DatabaseSettings::new(test.url.clone(), "webhooks");
    loopdesk_storage::migrate(&settings, crate::app::MIGRATIONS)
        .await
        .unwrap();
    let pool = loopdesk_storage::build_pool(&settings).unwrap();
    (test, pool)
}

/// Inserts an endpoint row.
pub async fn add_endpoint(
    pool: &Pool,
    id: &str,
    tenant: &str,
    env: &str,
    types: &[&str],
    enabled: bool,
) {
    let now = Utc::now();
    let mut conn = loopdesk_storage::connection(pool).await.unwrap();
    diesel::insert_into(endpoints::table)
        .values((
            endpoints::id.eq(id),
            endpoints::tenant.eq(tenant),
            endpoints::env.eq(env),
            endpoints::url.eq("https://hooks.example.com/in"),
            endpoints::event_types.eq(types.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>()),
            endpoints::payload_style.eq("full"),
            endpoints::enabled.eq(enabled),
            endpoints::secret.eq(vec![0u8; 40]),
            endpoints::created_at.eq(now),
            endpoints::updated_at.eq(now),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT count(*) FROM <from>`.
pub async fn count(pool: &Pool, from: &str) -> i64 {
    let mut conn = loopdesk_storage::connection(pool).await.unwrap();
    let row: Count = sql_query(format!("SELECT count(*) AS n FROM {from}"))
        .get_result(&mut conn)
        .await
        .unwrap();
    row.n
}

/// Deliveries whose endpoint or event is gone, and attempts whose delivery is gone.
pub async fn dangling(pool: &Pool) -> i64 {
    count(
        pool,
        "deliveries d WHERE NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id)
            OR NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id)",
    )
    .await
        + count(
            pool,
            "delivery_attempts a
             WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)",
        )
        .await
}

/// The endpoint ids the deliveries of `event_id` go to, sorted.
pub async fn delivered_to(pool: &Pool, event_id: &str) -> Vec<String> {
    let mut conn = loopdesk_storage::connection(pool).await.unwrap();
    deliveries::table
        .filter(deliveries::event_id.eq(event_id))
        .select(deliveries::endpoint_id)
        .order(deliveries::endpoint_id)
        .load(&mut conn)
        .await
        .unwrap()
}

/// Another instance half-way through deleting endpoint `id`: the endpoint and its
/// deliveries deleted on a connection of its own, not yet committed.
pub async fn begin_endpoint_delete(pool: &Pool, id: &str) -> PooledConn {
    let mut conn = loopdesk_storage::connection(pool).await.unwrap();
    diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, "BEGIN")
        .await
        .unwrap();
    diesel::delete(endpoints::table.find(id))
        .execute(&mut *conn)
        .await
        .unwrap();
    crate::cascade::delete_endpoint_deliveries(&mut conn, id)
        .await
        .unwrap();
    conn
}

/// Commits what [`begin_endpoint_delete`] began.
pub async fn commit(mut conn: PooledConn) {
    diesel_async::SimpleAsyncConnection::batch_execute(&mut *conn, "COMMIT")
        .await
        .unwrap();
}

/// Waits until some session of this database waits for a row lock.
pub async fn someone_waits_for_a_lock(pool: &Pool) {
    wait_until(
        Duration::from_secs(10),
        "a session waiting for a lock",
        || async {
            let waiting = count(
                pool,
                "pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .await;
            (waiting > 0).then_some(())
        },
    )
    .await;
}
