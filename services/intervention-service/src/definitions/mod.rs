//! Intervention definitions (the library): settings with the remote's encrypted bearer
//! token, UI fields and templates.

pub mod define;
pub mod edit;
pub mod fields;
pub mod remote;
pub mod store;
pub mod validate;

/// The inbox name of the command consumer.
pub const CONSUMER: &str = "intervention-service.commands";
