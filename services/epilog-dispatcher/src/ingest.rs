//! The submission consumer: every `intervention.submitted` becomes one epilog job (in
//! one transaction with the inbox record), `skipped` when the definition sends no
//! epilogs; then the dispatcher is woken.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    epilogs::{EpilogStatus, InterventionSubmitted},
    ids::EpilogJobId,
};
use loopdesk_messaging::{Delivery, Handler, Outcome};
use loopdesk_runtime::ApplyError;
use loopdesk_storage::{Pool, claim};

use crate::{dispatch::Dispatcher, schema::epilog_jobs};

/// Name of the submission consumer (its queue suffix and inbox name).
pub const SUBMISSION_CONSUMER: &str = "epilog-dispatcher.submissions";

/// Handles every message on the submission queue.
pub struct SubmissionHandler {
    pool: Pool,
    dispatcher: Dispatcher,
}

impl SubmissionHandler {
    /// A handler storing into `pool` and waking `dispatcher`.
    pub fn new(pool: Pool, dispatcher: Dispatcher) -> Arc<Self> {
        Arc::new(Self { pool, dispatcher })
    }
}

/// Stores the job for `submission` unless this message or this submission was seen
/// already; answers whether a pending job was created.
pub async fn ingest(
    pool: &Pool,
    message_id: &str,
    submission: &InterventionSubmitted,
    traceparent: Option<&str>,
) -> Result<bool, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, SUBMISSION_CONSUMER, message_id).await? {
            return Ok(false);
        }
        let remote = &submission.remote;
        let sends = remote.enabled && remote.epilog_url.as_deref().is_some_and(|u| !u.is_empty());
        let status = if sends {
            EpilogStatus::Pending
        } else {
            EpilogStatus::Skipped
        };
        let now = Utc::now();
        let inserted = diesel::insert_into(epilog_jobs::table)
            .values((
                epilog_jobs::id.eq(EpilogJobId::generate().to_string()),
                epilog_jobs::tenant.eq(submission.tenant.as_str()),
                epilog_jobs::env.eq(submission.env.as_str()),
                epilog_jobs::submission_id.eq(submission.id.to_string()),
                epilog_jobs::status.eq(status.as_str()),
                epilog_jobs::payload_id.eq(submission.payload_id.to_string()),
                epilog_jobs::ticket_id.eq(submission.ticket_id.to_string()),
                epilog_jobs::response_id.eq(submission.response_id.to_string()),
                epilog_jobs::intervention.eq(&submission.intervention),
                epilog_jobs::uid.eq(&submission.uid),
                epilog_jobs::action.eq(&submission.action),
                epilog_jobs::data.eq(&submission.data),
                epilog_jobs::epilog_url.eq(&remote.epilog_url),
                epilog_jobs::timeout_seconds
                    .eq(i32::try_from(remote.timeout_seconds).unwrap_or(i32::MAX)),
                epilog_jobs::traceparent.eq(traceparent),
                epilog_jobs::next_attempt_at.eq(sends.then_some(now)),
                epilog_jobs::created_at.eq(now),
                epilog_jobs::updated_at.eq(now),
            ))
            // The same submission under another message id: one job only.
            .on_conflict(epilog_jobs::submission_id)
            .do_nothing()
            .execute(conn)
            .await?;
        Ok(inserted > 0 && sends)
    })
    .await
}

#[async_trait::async_trait]
impl Handler for SubmissionHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let submission: InterventionSubmitted = match delivery.json() {
            Ok(submission) => submission,
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("undecodable submission: {e}"),
                };
            }
        };
        match ingest(
            &self.pool,
            &envelope.message_id,
            &submission,
            envelope.traceparent.as_deref(),
        )
        .await
        {
            Ok(created) => {
                if created {
                    self.dispatcher.notify();
                }
                tracing::debug!(submission = %submission.id, created, "submission stored");
                Outcome::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, submission = %submission.id, "submission not stored");
                e.outcome()
            }
        }
    }
}
