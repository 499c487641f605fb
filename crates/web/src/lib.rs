//! HTTP mechanisms shared by Loopdesk services: RFC 9457 problems, a strict JSON body
//! extractor, health routes, problem answers for unknown routes, and the server every
//! owning service's internal API runs on.

pub mod defaults;
pub mod health;
pub mod internal;
pub mod json;
pub mod problem;
pub mod tracing_mw;

pub use health::Readiness;
pub use json::{BodyLimit, JsonBody};
pub use problem::Problem;

/// Where a service listens.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HttpSettings {
    /// Interface to bind, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// Port; 0 picks a free one (tests).
    pub port: u16,
}

impl HttpSettings {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}
