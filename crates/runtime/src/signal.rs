//! The signal that stops a service, listened for from the first line of `main`: a SIGTERM
//! that comes while the service is still starting (migrating, connecting) ends the start
//! cleanly, where the default action would kill the process mid-way.

use std::{future::Future, io};

use tokio_util::sync::CancellationToken;

/// SIGTERM (what orchestrators send) or SIGINT (Ctrl-C). The listeners are registered
/// when it is installed, so a signal that comes before anyone waits for it is kept.
pub struct StopSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Registers the listeners; from now on these signals no longer kill the process.
    /// Call it first in `main`, inside the runtime.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves once a signal has come since `install` (at once if one already has).
    pub async fn received(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Runs `start` (building the service) unless a signal comes first. `None` when one
    /// did: `start` is dropped where it stood, before anything was served, and the
    /// process should exit with success.
    pub async fn unless_received<T>(&mut self, start: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            started = start => Some(started),
            () = self.received() => {
                tracing::info!("stop signal received while starting; not starting");
                None
            }
        }
    }

    /// Cancels `shutdown` when a signal comes (at once if one already has), from a task
    /// of its own: the moment the service starts draining.
    pub fn cancel_on_signal(mut self, shutdown: CancellationToken) {
        tokio::spawn(async move {
            self.received().await;
            tracing::info!("shutdown signal received, draining");
            shutdown.cancel();
        });
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    /// Sends SIGTERM to this test process (its listener is installed: it survives).
    fn sigterm_self() {
        let status = std::process::Command::new("kill")
            .args(["-s", "TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s TERM");
    }

    #[tokio::test]
    async fn a_sigterm_before_anyone_waits_is_kept_and_stops_the_start() {
        let mut stop = StopSignal::install().unwrap();
        sigterm_self();
        // A start that would never finish: only the kept signal can end the wait.
        let started = tokio::time::timeout(
            Duration::from_secs(10),
            stop.unless_received(std::future::pending::<()>()),
        )
        .await;
        assert_eq!(started, Ok(None), "the start was abandoned for the signal");
    }
}
