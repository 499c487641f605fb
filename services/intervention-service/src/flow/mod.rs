//! Interventions in the ticket flow (seed §5.2–5.5): creating the ticket of a remote's
//! `uid` with the rendered templates, staff submitting a payload, and acting on the
//! epilog dispatcher's outcomes. Ticket changes go to the ticket service as commands
//! through this service's outbox, in the transaction of the change that causes them.

pub mod create;
pub mod data;
pub mod outcomes;
pub mod submit;
pub mod ticket_commands;
pub mod ticket_status;
