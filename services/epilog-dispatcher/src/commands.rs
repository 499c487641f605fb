//! The command consumer: `epilog.retry` puts a failed or rejected job back on the
//! schedule (a fresh round; the attempt counter continues), once per message.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Env, Scope, Tenant,
    epilogs::{EpilogCommand, EpilogReply, EpilogStatus},
    ids::EpilogJobId,
};
use loopdesk_messaging::{Delivery, Envelope, Handler, Outcome, Publisher, extract_parent};
use loopdesk_runtime::ApplyError;
use loopdesk_storage::{Pool, claim};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{dispatch::Dispatcher, schema::epilog_jobs, store};

/// Name of the command consumer (its queue suffix and inbox name).
pub const COMMAND_CONSUMER: &str = "epilog-dispatcher.commands";
/// AMQP type of the replies.
pub const REPLY_KIND: &str = "epilog.reply";

/// Handles every message on the command queue.
pub struct CommandHandler {
    pool: Pool,
    publisher: Publisher,
    dispatcher: Dispatcher,
}

impl CommandHandler {
    /// A handler changing jobs in `pool`, answering through `publisher`, waking
    /// `dispatcher` when a job is due again.
    pub fn new(pool: Pool, publisher: Publisher, dispatcher: Dispatcher) -> Arc<Self> {
        Arc::new(Self {
            pool,
            publisher,
            dispatcher,
        })
    }
}

/// Schedules job `id` again now, if it failed or was rejected.
pub async fn retry(
    pool: &Pool,
    scope: &Scope,
    message_id: &str,
    id: &EpilogJobId,
) -> Result<EpilogReply, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        let first = claim(conn, COMMAND_CONSUMER, message_id).await?;
        let row = store::find(conn, scope, id)
            .await?
            .ok_or_else(|| ApplyError::not_found("epilog job"))?;
        if first {
            let status = EpilogStatus::parse(&row.status);
            if !matches!(status, Some(EpilogStatus::Failed | EpilogStatus::Rejected)) {
                return Err(ApplyError::conflict(
                    "epilog_job_not_retryable",
                    "The epilog job cannot be retried",
                    format!(
                        "only failed or rejected jobs can be retried; this one is {}",
                        row.status
                    ),
                ));
            }
            let now = Utc::now();
            // Only a job still in the state we read changes: a concurrent retry wins once.
            diesel::update(
                epilog_jobs::table
                    .find(&row.id)
                    .filter(epilog_jobs::status.eq(&row.status)),
            )
            .set((
                epilog_jobs::status.eq(EpilogStatus::Pending.as_str()),
                epilog_jobs::next_attempt_at.eq(Some(now)),
                epilog_jobs::locked_until.eq(None::<DateTime<Utc>>),
                epilog_jobs::round_start.eq(epilog_jobs::attempts),
                epilog_jobs::rejection.eq(None::<String>),
                epilog_jobs::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        }
        let row = store::find(conn, scope, id)
            .await?
            .ok_or_else(|| ApplyError::not_found("epilog job"))?;
        let job = row.to_job()?;
        Ok(EpilogReply::Job { job: Box::new(job) })
    })
    .await
}

#[async_trait::async_trait]
impl Handler for CommandHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let span = tracing::info_span!(
            "epilog_command",
            kind = %envelope.kind,
            message_id = %envelope.message_id,
            attempt = delivery.attempt,
        );
        let _ = span.set_parent(extract_parent(envelope));
        async {
            let Some(scope) = scope_of(envelope) else {
                return Outcome::DeadLetter {
                    reason: "missing or invalid tenant/env headers".to_owned(),
                };
            };
            let command: EpilogCommand = match delivery.json() {
                Ok(command) => command,
                Err(e) => {
                    return Outcome::DeadLetter {
                        reason: format!("undecodable command body: {e}"),
                    };
                }
            };
            let EpilogCommand::Retry { job_id, .. } = command;
            match retry(&self.pool, &scope, &envelope.message_id, &job_id).await {
                Ok(reply) => {
                    self.dispatcher.notify();
                    self.answer(envelope, &reply).await;
                    Outcome::Ack
                }
                Err(ApplyError::Rejected(error)) => {
                    self.answer(envelope, &EpilogReply::Rejected { error: *error })
                        .await;
                    Outcome::Ack
                }
                Err(e) => {
                    tracing::warn!(error = %e, "command not applied");
                    e.outcome()
                }
            }
        }
        .instrument(span)
        .await
    }
}

impl CommandHandler {
    async fn answer(&self, request: &Envelope, reply: &EpilogReply) {
        loopdesk_runtime::answer(&self.publisher, request, REPLY_KIND, reply).await;
    }
}

fn scope_of(envelope: &Envelope) -> Option<Scope> {
    Some(Scope {
        tenant: Tenant::parse(envelope.tenant.clone()).ok()?,
        env: envelope.env.parse::<Env>().ok()?,
    })
}
