//! Successful attempts are recorded in batches: one statement for every success that
//! came in while the previous batch was being written (group commit). A success is the
//! common case by far, and the only one that needs no decision: the attempt row, the
//! delivery marked succeeded (only if this attempt still holds it) and the endpoint's
//! failure streak cleared. Failures take the one-by-one path in `record`.

use diesel::{
    sql_query,
    sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use loopdesk_storage::Pool;
use tokio::sync::{mpsc, oneshot};

use crate::dispatch::{AttemptReport, claim::Job};

/// Most successes written by one statement.
const MAX_BATCH: usize = 512;

/// The fence is the same as `record`'s: a delivery moves only when it is still pending at
/// this attempt. The attempt row is kept whenever its delivery still exists.
const RECORD_SUCCESSES: &str = "
WITH done AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::bigint[], $6::text[])
        AS u(delivery_id, attempt, attempted_at, status_code, latency_ms, excerpt)
), attempts AS (
    INSERT INTO delivery_attempts
        (delivery_id, attempted_at, succeeded, status_code, latency_ms, response_excerpt)
    SELECT u.delivery_id, u.attempted_at, true, u.status_code, u.latency_ms, u.excerpt
    FROM done u JOIN deliveries d ON d.id = u.delivery_id
), healthy AS (
    UPDATE endpoints e SET failing_since = NULL
    WHERE e.id IN (SELECT d.endpoint_id FROM deliveries d JOIN done u ON d.id = u.delivery_id)
      AND e.failing_since IS NOT NULL
)
UPDATE deliveries d
SET status = 'succeeded', next_attempt_at = NULL, locked_until = NULL, last_error = NULL,
    updated_at = now()
FROM done u
WHERE d.id = u.delivery_id AND d.status = 'pending' AND d.attempts = u.attempt";

/// A success waiting to be written, and who waits for it.
struct Pending {
    delivery_id: String,
    attempt: i32,
    report: AttemptReport,
    written: oneshot::Sender<bool>,
}

/// Hands successes to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Successes {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Successes {
    /// Starts the writer over `pool` (on the current runtime).
    pub fn start(pool: Pool) -> Self {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(pool, incoming));
        Self { queue }
    }

    /// Records the successful `report` of `job` with the others arriving meanwhile; true
    /// once it is committed, false when the batch failed (record it on its own then).
    pub async fn record(&self, job: &Job, report: &AttemptReport) -> bool {
        let (written, done) = oneshot::channel();
        let pending = Pending {
            delivery_id: job.delivery_id.clone(),
            attempt: job.attempt,
            report: report.clone(),
            written,
        };
        if self.queue.send(pending).is_err() {
            return false;
        }
        done.await.unwrap_or(false)
    }
}

async fn write_batches(pool: Pool, mut incoming: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while incoming.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let written = match write(&pool, &batch).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, successes = batch.len(), "could not record a batch of successes");
                false
            }
        };
        metrics::histogram!("webhook_success_batch_size").record(batch.len() as f64);
        for pending in batch.drain(..) {
            let _ = pending.written.send(written);
        }
    }
}

async fn write(pool: &Pool, batch: &[Pending]) -> diesel::QueryResult<()> {
    let mut conn = loopdesk_storage::connection(pool).await?;
    let ids: Vec<&str> = batch.iter().map(|p| p.delivery_id.as_str()).collect();
    let attempts: Vec<i32> = batch.iter().map(|p| p.attempt).collect();
    let at: Vec<_> = batch.iter().map(|p| p.report.attempted_at).collect();
    let status: Vec<Option<i32>> = batch
        .iter()
        .map(|p| p.report.status_code.map(i32::from))
        .collect();
    let latency: Vec<i64> = batch.iter().map(|p| p.report.latency_ms).collect();
    let excerpt: Vec<Option<&str>> = batch.iter().map(|p| p.report.excerpt.as_deref()).collect();
    sql_query(RECORD_SUCCESSES)
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Integer>, _>(attempts)
        .bind::<Array<Timestamptz>, _>(at)
        .bind::<Array<Nullable<Integer>>, _>(status)
        .bind::<Array<BigInt>, _>(latency)
        .bind::<Array<Nullable<Text>>, _>(excerpt)
        .execute(&mut conn)
        .await?;
    Ok(())
}
