//! The intervention service owns intervention definitions (settings, UI fields,
//! templates, the remote's bearer token: it arrives sealed for this service and is kept
//! encrypted) and intervention payloads. It applies intervention commands from the
//! broker exactly once, publishes `intervention.*` events through its outbox, and serves
//! the library and the ticket panel to the gateway.

pub mod app;
pub mod apply;
pub mod commands;
pub mod definitions;
pub mod events;
pub mod flow;
pub mod http;
pub mod payloads;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod tokens;
pub mod transit;

pub use app::Application;
pub use settings::Settings;
