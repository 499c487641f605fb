//! Applying `ticket.transition`: a manual status move, checked against the status model.

use loopdesk_contracts::{Scope, commands::TransitionTicket, tickets::Ticket};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    tickets::{
        change::{self, not_found},
        create::CONSUMER,
        lifecycle, store,
    },
};

/// Moves the ticket unless this command was already applied; returns the ticket.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: TransitionTicket,
) -> Result<Ticket, ApplyError> {
    let id = command.ticket_id;
    loopdesk_storage::transaction(pool, async |conn| {
        if claim(conn, CONSUMER, &request.message_id).await? {
            let mut change = change::begin(conn, scope, &id, command.actor).await?;
            let from = change.row.status()?;
            if let Some(refusal) = lifecycle::refusal(from, command.to) {
                return Err(ApplyError::rejected(refusal));
            }
            change.set_status(command.to, command.reason)?;
            return change.commit(conn, Some(request)).await;
        }
        store::find(conn, scope, &id)
            .await?
            .ok_or_else(|| ApplyError::rejected(not_found("ticket", &id.to_string())))
    })
    .await
}
