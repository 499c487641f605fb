//! The epilog worker: claims due jobs (a lease per job, `SKIP LOCKED`, so two instances
//! never call for the same attempt at once), calls the remotes concurrently within a
//! bound, classifies each answer, records it and schedules the next attempt or settles
//! the job. All of it lives in the database: delays survive restarts.

mod claim;
pub mod classify;
mod record;
pub mod send;

use std::{sync::Arc, time::Duration};

use loopdesk_contracts::{Env, Scope, Tenant};
use loopdesk_outbound::RetrySchedule;
use loopdesk_storage::{Pool, Relay};
use tokio::sync::{Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::store::{JobRow, StoreError};
use classify::{Expected, classify};
pub use send::Sender;

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Poll period when nothing wakes it.
    pub poll_interval: Duration,
    /// Lease beyond the longest remote timeout (settings lookup, recording).
    pub lease_margin: Duration,
}

/// The epilog worker; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    sender: Sender,
    schedule: RetrySchedule,
    relay: Relay,
    settings: DispatchSettings,
    permits: Arc<Semaphore>,
    wake: Notify,
    tasks: TaskTracker,
}

impl Dispatcher {
    /// A dispatcher calling with `sender` on `schedule`, publishing outcomes via `relay`.
    pub fn new(
        pool: Pool,
        sender: Sender,
        schedule: RetrySchedule,
        relay: Relay,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                sender,
                schedule,
                relay,
                permits: Arc::new(Semaphore::new(settings.concurrency)),
                settings,
                wake: Notify::new(),
                tasks: TaskTracker::new(),
            }),
        }
    }

    /// Asks for a look at due jobs now (a new or retried job, freed capacity).
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// Dispatches until `shutdown`, then lets in-flight calls finish and record.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.try_dispatch_once().await {
                Ok(n) if n > 0 && self.inner.permits.available_permits() > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not claim due epilog jobs"),
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

    /// One step: claims the due jobs there is capacity for and starts calling; returns
    /// how many were started.
    pub async fn try_dispatch_once(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let free = inner.permits.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let jobs = claim::claim(&inner.pool, free, inner.settings.lease_margin).await?;
        let started = jobs.len();
        for job in jobs {
            // Claimed within the free permits; only this task takes them.
            let permit = inner.permits.clone().acquire_owned().await;
            let this = self.clone();
            inner.tasks.spawn(async move {
                this.call(&job).await;
                drop(permit);
                this.notify();
            });
        }
        Ok(started)
    }

    async fn call(&self, job: &JobRow) {
        let inner = &self.inner;
        let Some(scope) = scope_of(job) else {
            tracing::error!(job = %job.id, "job with an invalid scope");
            return;
        };
        let report = inner.sender.attempt(&scope, job).await;
        let verdict = classify(
            &report.answer,
            &Expected {
                ticket_id: &job.ticket_id,
                uid: &job.uid,
                intervention: &job.intervention,
                response_id: &job.response_id,
            },
        );
        // Never the token: the verdict's text was redacted by the sender.
        tracing::info!(
            job = %job.id,
            intervention = %job.intervention,
            attempt = job.attempts,
            verdict = verdict_name(&verdict),
            error = verdict.error(),
            "epilog attempt"
        );
        // The lease keeps others off this job while recording is retried.
        let mut wait = Duration::from_millis(100);
        for _ in 0..5 {
            match record::record(&inner.pool, job, &report, &verdict, &inner.schedule).await {
                Ok(published) => {
                    if published {
                        inner.relay.notify();
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, job = %job.id, "could not record an epilog attempt");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }
}

fn verdict_name(verdict: &classify::Verdict) -> &'static str {
    match verdict {
        classify::Verdict::Succeeded(_) => "succeeded",
        classify::Verdict::Retry { .. } => "retry",
        classify::Verdict::Failed(_) => "failed",
        classify::Verdict::Rejected(_) => "rejected",
    }
}

fn scope_of(job: &JobRow) -> Option<Scope> {
    Some(Scope {
        tenant: Tenant::parse(job.tenant.clone()).ok()?,
        env: job.env.parse::<Env>().ok()?,
    })
}
