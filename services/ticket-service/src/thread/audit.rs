//! Applying `ticket.add_audit`: an entry appended to a response, never a rewrite of it.
//! Closed tickets take audit entries too: they annotate history, they do not change it.

use chrono::Utc;
use loopdesk_contracts::{Scope, commands::AddAudit, responses::AuditEntry};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    thread::store,
    tickets::{change::not_found, create::CONSUMER, store as tickets},
};

/// Appends the entry unless this command was already applied, and returns it.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: AddAudit,
) -> Result<AuditEntry, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        if claim(conn, CONSUMER, &request.message_id).await? {
            let ticket = command.ticket_id;
            if tickets::find(conn, scope, &ticket).await?.is_none() {
                return Err(ApplyError::rejected(not_found(
                    "ticket",
                    &ticket.to_string(),
                )));
            }
            let response = command.response_id;
            if store::find(conn, scope, &ticket, &response)
                .await?
                .is_none()
            {
                return Err(ApplyError::rejected(not_found(
                    "response",
                    &response.to_string(),
                )));
            }
            let entry = AuditEntry {
                id: command.entry_id.clone(),
                response_id: response,
                body: command.body,
                actor: command.actor,
                created_at: Utc::now(),
            };
            store::insert_audit(conn, &ticket, &entry).await?;
        }
        store::find_audit(conn, &command.entry_id)
            .await?
            .ok_or_else(|| ApplyError::rejected(not_found("audit entry", &command.entry_id)))
    })
    .await
}
