//! Ticket commands sent through the outbox: they reach the ticket service exactly when
//! the change that causes them commits. Each gets its own message id, stored with it,
//! so the ticket service's inbox applies it once however often the relay publishes it.

use loopdesk_contracts::{
    Actor, ActorKind, Scope,
    commands::{AddAudit, AddResponse, TicketCommand, TransitionTicket},
    ids::{MessageId, ResponseId, TicketId},
    responses::{Author, AuthorKind, NewResponse, ResponseKind},
    tickets::Status,
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Conn, enqueue};

/// The id this service acts under on tickets.
pub const SYSTEM_ID: &str = "intervention-service";

/// This service as an actor.
pub fn system_actor() -> Actor {
    Actor {
        kind: ActorKind::System,
        id: SYSTEM_ID.to_owned(),
        key_id: None,
    }
}

/// A response written by this service: public replies and private notes.
pub fn system_response(public: bool, body: String) -> NewResponse {
    NewResponse {
        id: ResponseId::generate(),
        kind: if public {
            ResponseKind::Reply
        } else {
            ResponseKind::Note
        },
        author: Author {
            kind: AuthorKind::System,
            id: SYSTEM_ID.to_owned(),
            name: Some("Interventions".to_owned()),
        },
        body,
        attachments: Vec::new(),
    }
}

/// A fresh response id ordered after `previous`: threads are read in id order, and two
/// ids from the same millisecond are otherwise in random order.
pub fn id_after(previous: ResponseId) -> ResponseId {
    let fresh = ResponseId::generate();
    if fresh > previous {
        return fresh;
    }
    previous
        .ulid()
        .increment()
        .and_then(|next| format!("{}_{next}", ResponseId::PREFIX).parse().ok())
        .unwrap_or(fresh)
}

/// Enqueues `command` for the ticket service, caused by the message `cause`.
pub async fn send(
    conn: &mut Conn,
    scope: &Scope,
    command: &TicketCommand,
    cause: &Envelope,
) -> diesel::QueryResult<()> {
    let name = command.name();
    let mut envelope = Envelope::new(name, scope.tenant.as_str(), scope.env.as_str());
    envelope.message_id = MessageId::generate().to_string();
    envelope.correlation_id = Some(cause.message_id.clone());
    envelope.traceparent = cause.traceparent.clone();
    envelope.tracestate = cause.tracestate.clone();
    let message = OutgoingMessage {
        route: Route::Command(name.to_owned()),
        envelope,
        // Serializing our own plain data type cannot fail.
        body: serde_json::to_vec(command).unwrap_or_default(),
    };
    enqueue(conn, &message).await
}

/// Enqueues `ticket.add_response`.
pub async fn add_response(
    conn: &mut Conn,
    scope: &Scope,
    ticket_id: TicketId,
    response: NewResponse,
    actor: Actor,
    cause: &Envelope,
) -> diesel::QueryResult<()> {
    let command = TicketCommand::AddResponse(AddResponse {
        ticket_id,
        response,
        actor,
    });
    send(conn, scope, &command, cause).await
}

/// Enqueues `ticket.transition` to `open` (a resend reopens a solved ticket).
pub async fn reopen(
    conn: &mut Conn,
    scope: &Scope,
    ticket_id: TicketId,
    cause: &Envelope,
) -> diesel::QueryResult<()> {
    let command = TicketCommand::Transition(TransitionTicket {
        ticket_id,
        to: Status::Open,
        reason: Some("intervention resent".to_owned()),
        actor: system_actor(),
    });
    send(conn, scope, &command, cause).await
}

/// Enqueues `ticket.add_audit` on `response_id`.
pub async fn add_audit(
    conn: &mut Conn,
    scope: &Scope,
    ticket_id: TicketId,
    response_id: ResponseId,
    body: String,
    cause: &Envelope,
) -> diesel::QueryResult<()> {
    let command = TicketCommand::AddAudit(AddAudit {
        ticket_id,
        response_id,
        entry_id: format!("aud_{}", MessageId::generate().ulid()),
        body,
        actor: system_actor(),
    });
    send(conn, scope, &command, cause).await
}
