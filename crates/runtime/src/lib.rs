//! How a Loopdesk service process runs. Every service is the same shell around its own
//! decisions: an HTTP server and background workers that start together and drain
//! together on shutdown (the stop signal heard from the first line of `main`), a
//! readiness check of its broker and database, replies to the commands it handles, and
//! one vocabulary for why applying a message failed.

pub mod apply;
pub mod readiness;
pub mod reply;
pub mod shell;
pub mod signal;

pub use apply::ApplyError;
pub use readiness::Dependencies;
pub use reply::answer;
pub use shell::{Shell, ShutdownSettings, every, purge_inbox};
pub use signal::StopSignal;
