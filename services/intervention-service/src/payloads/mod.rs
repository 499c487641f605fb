//! Intervention payloads: one instance of an intervention on a ticket, with the
//! remote's data bag, and the ticket panel built from the unaccepted ones.

pub mod open;
pub mod panel;
pub mod store;
