//! The process shell: the HTTP server and the workers run until the shutdown token is
//! cancelled (SIGTERM), then drain within a configured bound.

use std::{future::Future, time::Duration};

use actix_web::dev::Server;
use loopdesk_settings::{SettingsError, Validate, require_range};
use serde::Deserialize;
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

/// `[shutdown]`: how long a stopping service may take, from SIGTERM to exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ShutdownSettings {
    /// Whole seconds (the HTTP server counts its bound in seconds) in which in-flight
    /// requests and messages must finish. Whatever still runs then is dropped; its
    /// messages, never acked, are redelivered. The orchestrator's grace period before
    /// SIGKILL must exceed it.
    pub drain_timeout_secs: u64,
}

impl ShutdownSettings {
    /// Longest drain accepted: an hour, already far beyond any orchestrator's patience.
    pub const MAX_DRAIN_TIMEOUT_SECS: u64 = 3600;

    /// The drain bound.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

impl Validate for ShutdownSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        require_range(
            "shutdown.drain_timeout_secs",
            self.drain_timeout_secs,
            1,
            Self::MAX_DRAIN_TIMEOUT_SECS,
        )
    }
}

/// A running service: its HTTP server, its workers and the token that stops them.
pub struct Shell {
    server: Server,
    workers: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
    drain: Duration,
}

impl Shell {
    /// Wraps a built (not yet polled) server and spawned workers that all watch
    /// `shutdown`. `drain` bounds the drain; build the server with the same bound
    /// (`HttpServer::shutdown_timeout(settings.drain_timeout_secs)`).
    pub fn new(
        server: Server,
        workers: Vec<JoinHandle<()>>,
        shutdown: CancellationToken,
        drain: Duration,
    ) -> Self {
        Self {
            server,
            workers,
            shutdown,
            drain,
        }
    }

    /// Serves until the token is cancelled, then drains: `/readyz` already says no, the
    /// server stops taking connections and finishes the requests it has, consumers stop
    /// taking messages and settle the ones in flight (nothing is acked that was not
    /// applied). All of it shares one deadline, `drain` after the token was cancelled;
    /// workers still running then are aborted.
    pub async fn run_until_stopped(self) {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        self.shutdown.cancelled().await;
        // The workers saw the same token: they drain while the server does.
        let deadline = Instant::now() + self.drain;
        handle.stop(true).await;
        let _ = server.await;
        let mut abandoned = 0;
        for mut worker in self.workers {
            if tokio::time::timeout_at(deadline, &mut worker)
                .await
                .is_err()
            {
                worker.abort();
                abandoned += 1;
            }
        }
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                bound = ?self.drain,
                "workers did not stop within the drain bound; their unacked messages will be redelivered"
            );
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use actix_web::{App, HttpServer};
    use tokio::sync::oneshot;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        shutdown: ShutdownSettings,
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), SettingsError> {
            self.shutdown.validate()
        }
    }

    const DEFAULTS: &str = "[shutdown]\ndrain_timeout_secs = 20\n";

    fn load(pairs: &[(&str, &str)]) -> Result<Sample, String> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        loopdesk_settings::load_with_vars(DEFAULTS, vars).map_err(|e| e.to_string())
    }

    #[test]
    fn the_drain_bound_comes_from_the_defaults_or_the_environment() {
        let defaults = load(&[]).unwrap();
        assert_eq!(defaults.shutdown.drain_timeout(), Duration::from_secs(20));
        let overridden = load(&[("LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS", "2")]).unwrap();
        assert_eq!(overridden.shutdown.drain_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn a_drain_bound_of_zero_or_beyond_an_hour_is_refused_naming_the_key() {
        for refused in ["0", "3601"] {
            let error = load(&[("LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS", refused)]).unwrap_err();
            assert!(
                error.contains("`shutdown.drain_timeout_secs`") && error.contains(refused),
                "{refused}: {error}"
            );
        }
        assert!(load(&[("LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS", "3600")]).is_ok());
    }

    #[test]
    fn a_drain_bound_that_is_not_a_number_names_the_key() {
        let error = load(&[("LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS", "soon")]).unwrap_err();
        assert!(error.contains("shutdown.drain_timeout_secs"), "{error}");
    }

    fn idle_server() -> Server {
        HttpServer::new(App::new)
            .disable_signals()
            .workers(1)
            .shutdown_timeout(1)
            .bind(("127.0.0.1", 0))
            .unwrap()
            .run()
    }

    #[tokio::test]
    async fn a_worker_that_overruns_the_drain_bound_is_aborted_at_the_bound() {
        let bound = Duration::from_millis(300);
        let shutdown = CancellationToken::new();
        // Ignores the token; its sender is dropped only if the task is aborted.
        let (stuck_alive, stuck_dropped) = oneshot::channel::<()>();
        let stuck = tokio::spawn(async move {
            let _alive = stuck_alive;
            std::future::pending::<()>().await;
        });
        let (finished, drained) = oneshot::channel();
        let polite = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                let _ = finished.send(());
            }
        });
        let shell = Shell::new(idle_server(), vec![stuck, polite], shutdown.clone(), bound);

        shutdown.cancel();
        let started = Instant::now();
        shell.run_until_stopped().await;
        let took = started.elapsed();

        assert!(took >= bound, "returned before the bound: {took:?}");
        assert!(
            took < bound + Duration::from_secs(2),
            "the bound was not kept: {took:?}"
        );
        assert_eq!(
            drained.await,
            Ok(()),
            "the polite worker finished its drain"
        );
        let aborted = tokio::time::timeout(Duration::from_secs(5), stuck_dropped).await;
        assert!(
            matches!(aborted, Ok(Err(_))),
            "the stuck worker was aborted: {aborted:?}"
        );
    }
}
