//! Loopdesk's RabbitMQ mechanism (DESIGN §3), shared by every service: one supervised
//! connection per process ([`Broker`]), confirmed and mandatory publishing
//! ([`Publisher`]), consumers on durable quorum queues with delayed retry and
//! dead-lettering ([`spawn_consumer`]), and request/reply ([`RpcClient`]).
//!
//! It knows nothing about tickets: message kinds and bodies are the services' business.

mod backoff;
pub mod broker;
pub mod config;
pub mod consumer;
pub mod dead_letters;
mod dispatch;
pub mod envelope;
pub mod error;
pub mod headers;
pub mod names;
pub mod publisher;
pub mod rpc;
mod supervisor;
mod topology;
pub mod trace;

pub use broker::Broker;
pub use config::BrokerSettings;
pub use consumer::{Binding, ConsumerSpec, Handler, Outcome, declare_consumer, spawn_consumer};
pub use dead_letters::{DeadLetter, peek_dead_letters, replay_dead_letters};
pub use envelope::{Delivery, Envelope, OutgoingMessage, Route};
pub use error::{MessagingError, PublishError};
pub use headers::EnvelopeError;
pub use names::Names;
pub use publisher::Publisher;
pub use rpc::{RpcClient, RpcError};
pub use trace::{extract_parent, inject_current_trace};
