//! The delivery worker: claims due deliveries (a lease per delivery, `SKIP LOCKED`, so
//! two instances never send the same attempt at once), sends them concurrently within
//! bounds (per instance and per endpoint, so one slow endpoint cannot hold up the
//! others), records every attempt and schedules the next. All of it lives in the
//! database: delays survive restarts.

mod claim;
mod record;
mod send;
mod successes;

use std::{collections::HashMap, sync::Arc, time::Duration};

use loopdesk_storage::Pool;
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use claim::Job;
pub use send::{AttemptReport, Sender};

use loopdesk_outbound::RetrySchedule;
use successes::Successes;

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint.
    pub per_endpoint: usize,
    /// How long a claimed delivery stays reserved (longer than an attempt may take).
    pub lease: Duration,
    /// Poll period when nothing wakes it.
    pub poll_interval: Duration,
    /// Continuous failure after which an endpoint is disabled.
    pub disable_after: chrono::Duration,
}

/// The delivery worker; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    sender: Sender,
    successes: Successes,
    schedule: RetrySchedule,
    settings: DispatchSettings,
    permits: Arc<Semaphore>,
    in_flight: Mutex<HashMap<String, usize>>,
    wake: Notify,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// A dispatcher sending with `sender` on `schedule`. Starts its success writer on the
    /// current runtime.
    pub fn new(
        pool: Pool,
        sender: Sender,
        schedule: RetrySchedule,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                successes: Successes::start(pool.clone()),
                pool,
                sender,
                schedule,
                permits: Arc::new(Semaphore::new(settings.concurrency)),
                settings,
                in_flight: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    /// Asks for a look at due deliveries now (new deliveries, freed capacity).
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// Dispatches until `shutdown`, then lets in-flight attempts finish and record.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.try_dispatch_once().await {
                // More may be due right away: look again before sleeping.
                Ok(n) if n > 0 && self.inner.permits.available_permits() > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim due deliveries"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(self.inner.settings.poll_interval) => {}
            }
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// One step: claims the due deliveries there is capacity for and starts sending
    /// them; returns how many were started.
    pub async fn try_dispatch_once(&self) -> Result<usize, diesel::result::Error> {
        let inner = &self.inner;
        let free = inner.permits.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let per_endpoint = inner.settings.per_endpoint;
        let (busy, partial): (Vec<String>, Vec<(String, i32)>) = {
            let in_flight = inner.in_flight.lock().await;
            let busy = in_flight
                .iter()
                .filter(|(_, n)| **n >= per_endpoint)
                .map(|(id, _)| id.clone())
                .collect();
            let partial = in_flight
                .iter()
                .filter(|(_, n)| **n < per_endpoint)
                .map(|(id, n)| (id.clone(), i32::try_from(per_endpoint - n).unwrap_or(0)))
                .collect();
            (busy, partial)
        };
        let capacity = claim::Capacity {
            busy: &busy,
            partial: &partial,
            per_endpoint: i32::try_from(per_endpoint).unwrap_or(i32::MAX),
        };
        let jobs = claim::claim(&inner.pool, free, &capacity, inner.settings.lease).await?;
        let mut started = 0;
        for job in jobs {
            let permit = {
                let mut in_flight = inner.in_flight.lock().await;
                let count = in_flight.entry(job.endpoint.id.clone()).or_default();
                match inner.permits.clone().try_acquire_owned() {
                    Ok(permit) if *count < inner.settings.per_endpoint => {
                        *count += 1;
                        Some(permit)
                    }
                    _ => None,
                }
            };
            let Some(permit) = permit else {
                // Over this endpoint's share: hand it back for a later pass.
                if let Err(e) = claim::release(&inner.pool, &job).await {
                    tracing::warn!(error = %e, delivery = %job.delivery_id, "could not release a claim");
                }
                continue;
            };
            started += 1;
            let this = self.clone();
            inner.tasks.spawn(async move {
                this.deliver(&job).await;
                drop(permit);
                let mut in_flight = this.inner.in_flight.lock().await;
                if let Some(count) = in_flight.get_mut(&job.endpoint.id) {
                    *count -= 1;
                    if *count == 0 {
                        in_flight.remove(&job.endpoint.id);
                    }
                }
                drop(in_flight);
                this.notify();
            });
        }
        Ok(started)
    }

    async fn deliver(&self, job: &Job) {
        let inner = &self.inner;
        let report = inner.sender.attempt(job).await;
        let error = report.error.as_deref().or(report.refused_reason.as_deref());
        // Every attempt is kept in `delivery_attempts`; the log carries the failures.
        if report.succeeded {
            tracing::debug!(delivery = %job.delivery_id, attempt = job.attempt, status = ?report.status_code, "webhook delivered");
        } else {
            tracing::info!(delivery = %job.delivery_id, attempt = job.attempt, status = ?report.status_code, error, "webhook attempt failed");
        }
        record::observe(&report);
        if report.succeeded && inner.successes.record(job, &report).await {
            return;
        }
        // The lease keeps others off this delivery while we retry recording.
        let mut wait = Duration::from_millis(100);
        for _ in 0..5 {
            match record::record(
                &inner.pool,
                job,
                &report,
                &inner.schedule,
                inner.settings.disable_after,
            )
            .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, delivery = %job.delivery_id, "could not record an attempt");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}
