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

use loopdesk_storage::{Pool, SessionPool};
use tokio::{
    sync::{Mutex, Notify, Semaphore},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use claim::Job;
pub use send::{AttemptReport, Sender};

use loopdesk_outbound::RetrySchedule;
use successes::Successes;

/// A claim waits for `1 / CLAIM_SHARE` of the slots to be free (see `worth_claiming`).
const CLAIM_SHARE: usize = 4;

/// How the claim and the recording of successes are planned, on each connection they use:
/// for every execution's values (the one plan PostgreSQL would otherwise keep may date
/// from empty tables), and by index only. Their tables grow by thousands of rows a second,
/// far faster than statistics follow, and a planner that believes the backlog small
/// reads all of it with a bitmap or sequential scan and a sort, every claim, instead of
/// the few oldest rows: in the K=100 fan-out benchmark a claim took 8.8 ms that way and
/// 1.4 ms by index, and PostgreSQL's CPU per delivery halved. Nothing they do needs a
/// scan of a whole table.
pub(crate) const PLANNING: &str = "SET plan_cache_mode = force_custom_plan;
    SET enable_seqscan = off;
    SET enable_bitmapscan = off";

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint.
    pub per_endpoint: usize,
    /// How long a claimed delivery stays reserved (longer than an attempt may take).
    pub lease: Duration,
    /// Poll period when nothing wakes it, and the longest free slots wait for more to
    /// free before they are claimed for.
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
    /// The same pool, for the claim and the successes: see [`PLANNING`].
    planned: SessionPool,
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
        let planned = SessionPool::new(pool.clone(), PLANNING);
        Self {
            inner: Arc::new(Inner {
                successes: Successes::start(planned.clone()),
                planned,
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
    ///
    /// Every finished attempt wakes it, but it claims only once a fair share of the
    /// slots is free (`worth_claiming`), so one claim serves many slots;
    /// a slot never waits longer than the poll interval for the others.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll_interval = self.inner.settings.poll_interval;
        let mut looked = None::<Instant>;
        loop {
            let free = self.inner.permits.available_permits();
            if worth_claiming(&self.inner.settings, free, looked.map(|at| at.elapsed())) {
                let claimed = self.try_dispatch_once().await;
                looked = Some(Instant::now());
                match claimed {
                    // More may be due right away: look again before sleeping.
                    Ok(n) if n > 0 => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not claim due deliveries"),
                }
            }
            // Free slots left unclaimed are looked at again within the poll interval
            // even when no wake-up comes; with none free, a finishing attempt wakes it.
            let wait = match looked {
                Some(at) if self.inner.permits.available_permits() > 0 => {
                    poll_interval.saturating_sub(at.elapsed())
                }
                _ => poll_interval,
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
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
        let jobs = claim::claim(&inner.planned, free, &capacity, inner.settings.lease).await?;
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

/// Whether to claim now, with `free` slots and the last look `since` ago: when at least
/// a quarter of the slots are free (all of them are when nothing is in flight), or when
/// any are and the last look is a poll interval old. A finished attempt frees one slot;
/// claiming for it alone would cost a claim per delivery.
fn worth_claiming(settings: &DispatchSettings, free: usize, since: Option<Duration>) -> bool {
    let share = (settings.concurrency / CLAIM_SHARE).max(1);
    free > 0 && (free >= share || since.is_none_or(|since| since >= settings.poll_interval))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel::{QueryableByName, sql_types::BigInt};
    use diesel_async::RunQueryDsl;
    use loopdesk_storage::DatabaseSettings;
    use loopdesk_testkit::TestDatabase;

    use super::*;

    /// A fresh, migrated database and a pool of one connection on it, so every statement
    /// runs on the session [`prepared`] asks about.
    pub(crate) async fn one_connection() -> (TestDatabase, Pool) {
        let test = TestDatabase::create().await;
        let mut settings = DatabaseSettings::new(test.url.clone(), "webhooks");
        loopdesk_storage::migrate(&settings, crate::app::MIGRATIONS)
            .await
            .unwrap();
        settings.max_connections = 1;
        let pool = loopdesk_storage::build_pool(&settings).unwrap();
        (test, pool)
    }

    /// How many statements with text `sql` the pool's session has prepared, and how
    /// many times they were planned for the values and with the one generic plan.
    pub(crate) async fn prepared(pool: &Pool, sql: &str) -> (i64, i64, i64) {
        #[derive(QueryableByName)]
        struct Prepared {
            #[diesel(sql_type = BigInt)]
            statements: i64,
            #[diesel(sql_type = BigInt)]
            custom: i64,
            #[diesel(sql_type = BigInt)]
            generic: i64,
        }
        let mut conn = loopdesk_storage::connection(pool).await.unwrap();
        let row: Prepared = diesel::sql_query(
            "SELECT count(*) AS statements,
                    coalesce(sum(custom_plans), 0)::bigint AS custom,
                    coalesce(sum(generic_plans), 0)::bigint AS generic
             FROM pg_prepared_statements WHERE statement = $1",
        )
        .bind::<diesel::sql_types::Text, _>(sql)
        .get_result(&mut conn)
        .await
        .unwrap();
        (row.statements, row.custom, row.generic)
    }

    fn settings(concurrency: usize) -> DispatchSettings {
        DispatchSettings {
            concurrency,
            per_endpoint: concurrency,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            disable_after: chrono::Duration::days(5),
        }
    }

    #[test]
    fn a_claim_waits_for_a_quarter_of_the_slots_but_never_past_the_poll_interval() {
        let settings = settings(64);
        let just_now = Some(Duration::from_millis(10));
        let a_while_ago = Some(Duration::from_millis(500));
        // One slot freed right after a claim: wait for more.
        assert!(!worth_claiming(&settings, 1, just_now));
        assert!(!worth_claiming(&settings, 15, just_now));
        assert!(worth_claiming(&settings, 16, just_now));
        // Nothing in flight: every slot is free.
        assert!(worth_claiming(&settings, 64, just_now));
        // A free slot is looked at within the poll interval, and at the start.
        assert!(worth_claiming(&settings, 1, a_while_ago));
        assert!(worth_claiming(&settings, 1, None));
        // No free slot: nothing to claim for.
        assert!(!worth_claiming(&settings, 0, a_while_ago));
        assert!(!worth_claiming(&settings, 0, None));
    }

    #[test]
    fn a_small_dispatcher_claims_for_any_free_slot() {
        for concurrency in 1..4 {
            let settings = settings(concurrency);
            assert!(worth_claiming(&settings, 1, Some(Duration::ZERO)));
        }
        assert!(!worth_claiming(&settings(8), 1, Some(Duration::ZERO)));
        assert!(worth_claiming(&settings(8), 2, Some(Duration::ZERO)));
    }
}
