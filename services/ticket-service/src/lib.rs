//! The ticket service owns tickets: it applies ticket commands from the broker exactly
//! once, publishes `ticket.*` events through its outbox, and serves reads to the gateway.

pub mod app;
pub mod apply;
pub mod commands;
pub mod http;
pub mod schema;
pub mod settings;
pub mod sla;
pub mod thread;
pub mod tickets;

pub use app::Application;
pub use settings::Settings;
