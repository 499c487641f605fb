//! How every mutation runs (DESIGN.md §4): under the request's Idempotency-Key, as one
//! command to the owning service, answered with the owner's reply, with its refusal, or
//! with 202 while the command is still queued. Handlers keep their validation and their
//! rendering; the rest is here.

use actix_web::{HttpResponse, http::StatusCode};
use loopdesk_contracts::{
    commands::{TicketCommand, TicketReply},
    epilogs::{EpilogCommand, EpilogReply, RETRY_EPILOG},
    ids::MessageId,
    interventions::{InterventionCommand, InterventionReply},
    webhooks::{WebhookCommand, WebhookReply},
};
use loopdesk_web::Problem;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
};

/// A command the gateway sends to the service that owns its resource.
pub trait Command: Serialize {
    /// What the owner answers.
    type Reply: DeserializeOwned;

    /// The command name: AMQP `type` and routing key.
    fn name(&self) -> &'static str;

    /// `reply`, or the owner's refusal (as its problem) when that is what it is.
    fn refusal(reply: Self::Reply) -> Result<Self::Reply, Problem>;
}

/// Every owner refuses with the `Rejected { error }` variant of its reply.
macro_rules! owned_command {
    ($command:ty, $reply:ident, $name:expr) => {
        impl Command for $command {
            type Reply = $reply;

            fn name(&self) -> &'static str {
                ($name)(self)
            }

            fn refusal(reply: $reply) -> Result<$reply, Problem> {
                match reply {
                    $reply::Rejected { error } => Err(error.into()),
                    reply => Ok(reply),
                }
            }
        }
    };
}

owned_command!(TicketCommand, TicketReply, TicketCommand::name);
owned_command!(
    InterventionCommand,
    InterventionReply,
    InterventionCommand::name
);
owned_command!(WebhookCommand, WebhookReply, WebhookCommand::name);
owned_command!(EpilogCommand, EpilogReply, |command: &EpilogCommand| {
    match command {
        EpilogCommand::Retry { .. } => RETRY_EPILOG,
    }
});

/// Sends the command `build` makes under the request's key, and answers with what
/// `render` makes of the owner's reply (`Sent::Queued` when the owner has not answered
/// within the deadline).
///
/// `proposed_id` is the id of the resource the write is about. `build` and `render` are
/// given the id the idempotency record holds: another attempt's, when this one takes over
/// a stalled attempt, so the owner gets the same command again.
///
/// `render` never sees a refusal. A refusal is answered with its problem and recorded, so
/// it replays; unless the owner is at fault (5xx, e.g. a sealed token it cannot open):
/// then nothing was applied, nothing is recorded, and the same key may retry once the
/// owner is fixed.
pub async fn send_command<C: Command>(
    state: &GatewayState,
    caller: &Caller,
    keyed: &KeyedRequest,
    proposed_id: String,
    build: impl FnOnce(&str) -> Result<C, Problem>,
    render: impl FnOnce(Sent<C::Reply>, &str) -> Answer,
) -> Result<HttpResponse, Problem> {
    let scope = caller.scope();
    state
        .idempotency
        .run(
            keyed,
            move || (proposed_id, MessageId::generate().to_string()),
            |claim| async move {
                let command = build(&claim.resource_id)?;
                let sent = state
                    .commands
                    .send(&scope, &claim.message_id, command.name(), &command)
                    .await?;
                let sent = match sent {
                    Sent::Answered(reply) => match C::refusal(reply) {
                        Ok(reply) => Sent::Answered(reply),
                        Err(problem) if problem.status().as_u16() >= 500 => return Err(problem),
                        Err(problem) => return Ok(Answer::problem(&problem)),
                    },
                    Sent::Queued => Sent::Queued,
                };
                Ok(render(sent, &claim.resource_id))
            },
        )
        .await
}

/// Body of a 202: the command is queued and will be applied once.
#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
    state: &'static str,
    detail: &'static str,
}

/// 202 for the resource `id`, saying what is queued in `detail`.
pub fn accepted(id: &str, detail: &'static str, location: Option<String>) -> Answer {
    Answer::json(
        StatusCode::ACCEPTED,
        &Accepted {
            id,
            state: "accepted",
            detail,
        },
        location,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use loopdesk_contracts::{
        Actor, ActorKind, DomainError,
        ids::{EpilogJobId, WebhookEndpointId},
    };

    use super::*;

    #[test]
    fn a_rejected_reply_is_the_owners_problem_and_any_other_reply_is_kept() {
        let error = DomainError::new(409, "ticket_closed", "Ticket closed", "it is closed");
        let refused = TicketCommand::refusal(TicketReply::Rejected { error }).unwrap_err();
        assert_eq!(refused.status(), StatusCode::CONFLICT);
        let error = DomainError::new(503, "remote_token_unreadable", "Unreadable", "keys");
        let refused = InterventionCommand::refusal(InterventionReply::Rejected { error });
        assert_eq!(
            refused.unwrap_err().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );

        let id = WebhookEndpointId::generate();
        let kept = WebhookCommand::refusal(WebhookReply::Deleted { id }).unwrap();
        assert_eq!(kept, WebhookReply::Deleted { id });
    }

    #[test]
    fn an_epilog_retry_goes_out_under_its_command_name() {
        let retry = EpilogCommand::Retry {
            job_id: EpilogJobId::generate(),
            actor: Actor {
                kind: ActorKind::ApiKey,
                id: "user:tester".to_owned(),
                key_id: None,
            },
        };
        assert_eq!(Command::name(&retry), "epilog.retry");
    }
}
