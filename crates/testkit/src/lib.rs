//! Helpers shared by Loopdesk's tests (use it as a dev-dependency only).
//!
//! Tests run against the real PostgreSQL and RabbitMQ, so each test gets its own
//! database ([`TestDatabase`]) and its own broker name prefix ([`unique_prefix`]);
//! outages are simulated with a [`TcpProxy`] in front of the real server, never by
//! touching the server itself.

mod database;
mod names;
mod proxy;
mod wait;

pub use database::{TestDatabase, drop_stale_test_databases};
pub use names::{amqp_url, database_base_url, unique_prefix};
pub use proxy::TcpProxy;
pub use wait::wait_until;
