//! Service levels: per-tenant policies, targets on tickets, and the checker that finds
//! missed targets and closes long-solved tickets.

pub mod checker;
pub mod clock;
pub mod policy;
