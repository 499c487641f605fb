//! Tickets: storage, listing, the status model and the commands that change them.

pub mod change;
pub mod create;
pub mod create_batch;
pub mod cursor;
pub mod delete;
pub mod history;
pub mod initial;
pub mod lifecycle;
pub mod list;
pub mod store;
pub mod transition;
pub mod update;
