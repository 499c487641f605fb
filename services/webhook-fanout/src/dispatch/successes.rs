//! Successful attempts are recorded in batches: one statement for every success that
//! came in while the previous batch was being written (group commit). A success is the
//! common case by far, and the only one that needs no decision: the attempt row, the
//! delivery marked succeeded (only if this attempt still holds it) and the endpoint's
//! failure streak cleared. Failures take the one-by-one path in `record`.

use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;
use loopdesk_storage::{GroupCommit, SessionPool, cached_sql_query};

use crate::dispatch::{AttemptReport, claim::Job};

/// Most successes written by one statement.
const MAX_BATCH: usize = 512;

/// The fence is the same as `record`'s: a delivery moves only when it is still pending at
/// this attempt. The attempt row is kept whenever its delivery still exists, which the
/// lock makes last: a delete of the delivery (see `cascade`) waits for this statement,
/// or this statement finds it gone. The update goes through `kept` so that every row is
/// locked before it is updated (a row this statement has updated can no longer be
/// locked by it, and would lose its attempt). Each connection prepares it once and plans
/// it for every batch, by index only (see `PLANNING`): the generic plan PostgreSQL would
/// settle on while the tables are empty scans `deliveries` whole (14 ms for a batch of 14
/// once it holds 30,000 rows).
const RECORD_SUCCESSES: &str = "
WITH done AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::bigint[], $6::text[])
        AS u(delivery_id, attempt, attempted_at, status_code, latency_ms, excerpt)
), kept AS (
    SELECT d.id, d.endpoint_id FROM deliveries d
    WHERE d.id IN (SELECT delivery_id FROM done)
    FOR KEY SHARE OF d
), attempts AS (
    INSERT INTO delivery_attempts
        (delivery_id, attempted_at, succeeded, status_code, latency_ms, response_excerpt)
    SELECT u.delivery_id, u.attempted_at, true, u.status_code, u.latency_ms, u.excerpt
    FROM done u JOIN kept k ON k.id = u.delivery_id
), healthy AS (
    UPDATE endpoints e SET failing_since = NULL
    WHERE e.id IN (SELECT endpoint_id FROM kept)
      AND e.failing_since IS NOT NULL
)
UPDATE deliveries d
SET status = 'succeeded', next_attempt_at = NULL, locked_until = NULL, last_error = NULL,
    updated_at = now()
FROM done u JOIN kept k ON k.id = u.delivery_id
WHERE d.id = k.id AND d.status = 'pending' AND d.attempts = u.attempt";

/// A successful attempt to record.
struct Success {
    delivery_id: String,
    attempt: i32,
    report: AttemptReport,
}

/// Hands successes to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Successes {
    batches: GroupCommit<Success, bool>,
}

impl Successes {
    /// Starts the writer over `pool` (on the current runtime).
    pub fn start(pool: SessionPool) -> Self {
        let batches = GroupCommit::start(
            "webhook-fanout.successes",
            MAX_BATCH,
            move |batch: Vec<Success>| {
                let pool = pool.clone();
                async move {
                    let written = match write(&pool, &batch).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, successes = batch.len(), "could not record a batch of successes");
                            false
                        }
                    };
                    vec![written; batch.len()]
                }
            },
        );
        Self { batches }
    }

    /// Records the successful `report` of `job` with the others arriving meanwhile; true
    /// once it is committed, false when the batch failed (record it on its own then).
    pub async fn record(&self, job: &Job, report: &AttemptReport) -> bool {
        let success = Success {
            delivery_id: job.delivery_id.clone(),
            attempt: job.attempt,
            report: report.clone(),
        };
        self.batches.submit(success).await.unwrap_or(false)
    }
}

async fn write(pool: &SessionPool, batch: &[Success]) -> diesel::QueryResult<()> {
    let mut conn = pool.connection().await?;
    let ids: Vec<&str> = batch.iter().map(|p| p.delivery_id.as_str()).collect();
    let attempts: Vec<i32> = batch.iter().map(|p| p.attempt).collect();
    let at: Vec<_> = batch.iter().map(|p| p.report.attempted_at).collect();
    let status: Vec<Option<i32>> = batch
        .iter()
        .map(|p| p.report.status_code.map(i32::from))
        .collect();
    let latency: Vec<i64> = batch.iter().map(|p| p.report.latency_ms).collect();
    let excerpt: Vec<Option<&str>> = batch.iter().map(|p| p.report.excerpt.as_deref()).collect();
    cached_sql_query(RECORD_SUCCESSES)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel_async::SimpleAsyncConnection;

    use super::*;
    use crate::{
        dispatch::{
            PLANNING,
            tests::{one_connection, prepared},
        },
        testing::{
            add_endpoint, begin_endpoint_delete, commit, count, dangling, database,
            someone_waits_for_a_lock,
        },
    };

    fn success(delivery_id: &str, attempt: i32) -> Success {
        Success {
            delivery_id: delivery_id.to_owned(),
            attempt,
            report: AttemptReport {
                attempted_at: chrono::Utc::now(),
                succeeded: true,
                status_code: Some(200),
                latency_ms: 12,
                error: None,
                refused_reason: None,
                excerpt: Some("ok".to_owned()),
                retry_after: None,
            },
        }
    }

    /// One event and its delivery per `(delivery id, endpoint, status, attempts)`.
    async fn add_deliveries(pool: &loopdesk_storage::Pool, rows: &[(&str, &str, &str, i32)]) {
        let mut conn = loopdesk_storage::connection(pool).await.unwrap();
        let mut statements = String::new();
        for (id, endpoint, status, attempts) in rows {
            statements.push_str(&format!(
                "INSERT INTO events (id, tenant, env, type, sequence, created_at, body)
                 VALUES ('evt_of_{id}', 'acme', 'test', 'ticket.created', 1, now(), '{{}}');
                 INSERT INTO deliveries
                     (id, endpoint_id, event_id, tenant, env, event_type, status, attempts,
                      created_at, updated_at)
                 VALUES ('{id}', '{endpoint}', 'evt_of_{id}', 'acme', 'test', 'ticket.created',
                         '{status}', {attempts}, now(), now());"
            ));
        }
        conn.batch_execute(&statements).await.unwrap();
    }

    #[tokio::test]
    async fn successes_are_kept_and_move_only_the_deliveries_they_still_hold() {
        let (test, pool) = database().await;
        add_endpoint(&pool, "whe_1", "acme", "test", &["ticket.*"], true).await;
        let mut conn = loopdesk_storage::connection(&pool).await.unwrap();
        conn.batch_execute("UPDATE endpoints SET failing_since = now()")
            .await
            .unwrap();
        drop(conn);
        add_deliveries(
            &pool,
            &[
                ("dlv_held", "whe_1", "pending", 2),
                ("dlv_overtaken", "whe_1", "pending", 3),
                ("dlv_done", "whe_1", "succeeded", 1),
            ],
        )
        .await;
        let batch = [
            success("dlv_held", 2),
            success("dlv_overtaken", 2),
            success("dlv_done", 1),
        ];
        write(&SessionPool::new(pool.clone(), PLANNING), &batch)
            .await
            .unwrap();
        // Every attempt is kept; only the one still holding its delivery moves it.
        assert_eq!(count(&pool, "delivery_attempts WHERE succeeded").await, 3);
        assert_eq!(
            count(&pool, "deliveries WHERE status = 'succeeded'").await,
            2
        );
        assert_eq!(
            count(
                &pool,
                "deliveries WHERE id = 'dlv_overtaken' AND status = 'pending'"
            )
            .await,
            1
        );
        assert_eq!(
            count(&pool, "endpoints WHERE failing_since IS NULL").await,
            1
        );
        pool.close();
        test.drop_database().await;
    }

    #[tokio::test]
    async fn a_success_racing_the_delete_of_its_delivery_leaves_no_attempt_behind() {
        let (test, pool) = database().await;
        add_endpoint(&pool, "whe_doomed", "acme", "test", &["ticket.*"], true).await;
        add_deliveries(&pool, &[("dlv_1", "whe_doomed", "pending", 1)]).await;
        assert_eq!(count(&pool, "deliveries").await, 1);
        // The endpoint and its deliveries are being deleted, not yet committed.
        let deleting = begin_endpoint_delete(&pool, "whe_doomed").await;

        let success = success("dlv_1", 1);
        let recording = tokio::spawn({
            let pool = pool.clone();
            async move { write(&SessionPool::new(pool, PLANNING), &[success]).await }
        });
        someone_waits_for_a_lock(&pool).await;
        commit(deleting).await;
        recording.await.unwrap().unwrap();
        assert_eq!(count(&pool, "delivery_attempts").await, 0);
        assert_eq!(dangling(&pool).await, 0);
        pool.close();
        test.drop_database().await;
    }

    #[tokio::test]
    async fn the_batch_statement_is_prepared_once_per_connection_and_planned_for_each_batch() {
        let (test, pool) = one_connection().await;
        let planned = SessionPool::new(pool.clone(), PLANNING);
        add_endpoint(&pool, "whe_1", "acme", "test", &["ticket.*"], true).await;
        let ids: Vec<String> = (0..7).map(|i| format!("dlv_{i}")).collect();
        let rows: Vec<_> = ids
            .iter()
            .map(|id| (id.as_str(), "whe_1", "pending", 1))
            .collect();
        add_deliveries(&pool, &rows).await;
        for id in &ids {
            write(&planned, &[success(id, 1)]).await.unwrap();
        }
        assert_eq!(
            count(&pool, "deliveries WHERE status = 'succeeded'").await,
            7
        );
        assert_eq!(prepared(&pool, RECORD_SUCCESSES).await, (1, 7, 0));
        pool.close();
        test.drop_database().await;
    }
}
