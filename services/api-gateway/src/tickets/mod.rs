//! Ticket routes.

pub mod command;
pub mod compat;
pub mod create;
pub mod fields;
pub mod read;
pub mod responses;
pub mod sla;
pub mod transitions;
pub mod update;
