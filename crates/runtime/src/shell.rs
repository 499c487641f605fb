//! The process shell: the HTTP server and the workers run until the shutdown token is
//! cancelled (SIGTERM), then drain within a bound.

use std::{future::Future, time::Duration};

use actix_web::dev::Server;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long workers get to finish in-flight work once draining starts.
pub const DRAIN_BOUND: Duration = Duration::from_secs(20);

/// A running service: its HTTP server, its workers and the token that stops them.
pub struct Shell {
    server: Server,
    workers: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl Shell {
    /// Wraps a built (not yet polled) server and spawned workers that all watch `shutdown`.
    pub fn new(server: Server, workers: Vec<JoinHandle<()>>, shutdown: CancellationToken) -> Self {
        Self {
            server,
            workers,
            shutdown,
        }
    }

    /// Serves until the token is cancelled, then drains: `/readyz` already says no, the
    /// server stops taking connections and finishes the requests it has, consumers stop
    /// taking messages and settle the ones in flight (nothing is acked that was not
    /// applied), and the workers are given [`DRAIN_BOUND`] to return.
    pub async fn run_until_stopped(self) {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        self.shutdown.cancelled().await;
        handle.stop(true).await;
        let _ = server.await;
        for worker in self.workers {
            if tokio::time::timeout(DRAIN_BOUND, worker).await.is_err() {
                tracing::warn!(bound = ?DRAIN_BOUND, "a worker did not stop within the drain bound");
            }
        }
    }
}

/// Runs `task` every `period` until `shutdown`, logging what it reports: for retention
/// purges and other housekeeping.
pub async fn every<F, Fut>(
    period: Duration,
    shutdown: CancellationToken,
    what: &'static str,
    mut task: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, String>>,
{
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match task().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, what, "housekeeping done"),
            Err(error) => tracing::warn!(%error, what, "housekeeping failed"),
        }
    }
}

/// Forgets processed message ids older than `retention`, hourly: the inbox only needs
/// to outlive any redelivery.
pub async fn purge_inbox(
    pool: loopdesk_storage::Pool,
    retention: chrono::Duration,
    shutdown: CancellationToken,
) {
    every(Duration::from_secs(3600), shutdown, "inbox purge", || {
        let pool = pool.clone();
        async move {
            loopdesk_storage::purge_inbox(&pool, retention)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
}
