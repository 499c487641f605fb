//! The ticket thread: append-only responses and the audit entries attached to them.

pub mod audit;
pub mod respond;
pub mod store;
