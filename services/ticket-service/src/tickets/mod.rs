//! Tickets: storage, listing cursors and the commands that change them.

pub mod create;
pub mod cursor;
pub mod store;
