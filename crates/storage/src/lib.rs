//! PostgreSQL mechanism shared by Loopdesk services: a pool whose connections work in the
//! service's own schema, migrations behind an advisory lock, a transactional outbox with its
//! relay, and an inbox that makes redelivered messages apply once.
//!
//! Mechanism only: no service decides anything here.

mod cached;
mod error;
mod group;
mod inbox;
mod migrate;
mod outbox;
mod pool;
mod relay;
mod relay_pass;
mod schema;
mod settings;
mod transaction;

pub use cached::{Bound, CachedSqlQuery, NoBinds, SessionPool, cached_sql_query};
pub use error::{StorageError, is_unavailable, violated_constraint};
pub use group::{GroupCommit, NoResult};
pub use inbox::{claim, claim_all, purge_inbox};
pub use migrate::{migrate, migrations_applied};
pub use outbox::{enqueue, enqueue_all};
pub use pool::{
    Conn, Durability, Pool, PooledConn, build_pool, build_pool_with, connection, ping,
    report_pool_metrics,
};
pub use relay::{Relay, RelayError, RelaySettings};
pub use settings::DatabaseSettings;
pub use transaction::{TransactionBody, transaction};
