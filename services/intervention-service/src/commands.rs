//! The command consumer: decodes each message, applies it once, answers the sender.

use std::sync::Arc;

use loopdesk_contracts::{
    Env, Scope, Tenant,
    interventions::{InterventionCommand, InterventionReply},
};
use loopdesk_messaging::{Delivery, Envelope, Handler, Outcome, Publisher, extract_parent};
use loopdesk_storage::{Pool, Relay};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    apply::ApplyError,
    definitions::{
        define,
        edit::{self, Edit},
        fields::FieldEdit,
    },
    flow,
    payloads::open::{self, OpenPayload},
    secrets::SecretBox,
    transit::TokenOpener,
};

/// Handles every message on the intervention service's command queue.
pub struct CommandHandler {
    pool: Pool,
    secrets: SecretBox,
    tokens: TokenOpener,
    publisher: Publisher,
    relay: Relay,
}

fn intervention(i: loopdesk_contracts::interventions::Intervention) -> InterventionReply {
    InterventionReply::Intervention {
        intervention: Box::new(i),
    }
}

impl CommandHandler {
    /// A handler writing through `pool` and answering through `publisher`; remote bearer
    /// tokens arrive sealed for `tokens` and are stored encrypted by `secrets`.
    pub fn new(
        pool: Pool,
        secrets: SecretBox,
        tokens: TokenOpener,
        publisher: Publisher,
        relay: Relay,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            secrets,
            tokens,
            publisher,
            relay,
        })
    }

    async fn apply(
        &self,
        scope: &Scope,
        envelope: &Envelope,
        command: InterventionCommand,
    ) -> Result<InterventionReply, ApplyError> {
        let (pool, secrets) = (&self.pool, &self.secrets);
        let edit = async |name: &str, change: Edit, actor| {
            edit::apply(pool, secrets, scope, envelope, name, change, actor)
                .await
                .map(intervention)
        };
        match command {
            // A token that does not open refuses the command before anything is written.
            InterventionCommand::Define { definition, actor } => {
                let definition = self.tokens.definition(definition)?;
                Ok(intervention(
                    define::apply(pool, secrets, scope, envelope, definition, actor).await?,
                ))
            }
            InterventionCommand::Update { name, patch, actor } => {
                let patch = self.tokens.patch(patch)?;
                edit(&name, Edit::Settings(patch), actor).await
            }
            InterventionCommand::ReplaceFields {
                name,
                fields,
                actor,
            } => edit(&name, Edit::Fields(FieldEdit::Replace(fields)), actor).await,
            InterventionCommand::AddField {
                name,
                field,
                ordinal,
                actor,
            } => {
                edit(
                    &name,
                    Edit::Fields(FieldEdit::Add { field, ordinal }),
                    actor,
                )
                .await
            }
            InterventionCommand::UpdateField {
                name,
                field_id,
                patch,
                actor,
            } => {
                let change = FieldEdit::Update {
                    id: field_id,
                    patch,
                };
                edit(&name, Edit::Fields(change), actor).await
            }
            InterventionCommand::RemoveField {
                name,
                field_id,
                actor,
            } => edit(&name, Edit::Fields(FieldEdit::Remove(field_id)), actor).await,
            InterventionCommand::ReorderFields {
                name,
                field_ids,
                actor,
            } => edit(&name, Edit::Fields(FieldEdit::Reorder(field_ids)), actor).await,
            InterventionCommand::PutTemplate {
                name,
                kind,
                body,
                actor,
            } => edit(&name, Edit::PutTemplate { kind, body }, actor).await,
            InterventionCommand::DeleteTemplate { name, kind, actor } => {
                edit(&name, Edit::DeleteTemplate(kind), actor).await
            }
            InterventionCommand::OpenPayload {
                id,
                ticket_id,
                intervention,
                uid,
                data,
                actor: _,
            } => {
                let payload = open::apply(
                    pool,
                    scope,
                    envelope,
                    OpenPayload {
                        id,
                        ticket_id,
                        intervention,
                        uid,
                        data,
                    },
                )
                .await?;
                Ok(InterventionReply::Payload {
                    payload: Box::new(payload),
                })
            }
            InterventionCommand::Create(command) => Ok(InterventionReply::Created(
                flow::create::apply(pool, scope, envelope, command).await?,
            )),
            InterventionCommand::Submit(command) => {
                let response_id = command.response_id;
                let payload = flow::submit::apply(pool, scope, envelope, command).await?;
                Ok(InterventionReply::Submitted {
                    payload: Box::new(payload),
                    response_id,
                })
            }
        }
    }

    async fn answer(&self, request: &Envelope, reply: &InterventionReply) {
        loopdesk_runtime::answer(&self.publisher, request, "intervention.reply", reply).await;
    }
}

#[async_trait::async_trait]
impl Handler for CommandHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let envelope = &delivery.envelope;
        let span = tracing::info_span!(
            "intervention_command",
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
            // Decode errors never echo the body: a sealed token is safe to show, but a
            // command from an older gateway could still hold one in plaintext.
            let command: InterventionCommand = match delivery.json() {
                Ok(command) => command,
                Err(e) => {
                    return Outcome::DeadLetter {
                        reason: format!(
                            "undecodable command body at line {} column {}",
                            e.line(),
                            e.column()
                        ),
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
                    self.answer(envelope, &InterventionReply::Rejected { error: *error })
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
