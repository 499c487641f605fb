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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, Instant};

    use loopdesk_messaging::BrokerSettings;
    use loopdesk_storage::DatabaseSettings;

    use super::*;

    /// Against the machine's RabbitMQ and PostgreSQL, as every other integration test.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_draining_service_is_not_ready_even_with_its_dependencies_up() {
        let shutdown = CancellationToken::new();
        let broker = Broker::start(BrokerSettings::default(), shutdown.clone());
        let database =
            DatabaseSettings::new("postgres://postgres@127.0.0.1:5432/postgres", "public");
        let deps = Dependencies {
            broker: broker.clone(),
            pool: loopdesk_storage::build_pool(&database).unwrap(),
            shutdown: shutdown.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !broker.is_connected() {
            assert!(Instant::now() < deadline, "the broker did not connect");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            deps.checks().await.iter().all(|(_, ok)| *ok),
            "{:?}",
            deps.checks().await
        );

        shutdown.cancel();
        let checks = deps.checks().await;
        assert!(
            checks.contains(&("accepting_work", false)),
            "draining must turn readiness off: {checks:?}"
        );
    }
}
