//! Webhook endpoints: storage, validation and the commands that change them.

pub mod apply;
pub mod store;
pub mod validate;
