//! The command consumer: decodes each message, applies it once, answers the sender.

use std::sync::Arc;

use loopdesk_contracts::{
    Env, Scope, Tenant,
    webhooks::{WebhookCommand, WebhookReply},
};
use loopdesk_messaging::{Delivery, Envelope, Handler, Outcome, Publisher, extract_parent};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{apply::ApplyError, deliveries, dispatch::Dispatcher, endpoints::apply, owner::Owner};

/// AMQP type of the replies.
pub const REPLY_KIND: &str = "webhook.reply";

/// Handles every message on webhook-fanout's command queue.
pub struct CommandHandler {
    owner: Owner,
    publisher: Publisher,
    dispatcher: Dispatcher,
}

impl CommandHandler {
    /// A handler applying commands as `owner`, answering through `publisher`, and
    /// waking `dispatcher` when deliveries were scheduled.
    pub fn new(owner: Owner, publisher: Publisher, dispatcher: Dispatcher) -> Arc<Self> {
        Arc::new(Self {
            owner,
            publisher,
            dispatcher,
        })
    }

    async fn apply(
        &self,
        scope: &Scope,
        envelope: &Envelope,
        command: WebhookCommand,
    ) -> Result<WebhookReply, ApplyError> {
        let owner = &self.owner;
        match command {
            WebhookCommand::Create { endpoint, .. } => {
                apply::create(owner, scope, envelope, endpoint).await
            }
            WebhookCommand::Update { id, patch, .. } => {
                apply::update(owner, scope, envelope, &id, patch).await
            }
            WebhookCommand::Delete { id, .. } => apply::delete(owner, scope, envelope, &id).await,
            WebhookCommand::RotateSecret { id, .. } => {
                apply::rotate_secret(owner, scope, envelope, &id).await
            }
            WebhookCommand::Recover {
                id, since, until, ..
            } => apply::recover(owner, scope, envelope, &id, since, until).await,
            WebhookCommand::Redeliver { id, .. } => {
                deliveries::redeliver(owner, scope, envelope, &id).await
            }
        }
    }

    async fn answer(&self, request: &Envelope, reply: &WebhookReply) {
        loopdesk_runtime::answer(&self.publisher, request, REPLY_KIND, reply).await;
    }
}

#[async_trait::async_trait]
impl Handler for CommandHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let span = tracing::info_span!(
            "webhook_command",
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
            let command: WebhookCommand = match delivery.json() {
                Ok(command) => command,
                Err(e) => {
                    return Outcome::DeadLetter {
                        reason: format!("undecodable command body: {e}"),
                    };
                }
            };
            match self.apply(&scope, envelope, command).await {
                Ok(reply) => {
                    if matches!(
                        reply,
                        WebhookReply::Recovering { .. } | WebhookReply::Delivery { .. }
                    ) {
                        self.dispatcher.notify();
                    }
                    self.answer(envelope, &reply).await;
                    Outcome::Ack
                }
                Err(ApplyError::Rejected(error)) => {
                    self.answer(envelope, &WebhookReply::Rejected { error: *error })
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

/// The scope a message's headers name.
pub fn scope_of(envelope: &Envelope) -> Option<Scope> {
    Some(Scope {
        tenant: Tenant::parse(envelope.tenant.clone()).ok()?,
        env: envelope.env.parse::<Env>().ok()?,
    })
}
