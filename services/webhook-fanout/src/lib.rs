//! webhook-fanout delivers `ticket.*` events to subscribers' endpoints (DESIGN.md §6):
//! it owns the endpoints (commands from the gateway), stores each event once with one
//! delivery per matching endpoint, and sends them signed per Standard Webhooks, at
//! least once, on a retry schedule, to checked public addresses only.

pub mod app;
pub mod apply;
pub mod cascade;
pub mod commands;
pub mod deliveries;
pub mod dispatch;
pub mod endpoints;
pub mod events;
pub mod http;
pub mod ingest;
pub mod ingest_batch;
pub mod owner;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod signing;
pub mod store;
#[cfg(test)]
mod testing;

pub use app::Application;
pub use settings::Settings;
