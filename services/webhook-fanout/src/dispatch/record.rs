//! Recording an attempt and deciding what follows, in one transaction: the attempt row,
//! the delivery's next state, and the endpoint's health (410 or continuous failure
//! disable it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_outbound::RetrySchedule;
use loopdesk_storage::{Conn, Pool};

use crate::{
    dispatch::{AttemptReport, claim::Job},
    endpoints::apply::kill_pending,
    schema::{deliveries, delivery_attempts, endpoints},
};

/// Counts the attempt by outcome, with its latency, for `/metrics`.
pub(crate) fn observe(report: &AttemptReport) {
    let outcome = if report.succeeded {
        "succeeded"
    } else if report.refused_reason.is_some() {
        "refused"
    } else if report.status_code.is_some() {
        "rejected"
    } else {
        "failed"
    };
    metrics::counter!("webhook_delivery_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("webhook_delivery_attempt_duration_seconds", "outcome" => outcome)
        .record(report.latency_ms as f64 / 1000.0);
}

/// Records `report` for `job`. Only the holder of the current attempt (the attempt
/// counter has not moved) changes the delivery; the attempt itself is always kept.
pub async fn record(
    pool: &Pool,
    job: &Job,
    report: &AttemptReport,
    schedule: &RetrySchedule,
    disable_after: chrono::Duration,
) -> QueryResult<()> {
    loopdesk_storage::transaction(pool, async |conn| {
        let current: Option<(String, i32)> = deliveries::table
            .find(&job.delivery_id)
            .select((deliveries::status, deliveries::attempts))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((status, attempts)) = current else {
            // Deleted with its endpoint meanwhile.
            return Ok(());
        };
        insert_attempt(conn, job, report).await?;
        if status != "pending" || attempts != job.attempt {
            return Ok(());
        }
        let now = Utc::now();
        if report.succeeded {
            finish(conn, job, "succeeded", None, now).await?;
            // Only a failing endpoint's row changes: successes must not all queue on
            // one endpoint row's lock.
            diesel::update(endpoints::table.find(&job.endpoint.id))
                .filter(endpoints::failing_since.is_not_null())
                .set(endpoints::failing_since.eq(None::<DateTime<Utc>>))
                .execute(conn)
                .await?;
            return Ok(());
        }
        let error = report
            .refused_reason
            .clone()
            .or_else(|| report.error.clone())
            .unwrap_or_else(|| "failed".to_owned());
        if report.gone() {
            finish(conn, job, "dead", Some(&error), now).await?;
            let reason = format!("the endpoint answered 410 Gone at {}", now.to_rfc3339());
            return disable(conn, &job.endpoint.id, &reason).await;
        }
        let made = u32::try_from(job.attempt).unwrap_or(u32::MAX);
        match schedule.after_failure(made, report.retry_after) {
            Some(delay) => {
                let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                diesel::update(deliveries::table.find(&job.delivery_id))
                    .set((
                        deliveries::next_attempt_at.eq(Some(next)),
                        deliveries::locked_until.eq(None::<DateTime<Utc>>),
                        deliveries::last_error.eq(&error),
                        deliveries::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
            None => finish(conn, job, "dead", Some(&error), now).await?,
        }
        let failing_since: Option<DateTime<Utc>> =
            diesel::update(endpoints::table.find(&job.endpoint.id))
                .set(endpoints::failing_since.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >(
                    "coalesce(failing_since, now())"
                )))
                .returning(endpoints::failing_since)
                .get_result(conn)
                .await?;
        if let Some(since) = failing_since
            && since <= now - disable_after
        {
            let reason = format!(
                "every attempt has failed since {}; re-enable the endpoint once it is fixed",
                since.to_rfc3339()
            );
            disable(conn, &job.endpoint.id, &reason).await?;
        }
        Ok(())
    })
    .await
}

async fn insert_attempt(conn: &mut Conn, job: &Job, report: &AttemptReport) -> QueryResult<()> {
    diesel::insert_into(delivery_attempts::table)
        .values((
            delivery_attempts::delivery_id.eq(&job.delivery_id),
            delivery_attempts::attempted_at.eq(report.attempted_at),
            delivery_attempts::succeeded.eq(report.succeeded),
            delivery_attempts::status_code.eq(report.status_code.map(i32::from)),
            delivery_attempts::latency_ms.eq(report.latency_ms),
            delivery_attempts::error.eq(&report.error),
            delivery_attempts::refused_reason.eq(&report.refused_reason),
            delivery_attempts::response_excerpt.eq(&report.excerpt),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn finish(
    conn: &mut Conn,
    job: &Job,
    status: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(deliveries::table.find(&job.delivery_id))
        .set((
            deliveries::status.eq(status),
            deliveries::next_attempt_at.eq(None::<DateTime<Utc>>),
            deliveries::locked_until.eq(None::<DateTime<Utc>>),
            deliveries::last_error.eq(error),
            deliveries::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

async fn disable(conn: &mut Conn, endpoint_id: &str, reason: &str) -> QueryResult<()> {
    diesel::update(endpoints::table.find(endpoint_id))
        .set((
            endpoints::enabled.eq(false),
            endpoints::disabled_reason.eq(reason),
            endpoints::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    kill_pending(conn, endpoint_id, "the endpoint was disabled").await?;
    Ok(())
}
