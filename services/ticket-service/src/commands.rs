//! The command consumer: decodes each message, applies it once, answers the sender.

use std::sync::Arc;

use loopdesk_contracts::{
    Env, Scope, Tenant,
    commands::{TicketCommand, TicketReply},
};
use loopdesk_messaging::{Delivery, Envelope, Handler, Outcome, Publisher, extract_parent};
use loopdesk_storage::{Pool, Relay};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    apply::ApplyError,
    sla::policy,
    thread::{audit, respond},
    tickets::{create_batch::BatchedCreates, delete, transition, update},
};

fn ticket(ticket: loopdesk_contracts::tickets::Ticket) -> TicketReply {
    TicketReply::Ticket {
        ticket: Box::new(ticket),
    }
}

/// Handles every message on the ticket service's command queue.
pub struct CommandHandler {
    pool: Pool,
    publisher: Publisher,
    relay: Relay,
    creates: BatchedCreates,
}

impl CommandHandler {
    /// A handler writing through `pool` and answering through `publisher`; starts the
    /// batch writer of creates, so call it on the runtime.
    pub fn new(pool: Pool, publisher: Publisher, relay: Relay) -> Arc<Self> {
        Arc::new(Self {
            creates: BatchedCreates::start(pool.clone()),
            pool,
            publisher,
            relay,
        })
    }

    async fn apply(
        &self,
        scope: &Scope,
        envelope: &Envelope,
        command: TicketCommand,
    ) -> Result<TicketReply, ApplyError> {
        let pool = &self.pool;
        match command {
            TicketCommand::Create(c) => Ok(ticket(self.creates.apply(scope, envelope, c).await?)),
            TicketCommand::AddResponse(c) => Ok(TicketReply::Response {
                response: Box::new(respond::apply(pool, scope, envelope, c).await?),
            }),
            TicketCommand::Transition(c) => {
                Ok(ticket(transition::apply(pool, scope, envelope, c).await?))
            }
            TicketCommand::Update(c) => Ok(ticket(update::apply(pool, scope, envelope, c).await?)),
            TicketCommand::Delete(c) => Ok(ticket(delete::apply(pool, scope, envelope, c).await?)),
            TicketCommand::AddAudit(c) => Ok(TicketReply::Audit {
                entry: audit::apply(pool, scope, envelope, c).await?,
            }),
            TicketCommand::SetSlaPolicy(c) => Ok(TicketReply::SlaPolicy {
                policy: policy::apply(pool, scope, envelope, c).await?,
            }),
        }
    }

    async fn answer(&self, request: &Envelope, reply: &TicketReply) {
        loopdesk_runtime::answer(&self.publisher, request, "ticket.reply", reply).await;
    }
}

#[async_trait::async_trait]
impl Handler for CommandHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let span = tracing::info_span!(
            "ticket_command",
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
            let command: TicketCommand = match delivery.json() {
                Ok(command) => command,
                Err(e) => {
                    return Outcome::DeadLetter {
                        reason: format!("undecodable command body: {e}"),
                    };
                }
            };
            match self.apply(&scope, envelope, command).await {
                Ok(reply) => {
                    self.relay.notify();
                    self.answer(envelope, &reply).await;
                    Outcome::Ack
                }
                Err(ApplyError::Rejected(error)) => {
                    let error = *error;
                    self.answer(envelope, &TicketReply::Rejected { error })
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

fn scope_of(envelope: &Envelope) -> Option<Scope> {
    Some(Scope {
        tenant: Tenant::parse(envelope.tenant.clone()).ok()?,
        env: envelope.env.parse::<Env>().ok()?,
    })
}
