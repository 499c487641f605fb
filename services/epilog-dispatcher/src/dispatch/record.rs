//! Recording an attempt and deciding what follows, in one transaction: the attempt row,
//! the job's next state and, when the job is settled, its `epilog.*` event.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::epilogs::{EpilogStatus, OutcomeDetail};
use loopdesk_outbound::{RetrySchedule, truncate_text};
use loopdesk_storage::{Conn, Pool};

use crate::{
    dispatch::{
        classify::{Answer, Verdict},
        send::AttemptReport,
    },
    events,
    schema::{epilog_attempts, epilog_jobs},
    store::{JobRow, StoreError},
};

/// Counts the attempt by outcome, with its latency, for `/metrics`.
fn observe(report: &AttemptReport, verdict: &Verdict) {
    let outcome = match (verdict, &report.answer) {
        (Verdict::Succeeded(_), _) => "succeeded",
        (Verdict::Rejected(_), _) => "rejected",
        (_, Answer::Refused(_)) => "refused",
        (Verdict::Retry { .. }, _) => "retry",
        (Verdict::Failed(_), _) => "failed",
    };
    metrics::counter!("epilog_attempts_total", "outcome" => outcome).increment(1);
    metrics::histogram!("epilog_attempt_duration_seconds", "outcome" => outcome)
        .record(report.latency_ms as f64 / 1000.0);
}

/// Records `report` for `job` (claimed at attempt `job.attempts`). Only the holder of
/// the current attempt changes the job; the attempt itself is always kept. Answers
/// whether an event was enqueued (the relay should be woken).
pub async fn record(
    pool: &Pool,
    job: &JobRow,
    report: &AttemptReport,
    verdict: &Verdict,
    schedule: &RetrySchedule,
) -> Result<bool, StoreError> {
    observe(report, verdict);
    loopdesk_storage::transaction(pool, async |conn| {
        let current: Option<(String, i32)> = epilog_jobs::table
            .find(&job.id)
            .select((epilog_jobs::status, epilog_jobs::attempts))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some((status, attempts)) = current else {
            return Ok(false);
        };
        insert_attempt(conn, job, report, verdict).await?;
        if status != EpilogStatus::Pending.as_str() || attempts != job.attempts {
            return Ok(false);
        }
        let now = Utc::now();
        let made = u32::try_from(job.attempts).unwrap_or(u32::MAX);
        let detail = match verdict {
            Verdict::Succeeded(final_reply) => {
                let stored = final_reply
                    .as_ref()
                    .and_then(|f| serde_json::to_value(f).ok());
                diesel::update(epilog_jobs::table.find(&job.id))
                    .set((
                        settle(EpilogStatus::Succeeded, now),
                        epilog_jobs::last_error.eq(None::<String>),
                        epilog_jobs::final_reply.eq(stored),
                    ))
                    .execute(conn)
                    .await?;
                OutcomeDetail::Completed {
                    final_reply: final_reply.clone(),
                }
            }
            Verdict::Rejected(reason) => {
                diesel::update(epilog_jobs::table.find(&job.id))
                    .set((
                        settle(EpilogStatus::Rejected, now),
                        epilog_jobs::rejection.eq(reason),
                    ))
                    .execute(conn)
                    .await?;
                OutcomeDetail::FinalRejected {
                    reason: reason.clone(),
                }
            }
            Verdict::Failed(reason) => fail(conn, job, reason.clone(), made, now).await?,
            Verdict::Retry { error, retry_after } => {
                let in_round = u32::try_from(job.attempts - job.round_start).unwrap_or(u32::MAX);
                match schedule.after_failure(in_round, *retry_after) {
                    Some(delay) => {
                        let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                        diesel::update(epilog_jobs::table.find(&job.id))
                            .set((
                                epilog_jobs::next_attempt_at.eq(Some(next)),
                                epilog_jobs::locked_until.eq(None::<DateTime<Utc>>),
                                epilog_jobs::last_error.eq(error),
                                epilog_jobs::updated_at.eq(now),
                            ))
                            .execute(conn)
                            .await?;
                        return Ok(false);
                    }
                    None => {
                        let reason = format!("gave up after {made} attempts; the last: {error}");
                        fail(conn, job, reason, made, now).await?
                    }
                }
            }
        };
        events::record(conn, job, detail).await?;
        Ok(true)
    })
    .await
}

/// The columns every settled job sets.
#[allow(clippy::type_complexity)]
fn settle(
    status: EpilogStatus,
    now: DateTime<Utc>,
) -> (
    diesel::dsl::Eq<epilog_jobs::status, &'static str>,
    diesel::dsl::Eq<epilog_jobs::next_attempt_at, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<epilog_jobs::locked_until, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<epilog_jobs::updated_at, DateTime<Utc>>,
) {
    (
        epilog_jobs::status.eq(status.as_str()),
        epilog_jobs::next_attempt_at.eq(None),
        epilog_jobs::locked_until.eq(None),
        epilog_jobs::updated_at.eq(now),
    )
}

async fn fail(
    conn: &mut Conn,
    job: &JobRow,
    reason: String,
    attempts: u32,
    now: DateTime<Utc>,
) -> Result<OutcomeDetail, StoreError> {
    diesel::update(epilog_jobs::table.find(&job.id))
        .set((
            settle(EpilogStatus::Failed, now),
            epilog_jobs::last_error.eq(&reason),
        ))
        .execute(conn)
        .await?;
    Ok(OutcomeDetail::Failed { reason, attempts })
}

async fn insert_attempt(
    conn: &mut Conn,
    job: &JobRow,
    report: &AttemptReport,
    verdict: &Verdict,
) -> QueryResult<()> {
    let (status_code, refused, excerpt) = match &report.answer {
        Answer::Answered { status, body, .. } => (
            Some(i32::from(*status)),
            None,
            (!body.is_empty()).then(|| truncate_text(body)),
        ),
        Answer::Refused(reason) => (None, Some(reason.clone()), None),
        Answer::NotSent(_) | Answer::Failed(_) => (None, None, None),
    };
    // A refusal is its own column; the error column holds everything else.
    let error = match &report.answer {
        Answer::Refused(_) => None,
        _ => verdict.error().map(str::to_owned),
    };
    diesel::insert_into(epilog_attempts::table)
        .values((
            epilog_attempts::job_id.eq(&job.id),
            epilog_attempts::attempted_at.eq(report.attempted_at),
            epilog_attempts::status_code.eq(status_code),
            epilog_attempts::latency_ms.eq(report.latency_ms),
            epilog_attempts::error.eq(error),
            epilog_attempts::refused_reason.eq(refused),
            epilog_attempts::response_excerpt.eq(excerpt),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
