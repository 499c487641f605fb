//! Loopdesk's contracts: the types that cross a service boundary (ids, tenancy, queue
//! messages, webhook payloads). Services share these and nothing else of each other.

pub mod actor;
pub mod commands;
pub mod epilogs;
pub mod events;
pub mod ids;
pub mod interventions;
pub mod pagination;
pub mod problem;
pub mod responses;
pub mod schemas;
pub mod tenancy;
pub mod tickets;
pub mod webhooks;

pub use actor::{Actor, ActorKind};
pub use problem::{DomainError, FieldError};
pub use tenancy::{Env, Scope, Tenant};
