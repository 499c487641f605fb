//! Acting on the epilog dispatcher's outcomes (consumer `intervention-service.epilogs`,
//! bound to `epilog.#`), each once (inbox):
//!
//! - `epilog.completed` with a `final` (already checked by the dispatcher): the audit
//!   text is appended to the initiating response, the payload is accepted, and
//!   `{name}.final`, when it exists, is rendered with `{final: ...}` into a public reply;
//!   without a `final` nothing changes (only a `final` completes, seed §5.5);
//! - `epilog.failed`: a private note says which remote failed, how and how to retry;
//! - `epilog.final_rejected`: a private note gives the reason.

use std::sync::Arc;

use chrono::Utc;
use loopdesk_contracts::{
    Scope,
    epilogs::{EpilogOutcome, FinalReply, OutcomeDetail},
    interventions::TemplateKind,
};
use loopdesk_messaging::{Binding, ConsumerSpec, Delivery, Envelope, Handler, Outcome};
use loopdesk_storage::{Conn, Pool, Relay, claim};

use crate::{
    apply::ApplyError, definitions::store as definitions, flow::ticket_commands as commands,
    payloads::store as payloads, render,
};

/// Name of the consumer (its queue suffix and inbox name).
pub const CONSUMER: &str = "intervention-service.epilogs";

/// The consumer's queue and bindings.
pub fn spec(concurrency: usize) -> ConsumerSpec {
    ConsumerSpec {
        name: CONSUMER.to_owned(),
        bindings: vec![Binding::Event("epilog.#".to_owned())],
        prefetch: None,
        concurrency,
    }
}

/// Consumes epilog outcomes.
pub struct OutcomeHandler {
    pool: Pool,
    relay: Relay,
}

impl OutcomeHandler {
    /// A handler writing through `pool`, waking `relay` after each commit.
    pub fn new(pool: Pool, relay: Relay) -> Arc<Self> {
        Arc::new(Self { pool, relay })
    }
}

#[async_trait::async_trait]
impl Handler for OutcomeHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let outcome: EpilogOutcome = match delivery.json() {
            Ok(outcome) => outcome,
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("undecodable epilog outcome: {e}"),
                };
            }
        };
        match apply(&self.pool, &delivery.envelope, &outcome).await {
            Ok(()) => {
                self.relay.notify();
                Outcome::Ack
            }
            Err(e) => {
                tracing::warn!(error = %e, job = %outcome.job_id, "epilog outcome not applied");
                e.outcome()
            }
        }
    }
}

/// Applies `outcome` unless the message was already applied.
pub async fn apply(
    pool: &Pool,
    envelope: &Envelope,
    outcome: &EpilogOutcome,
) -> Result<(), ApplyError> {
    let scope = Scope {
        tenant: outcome.tenant.clone(),
        env: outcome.env,
    };
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, CONSUMER, &envelope.message_id).await? {
            return Ok(());
        }
        match &outcome.detail {
            OutcomeDetail::Completed {
                final_reply: Some(reply),
            } => complete(conn, &scope, envelope, outcome, reply).await,
            OutcomeDetail::Completed { final_reply: None } => Ok(()),
            OutcomeDetail::Failed { reason, attempts } => {
                let remote = remote_name(conn, &scope, &outcome.intervention).await?;
                let body = format!(
                    "The remote epilog of intervention {} ({remote}) failed after {attempts} attempt{}: {reason}. \
                     Staff can retry it with POST /v1/epilog_jobs/{}/retry.",
                    outcome.intervention,
                    if *attempts == 1 { "" } else { "s" },
                    outcome.job_id,
                );
                note(conn, &scope, envelope, outcome, body).await
            }
            OutcomeDetail::FinalRejected { reason } => {
                let body = format!(
                    "The final answer of the remote for intervention {} was rejected and changed nothing: {reason}.",
                    outcome.intervention
                );
                note(conn, &scope, envelope, outcome, body).await
            }
        }
    })
    .await
}

/// A `final`: audit, accept, and the final template.
async fn complete(
    conn: &mut Conn,
    scope: &Scope,
    cause: &Envelope,
    outcome: &EpilogOutcome,
    reply: &FinalReply,
) -> Result<(), ApplyError> {
    let payload = outcome.payload_id.to_string();
    if !payloads::accept(conn, scope, &payload, Utc::now()).await? {
        // Accepted by an earlier final: completing twice would post twice.
        tracing::info!(payload, "payload already accepted; final ignored");
        return Ok(());
    }
    commands::add_audit(
        conn,
        scope,
        outcome.ticket_id,
        outcome.response_id,
        reply.ticket_audit.clone(),
        cause,
    )
    .await?;
    let templates = definitions::templates(conn, scope, &outcome.intervention).await?;
    if let Some(template) = templates.iter().find(|t| t.kind == TemplateKind::Final) {
        let bag = serde_json::to_value(reply).map_err(ApplyError::failed)?;
        match render::render(TemplateKind::Final, &template.body, &bag) {
            Ok(body) => {
                let response = commands::system_response(true, body);
                commands::add_response(
                    conn,
                    scope,
                    outcome.ticket_id,
                    response,
                    commands::system_actor(),
                    cause,
                )
                .await?;
            }
            Err(e) => {
                let body = format!(
                    "The template {}.final could not be rendered: {e}",
                    outcome.intervention
                );
                note(conn, scope, cause, outcome, body).await?;
            }
        }
    }
    Ok(())
}

async fn note(
    conn: &mut Conn,
    scope: &Scope,
    cause: &Envelope,
    outcome: &EpilogOutcome,
    body: String,
) -> Result<(), ApplyError> {
    let response = commands::system_response(false, body);
    commands::add_response(
        conn,
        scope,
        outcome.ticket_id,
        response,
        commands::system_actor(),
        cause,
    )
    .await?;
    Ok(())
}

async fn remote_name(conn: &mut Conn, scope: &Scope, name: &str) -> Result<String, ApplyError> {
    let row = definitions::find_row(conn, scope, name, false).await?;
    Ok(row
        .and_then(|r| r.remote_name)
        .unwrap_or_else(|| "remote".to_owned()))
}
