//! `/readyz` for a service with a broker and a database: ready when both answer and the
//! service is not draining.

use loopdesk_messaging::Broker;
use loopdesk_storage::Pool;
use loopdesk_web::Readiness;
use tokio_util::sync::CancellationToken;

/// What a service depends on.
#[derive(Clone)]
pub struct Dependencies {
    /// The broker connection.
    pub broker: Broker,
    /// The database pool.
    pub pool: Pool,
    /// Cancelled when the service starts draining.
    pub shutdown: CancellationToken,
}

#[async_trait::async_trait]
impl Readiness for Dependencies {
    async fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("broker", self.broker.is_connected()),
            ("database", loopdesk_storage::ping(&self.pool).await),
            ("accepting_work", !self.shutdown.is_cancelled()),
        ]
    }
}
