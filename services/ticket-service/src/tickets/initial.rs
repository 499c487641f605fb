//! A ticket's initial responses (an intervention's rendered templates): inserted in the
//! creating transaction, each with its event right after `ticket.created`. They never
//! move the status or meet the first-response target: nobody has answered yet.

use loopdesk_contracts::{
    DomainError, Scope,
    commands::CreateTicket,
    events::{TICKET_COMMENTED, TICKET_NOTE_ADDED, TICKET_REPLIED, TICKET_UPDATED},
    responses::{Response, ResponseKind},
    tickets::Ticket,
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, enqueue_all};

use crate::{
    apply::ApplyError,
    thread::store,
    tickets::change::{self, event},
};

/// The event type a new response of `kind` is announced with.
pub fn event_kind(kind: ResponseKind) -> &'static str {
    match kind {
        ResponseKind::Reply => TICKET_REPLIED,
        ResponseKind::Message => TICKET_COMMENTED,
        ResponseKind::Note => TICKET_NOTE_ADDED,
        ResponseKind::System => TICKET_UPDATED,
    }
}

/// Inserts `command`'s initial responses on the just-created `ticket` and enqueues
/// their events with sequences 2, 3, ... (the caller reserved them on the row).
pub async fn post(
    conn: &mut Conn,
    scope: &Scope,
    ticket: &Ticket,
    command: &CreateTicket,
    cause: &Envelope,
) -> Result<(), ApplyError> {
    let mut messages = Vec::with_capacity(command.initial_responses.len());
    for (new, sequence) in command.initial_responses.iter().zip(2..) {
        let response = Response {
            id: new.id,
            ticket_id: ticket.id,
            kind: new.kind,
            public: new.kind.is_public(),
            author: new.author.clone(),
            body: new.body.clone(),
            attachments: new.attachments.clone(),
            audit: Vec::new(),
            created_at: ticket.created_at,
        };
        if !store::insert(conn, scope, &response).await? {
            return Err(ApplyError::rejected(DomainError::new(
                409,
                "response_id_conflict",
                "Response id already in use",
                format!("response id {} is already in use", new.id),
            )));
        }
        let pending = event(event_kind(new.kind), serde_json::Map::new()).with_response(response);
        messages.push(change::message(
            ticket,
            &command.actor,
            pending,
            sequence,
            ticket.created_at,
            Some(cause),
        ));
    }
    enqueue_all(conn, &messages).await?;
    Ok(())
}
