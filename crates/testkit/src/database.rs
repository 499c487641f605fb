//! A throwaway PostgreSQL database per test.

use std::time::Duration;

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::names::{database_base_url, random_suffix};

/// The database every server has, used to create and drop the others.
const MAINTENANCE_DB: &str = "postgres";

/// A database created for one test. Drop it with [`TestDatabase::drop_database`];
/// ones left behind by crashed runs are reaped by [`drop_stale_test_databases`].
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// The database name, `t_{unix seconds}_{random}`.
    pub name: String,
    /// A connection URL for it.
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database with a fresh name.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or refuses; a test cannot go on without it.
    pub async fn create() -> TestDatabase {
        // The creation time in the name lets a later run find databases leaked by
        // crashed tests, since PostgreSQL does not record when a database was created.
        let name = format!("t_{}_{}", chrono::Utc::now().timestamp(), random_suffix(8));
        let mut admin = maintenance_connection().await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let url = format!("{}/{name}", database_base_url());
        TestDatabase { name, url }
    }

    /// Drops the database, closing any connection still open to it.
    ///
    /// # Panics
    ///
    /// When the server refuses.
    pub async fn drop_database(self) {
        let mut admin = maintenance_connection().await;
        drop_named(&mut admin, &self.name)
            .await
            .unwrap_or_else(|e| panic!("DROP DATABASE {} failed: {e}", self.name));
    }
}

/// Drops test databases created more than `older_than` ago (left behind by tests that
/// panicked before cleaning up); returns how many were dropped.
///
/// # Panics
///
/// When the server cannot be reached.
pub async fn drop_stale_test_databases(older_than: Duration) -> usize {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        datname: String,
    }

    let cutoff =
        chrono::Utc::now().timestamp() - i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX);
    let mut admin = maintenance_connection().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname ~ '^t_[0-9]+_[a-z0-9]{8}$'",
    )
    .load(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("listing test databases failed: {e}"));
    let mut dropped = 0;
    for row in rows {
        let created = row
            .datname
            .split('_')
            .nth(1)
            .and_then(|secs| secs.parse::<i64>().ok());
        // Another run may drop the same database concurrently; that is not an error.
        if created.is_some_and(|created| created < cutoff)
            && drop_named(&mut admin, &row.datname).await.is_ok()
        {
            dropped += 1;
        }
    }
    dropped
}

async fn maintenance_connection() -> AsyncPgConnection {
    let url = format!("{}/{MAINTENANCE_DB}", database_base_url());
    AsyncPgConnection::establish(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"))
}

async fn drop_named(admin: &mut AsyncPgConnection, name: &str) -> diesel::QueryResult<()> {
    // FORCE (PostgreSQL 13+) ends sessions a test forgot to close, e.g. a pool that is
    // still alive in a spawned task.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
}
