//! The outbox relay: publishes committed outbox rows to the broker, then deletes them.

use std::{sync::Arc, time::Duration};

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Nullable},
};
use diesel_async::RunQueryDsl;
use loopdesk_messaging::{PublishError, Publisher};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Pool, StorageError, is_unavailable, relay_pass::publish_batch};

/// How the relay paces itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RelaySettings {
    /// Rows published per pass (and per transaction).
    pub batch_size: i64,
    /// How long an idle relay waits before looking again when nobody calls [`Relay::notify`].
    pub poll_interval_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 200,
            poll_interval_ms: 250,
        }
    }
}

/// Why a relay pass published nothing; the rows stay in the outbox for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or deleting outbox rows failed.
    #[error("outbox database error: {0}")]
    Database(#[from] diesel::result::Error),
    /// The broker did not confirm the batch.
    #[error("publishing outbox messages failed: {0}")]
    Publish(#[from] PublishError),
}

impl RelayError {
    /// True when the database or the broker is unreachable (back off and retry).
    pub fn is_unavailable(&self) -> bool {
        match self {
            RelayError::Database(err) => is_unavailable(err),
            RelayError::Publish(err) => err.is_unavailable(),
        }
    }
}

/// Publishes the outbox of one service. Cheap to clone; clones share the wake-up signal.
/// Several relays (in one process or many) may run over the same outbox.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    publisher: Publisher,
    settings: RelaySettings,
    wake: Notify,
}

/// Backoff while the broker or database is down: from the first to the cap, doubling.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often the backlog gauges are refreshed.
const LAG_REPORT_EVERY: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Relay {
    /// A relay over the outbox reachable through `pool`, publishing with `publisher`.
    pub fn new(pool: Pool, publisher: Publisher, settings: RelaySettings) -> Relay {
        Relay {
            inner: Arc::new(Inner {
                pool,
                publisher,
                settings,
                wake: Notify::new(),
            }),
        }
    }

    /// Wakes the relay now (call after committing a transaction that enqueued) instead of
    /// waiting for the poll interval. A wake-up while a pass runs is kept for after it.
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// One pass: in a transaction, locks the oldest rows (`FOR UPDATE SKIP LOCKED`, so
    /// concurrent relays take disjoint rows), publishes them with confirms, deletes them and
    /// commits. A crash between confirm and commit publishes again (at-least-once; consumers
    /// dedupe by message id). When the broker is unreachable or nacks, the transaction rolls
    /// back and the rows stay. Returns how many rows were published (and removed).
    ///
    /// Unroutable messages: an event no queue is bound for, or a reply whose requester is
    /// gone, is removed (nobody can receive it); a command whose owner has no queue yet
    /// stops the pass (error) after committing the rows before it; a message the broker
    /// refuses as invalid stays in the outbox, logged, without blocking the others.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        let inner = &*self.inner;
        let pass = crate::transaction(&inner.pool, async |conn| {
            publish_batch(conn, &inner.publisher, inner.settings.batch_size).await
        })
        .await?;
        // What was published before a failure is committed, so it is not published again.
        match pass.stopped_by {
            Some(err) => Err(err),
            None => Ok(pass.published),
        }
    }

    /// Sets the `outbox_backlog` and `outbox_oldest_age_seconds` gauges.
    async fn report_lag(&self) {
        if let Ok((rows, oldest)) = self.backlog().await {
            metrics::gauge!("outbox_backlog").set(rows as f64);
            let age = oldest.map_or(0.0, |d| d.num_milliseconds() as f64 / 1000.0);
            metrics::gauge!("outbox_oldest_age_seconds").set(age);
        }
    }

    /// Runs passes until `shutdown` is cancelled: straight again while batches come back
    /// full, otherwise after [`Relay::notify`] or the poll interval; backs off (doubling,
    /// capped) while the broker or database fails. A pass in flight is finished, not dropped.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.inner.settings.poll_interval_ms);
        let full_batch = usize::try_from(self.inner.settings.batch_size).unwrap_or(usize::MAX);
        let mut backoff = FIRST_BACKOFF;
        let mut last_report: Option<std::time::Instant> = None;
        while !shutdown.is_cancelled() {
            if last_report.is_none_or(|at| at.elapsed() >= LAG_REPORT_EVERY) {
                last_report = Some(std::time::Instant::now());
                self.report_lag().await;
            }
            match self.relay_once().await {
                Ok(published) => {
                    backoff = FIRST_BACKOFF;
                    metrics::counter!("outbox_published_total").increment(published as u64);
                    if published > 0 && published >= full_batch {
                        continue;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = self.inner.wake.notified() => {}
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in_ms = backoff.as_millis(), "outbox relay pass failed");
                    // Wake-ups are ignored here: a burst of commits must not defeat the backoff.
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Rows waiting and the age of the oldest one (outbox lag, for metrics).
    pub async fn backlog(&self) -> Result<(i64, Option<chrono::Duration>), StorageError> {
        let mut conn = crate::connection(&self.inner.pool).await?;
        // Ages are computed by the database clock, the one that stamped `created_at`.
        let backlog: Backlog = diesel::sql_query(
            "SELECT count(*) AS waiting, \
             (extract(epoch FROM now() - min(created_at)) * 1000)::bigint AS oldest_ms \
             FROM outbox",
        )
        .get_result(&mut conn)
        .await?;
        let age = backlog
            .oldest_ms
            .map(|ms| chrono::Duration::milliseconds(ms.max(0)));
        Ok((backlog.waiting, age))
    }
}

#[derive(QueryableByName)]
struct Backlog {
    #[diesel(sql_type = BigInt)]
    waiting: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest_ms: Option<i64>,
}
