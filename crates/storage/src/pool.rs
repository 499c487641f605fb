//! The connection pool: every connection works inside the service's own schema.

use std::time::Duration;

use deadpool::Runtime;
use diesel::ConnectionError;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod, deadpool::Object,
    },
};
use secrecy::ExposeSecret;

use crate::{DatabaseSettings, StorageError, error::unavailable};

/// The pool every service uses.
pub type Pool = diesel_async::pooled_connection::deadpool::Pool<AsyncPgConnection>;
/// A database connection, as the outbox and inbox functions take it.
pub type Conn = AsyncPgConnection;
/// A connection checked out of the [`Pool`]; derefs to [`Conn`] and returns on drop.
pub type PooledConn = Object<AsyncPgConnection>;

/// How long a commit waits before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A commit returns once it is on disk: what every exactly-once path needs (an
    /// inbox claim, an outbox row, an idempotency record).
    Durable,
    /// A commit returns before its WAL is flushed (`synchronous_commit = off`): a crash
    /// may forget the last few hundred milliseconds of commits, never corrupt anything.
    /// Only for writes an at-least-once protocol repeats anyway when they are forgotten
    /// (a delivery's lease or its success: the worst case is one more, duplicate, send).
    Relaxed,
}

/// Builds the pool (commits [`Durability::Durable`]). Every connection runs `SET
/// search_path TO "<schema>", public` when it is created, so each service's tables (and
/// diesel's migration table) live in its own schema.
/// Does not connect: a service starts while the database is down and reports not-ready.
///
/// A checkout costs no round trip: a returned connection is reused unless it is closed or
/// was left inside a transaction (diesel-async checks both without asking the server). A
/// connection the server dropped since shows up as an error on its next query, which
/// callers already treat as "database unavailable", and the pool then discards it.
pub fn build_pool(settings: &DatabaseSettings) -> Result<Pool, StorageError> {
    build_pool_with(settings, Durability::Durable)
}

/// [`build_pool`] with the given commit durability for every connection.
pub fn build_pool_with(
    settings: &DatabaseSettings,
    durability: Durability,
) -> Result<Pool, StorageError> {
    settings.validate()?;
    let mut setup = search_path_statement(settings);
    if durability == Durability::Relaxed {
        setup.push_str("; SET synchronous_commit TO off");
    }
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let setup = setup.clone();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(&setup)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(
        settings.url.expose_secret().to_owned(),
        config,
    );
    let timeout = Some(settings.acquire_timeout());
    Pool::builder(manager)
        .max_size(settings.max_connections)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| StorageError::InvalidSettings(err.to_string()))
}

/// Checks a connection out of the pool, within the acquire timeout. Failures come back as a
/// diesel error for which [`crate::is_unavailable`] is true.
pub async fn connection(pool: &Pool) -> diesel::QueryResult<PooledConn> {
    pool.get().await.map_err(unavailable)
}

/// `SELECT 1` through the pool within the acquire timeout; for `/readyz`.
pub async fn ping(pool: &Pool) -> bool {
    let probe = async {
        let mut conn = connection(pool).await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await
    };
    matches!(
        tokio::time::timeout(acquire_timeout(pool), probe).await,
        Ok(Ok(_))
    )
}

pub(crate) fn search_path_statement(settings: &DatabaseSettings) -> String {
    format!("SET search_path TO {}, public", settings.quoted_schema())
}

/// The pool keeps its timeouts; used to bound whole operations, not just the checkout.
pub(crate) fn acquire_timeout(pool: &Pool) -> Duration {
    pool.timeouts().wait.unwrap_or(Duration::from_millis(2000))
}

/// Reports the pool's size, idle connections and waiting callers as gauges labelled with
/// the schema, every few seconds until `shutdown`.
pub async fn report_pool_metrics(
    pool: Pool,
    schema: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let status = pool.status();
        metrics::gauge!("db_pool_connections", "schema" => schema.clone()).set(status.size as f64);
        metrics::gauge!("db_pool_idle", "schema" => schema.clone()).set(status.available as f64);
        metrics::gauge!("db_pool_waiting", "schema" => schema.clone()).set(status.waiting as f64);
        metrics::gauge!("db_pool_max", "schema" => schema.clone()).set(status.max_size as f64);
    }
}
