//! Applying `ticket.add_response`: the response, the status move it causes (seed 003)
//! and their events commit together.

use loopdesk_contracts::{
    DomainError, Scope,
    commands::AddResponse,
    events::{TICKET_COMMENTED, TICKET_NOTE_ADDED, TICKET_REPLIED, TICKET_UPDATED},
    responses::{AuthorKind, Response, ResponseKind},
    tickets::Status,
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    thread::store,
    tickets::{
        change::{self, event, not_found},
        create::CONSUMER,
        lifecycle,
    },
};

/// Appends the response unless this command was already applied, and returns it.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: AddResponse,
) -> Result<Response, ApplyError> {
    let ticket_id = command.ticket_id;
    let id = command.response.id;
    loopdesk_storage::transaction(pool, async |conn| {
        if claim(conn, CONSUMER, &request.message_id).await? {
            let mut change = change::begin(conn, scope, &ticket_id, command.actor).await?;
            let status = change.row.status()?;
            if status == Status::Closed {
                return Err(ApplyError::rejected(lifecycle::ticket_closed()));
            }
            let new = command.response;
            let response = Response {
                id: new.id,
                ticket_id,
                kind: new.kind,
                public: new.kind.is_public(),
                author: new.author,
                body: new.body,
                attachments: new.attachments,
                audit: Vec::new(),
                created_at: change.now,
            };
            if !store::insert(conn, scope, &response).await? {
                return Err(ApplyError::rejected(DomainError::new(
                    409,
                    "response_id_conflict",
                    "Response id already in use",
                    format!("response id {id} is already in use"),
                )));
            }
            let kind = match response.kind {
                ResponseKind::Reply => TICKET_REPLIED,
                ResponseKind::Message => TICKET_COMMENTED,
                ResponseKind::Note => TICKET_NOTE_ADDED,
                ResponseKind::System => TICKET_UPDATED,
            };
            let agent_reply =
                response.kind == ResponseKind::Reply && response.author.kind == AuthorKind::Agent;
            if agent_reply && change.row.first_responded_at.is_none() {
                // The first agent public reply meets the first-response target.
                change.row.first_responded_at = Some(change.now);
            }
            let moved = lifecycle::after_response(status, response.kind, response.author.kind);
            change.emit(event(kind, serde_json::Map::new()).with_response(response));
            if let Some(to) = moved {
                let reason = if agent_reply {
                    "agent replied"
                } else {
                    "customer replied"
                };
                change.set_status(to, Some(reason.to_owned()))?;
            }
            change.commit(conn, Some(request)).await?;
        }
        store::find(conn, scope, &ticket_id, &id)
            .await?
            .ok_or_else(|| ApplyError::rejected(not_found("response", &id.to_string())))
    })
    .await
}
