//! Schema migrations: the storage crate's own tables, then the service's, behind a lock.

use std::collections::HashSet;

use diesel::{
    QueryableByName,
    migration::MigrationSource,
    pg::Pg,
    sql_types::{BigInt, Text},
};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    async_connection_wrapper::AsyncConnectionWrapper,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use crate::{DatabaseSettings, Pool, StorageError, pool::search_path_statement};

/// The outbox and inbox tables, created in every service's schema.
const STORAGE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Creates the schema if missing, then runs the storage crate's migrations (outbox, inbox)
/// and the service's `migrations`, all on one dedicated connection holding
/// `pg_advisory_lock(<stable hash of schema>)`, so replicas starting together do not race.
/// Returns the versions applied by this call (empty when another replica got there first).
pub async fn migrate(
    settings: &DatabaseSettings,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, StorageError> {
    settings.validate()?;
    check_no_version_clash(&migrations)?;

    let url = settings.url.expose_secret().to_owned();
    let mut conn = tokio::time::timeout(
        settings.acquire_timeout(),
        AsyncPgConnection::establish(&url),
    )
    .await
    .map_err(|_| StorageError::Unavailable("timed out connecting to run migrations".into()))?
    .map_err(|err| StorageError::Unavailable(err.to_string()))?;

    let key = advisory_lock_key(&settings.schema);
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(key)
        .execute(&mut conn)
        .await?;
    // Under the lock: concurrent `CREATE SCHEMA IF NOT EXISTS` can fail on a catalog race.
    // The search path is set after creating the schema, else new tables would land in `public`.
    conn.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}; {}",
        settings.quoted_schema(),
        search_path_statement(settings)
    ))
    .await?;

    // The wrapper is created here so it captures this runtime's handle for its block_on.
    let mut wrapper = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
    let (wrapper, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = run_pending(&mut wrapper, migrations);
        (wrapper, outcome)
    })
    .await
    .map_err(|err| StorageError::Migration(format!("migration task failed: {err}")))?;

    // Closing the session would release the lock too; unlocking says so explicitly.
    let mut conn = wrapper.into_inner();
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(key)
        .execute(&mut conn)
        .await;
    let applied = outcome?;
    unlocked?;
    Ok(applied)
}

/// Whether the storage crate's and the service's migrations are all applied (readiness).
pub async fn migrations_applied(pool: &Pool, migrations: EmbeddedMigrations) -> bool {
    let Ok(expected) = all_versions(&migrations) else {
        return false;
    };
    let Ok(mut conn) = crate::connection(pool).await else {
        return false;
    };
    let applied: Vec<AppliedVersion> =
        match diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load(&mut conn)
            .await
        {
            Ok(rows) => rows,
            Err(_) => return false,
        };
    let applied: HashSet<String> = applied.into_iter().map(|row| row.version).collect();
    expected.iter().all(|version| applied.contains(version))
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

fn run_pending(
    conn: &mut AsyncConnectionWrapper<AsyncPgConnection>,
    service: EmbeddedMigrations,
) -> Result<Vec<String>, StorageError> {
    let mut applied = Vec::new();
    for source in [STORAGE_MIGRATIONS, service] {
        let versions = conn
            .run_pending_migrations(source)
            .map_err(|err| StorageError::Migration(err.to_string()))?;
        applied.extend(versions.iter().map(ToString::to_string));
    }
    Ok(applied)
}

/// Both sets share one migration table; a clashing version would silently be skipped.
fn check_no_version_clash(service: &EmbeddedMigrations) -> Result<(), StorageError> {
    let ours: HashSet<String> = versions(&STORAGE_MIGRATIONS)?.into_iter().collect();
    match versions(service)?.into_iter().find(|v| ours.contains(v)) {
        Some(clash) => Err(StorageError::Migration(format!(
            "service migration version {clash} is reserved by loopdesk-storage"
        ))),
        None => Ok(()),
    }
}

fn all_versions(service: &EmbeddedMigrations) -> Result<Vec<String>, StorageError> {
    let mut all = versions(&STORAGE_MIGRATIONS)?;
    all.extend(versions(service)?);
    Ok(all)
}

fn versions(source: &EmbeddedMigrations) -> Result<Vec<String>, StorageError> {
    let migrations = MigrationSource::<Pg>::migrations(source)
        .map_err(|err| StorageError::Migration(err.to_string()))?;
    Ok(migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .collect())
}

/// FNV-1a of the schema name: stable across builds and Rust versions (unlike `DefaultHasher`),
/// so every replica, whatever its version, takes the same lock.
fn advisory_lock_key(schema: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = "loopdesk-migrate:"
        .bytes()
        .chain(schema.bytes())
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_is_stable_and_per_schema() {
        // Pinned: a change here would let old and new replicas migrate at the same time.
        assert_eq!(advisory_lock_key("tickets"), advisory_lock_key("tickets"));
        assert_ne!(advisory_lock_key("tickets"), advisory_lock_key("gateway"));
        assert_eq!(advisory_lock_key("tickets"), -1_349_698_968_964_695_499);
    }

    #[test]
    fn storage_migrations_are_embedded() {
        let ours = versions(&STORAGE_MIGRATIONS).unwrap_or_default();
        assert_eq!(ours, vec!["00000000000001".to_string()]);
    }
}
