//! A fresh database per test, and what tests need around it.

use std::{future::Future, time::Duration};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_storage::{DatabaseSettings, Pool, build_pool, migrate};

/// A stand-in for a service's own migrations: one `widgets` table with a unique name.
pub const WIDGETS: EmbeddedMigrations = embed_migrations!("tests/fixtures/widgets_migrations");

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database created for one test; call [`TestDb::drop`] at the end.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("ld_storage_{}", unique());
        maintenance(&format!("CREATE DATABASE \"{name}\"")).await;
        TestDb { name }
    }

    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    pub fn settings(&self, schema: &str) -> DatabaseSettings {
        DatabaseSettings::new(self.url(), schema)
    }

    /// A migrated schema and a pool over it.
    pub async fn migrated(&self, schema: &str) -> (DatabaseSettings, Pool) {
        let settings = self.settings(schema);
        migrate(&settings, WIDGETS).await.unwrap();
        let pool = build_pool(&settings).unwrap();
        (settings, pool)
    }

    /// A plain connection, outside any pool and without a search path.
    pub async fn raw(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url()).await.unwrap()
    }

    pub async fn drop(self) {
        maintenance(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name)).await;
    }
}

async fn maintenance(sql: &str) {
    let mut conn = AsyncPgConnection::establish(&format!("{SERVER}/postgres"))
        .await
        .unwrap();
    conn.batch_execute(sql).await.unwrap();
}

/// Lower-case, so it works unquoted as a schema or queue name.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
