//! Ticket routes.

pub mod compat;
pub mod create;
pub mod fields;
pub mod read;
