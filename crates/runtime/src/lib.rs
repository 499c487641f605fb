//! How a Loopdesk service process runs. Every service is the same shell around its own
//! decisions: its database and broker started, an HTTP server and background workers
//! that start together and drain together on shutdown (the stop signal heard from the
//! first line of `main`), a readiness check of its broker and database, the settings
//! sections services share, replies to the commands it handles, and one vocabulary each
//! for why applying a message or serving a read failed.

pub mod apply;
pub mod readiness;
pub mod reads;
pub mod reply;
pub mod sections;
pub mod service;
pub mod shell;
pub mod signal;

pub use apply::ApplyError;
pub use readiness::Dependencies;
pub use reads::ReadDatabase;
pub use reply::answer;
pub use sections::{ConsumerSettings, InboxSettings};
pub use service::{Service, Startup};
pub use shell::{Shell, ShutdownSettings, every, purge_inbox};
pub use signal::StopSignal;
