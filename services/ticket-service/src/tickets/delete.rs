//! Applying `ticket.delete`: a soft delete. The row stays (events and the thread refer to
//! it) but reads and listings no longer see it.

use loopdesk_contracts::{Scope, commands::DeleteTicket, events::TICKET_DELETED, tickets::Ticket};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};
use serde_json::{Map, Value};

use crate::{
    apply::ApplyError,
    tickets::{
        change::{self, changed, event, not_found},
        create::CONSUMER,
    },
};

/// Deletes the ticket unless this command was already applied; returns its last state.
/// A repeated delete of a deleted ticket is a 404, as for any read of it.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: DeleteTicket,
) -> Result<Ticket, ApplyError> {
    let id = command.ticket_id;
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, CONSUMER, &request.message_id).await? {
            // Already applied: the ticket is gone, as the first answer said.
            return Err(ApplyError::rejected(not_found("ticket", &id.to_string())));
        }
        let mut change = change::begin(conn, scope, &id, command.actor).await?;
        change.row.deleted_at = Some(change.now);
        let mut changes = Map::new();
        changed(
            &mut changes,
            "deleted_at",
            Value::Null,
            change.now.to_rfc3339().into(),
        );
        change.emit(event(TICKET_DELETED, changes));
        change.commit(conn, Some(request)).await
    })
    .await
}
