//! epilog-dispatcher calls each intervention's remote when staff submit (seed 000
//! §5.4–5.5, DESIGN.md §7): one job per `intervention.submitted`, POSTed with the
//! remote's bearer token (read at send time, never stored) to checked addresses only,
//! retried on a schedule, its `final` reply checked, and the outcome published as an
//! `epilog.*` event for intervention-service to act on. Staff list jobs and retry the
//! failed ones through the gateway.

pub mod app;
pub mod commands;
pub mod dispatch;
pub mod events;
pub mod http;
pub mod ingest;
pub mod remote;
pub mod schema;
pub mod settings;
pub mod store;

pub use app::Application;
pub use settings::Settings;
