//! Loopdesk's public REST API. It authenticates API keys, enforces idempotency and
//! validation, turns writes into commands for the owning services over RabbitMQ, and
//! serves reads from the owners' internal APIs. It owns only API keys and idempotency
//! records.

pub mod app;
pub mod caller;
pub mod command_bus;
pub mod docs;
pub mod epilogs;
pub mod events;
pub mod idempotency;
pub mod interventions;
pub mod keys;
pub mod openapi;
pub mod owners;
pub mod rate_limit;
pub mod schema;
pub mod settings;
pub mod state;
pub mod tickets;
pub mod webhooks;
pub mod writes;

pub use app::Application;
pub use settings::Settings;
