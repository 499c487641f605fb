//! Applying `ticket.update`: field changes guarded by the ticket's version. The row is
//! locked before the version is compared, so of two writers holding the same version
//! exactly one wins; the other gets 412.

use loopdesk_contracts::{
    DomainError, Scope,
    commands::UpdateTicket,
    events::{TICKET_ASSIGNED, TICKET_DUE_DATE_UPDATED, TICKET_UPDATED},
    tickets::{Status, Ticket},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};
use serde_json::{Map, Value, json};

use crate::{
    apply::ApplyError,
    sla::{clock, policy},
    tickets::{
        change::{self, changed, event, not_found},
        create::CONSUMER,
        lifecycle, store,
    },
};

/// Applies the changes unless this command was already applied; returns the ticket.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: UpdateTicket,
) -> Result<Ticket, ApplyError> {
    let id = command.ticket_id;
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, CONSUMER, &request.message_id).await? {
            return store::find(conn, scope, &id)
                .await?
                .ok_or_else(|| ApplyError::rejected(not_found("ticket", &id.to_string())));
        }
        let mut change = change::begin(conn, scope, &id, command.actor).await?;
        if change.row.status()? == Status::Closed {
            return Err(ApplyError::rejected(lifecycle::ticket_closed()));
        }
        if change.row.version != command.expected_version {
            return Err(ApplyError::rejected(stale(
                command.expected_version,
                change.row.version,
            )));
        }
        let c = command.changes;
        let row = &mut change.row;
        let mut updated = Map::new();
        if let Some(subject) = c.subject.filter(|s| *s != row.subject) {
            changed(&mut updated, "subject", json!(row.subject), json!(subject));
            row.subject = subject;
        }
        if let Some(queue) = c.queue.filter(|q| *q != row.queue) {
            changed(&mut updated, "queue", json!(row.queue), json!(queue));
            row.queue = queue;
        }
        if let Some(tags) = c.tags.filter(|t| *t != row.tags) {
            changed(&mut updated, "tags", json!(row.tags), json!(tags));
            row.tags = tags;
        }
        let mut reprice = None;
        if let Some(priority) = c.priority.filter(|p| p.as_str() != row.priority) {
            changed(
                &mut updated,
                "priority",
                json!(row.priority),
                json!(priority),
            );
            row.priority = priority.as_str().to_owned();
            reprice = Some(priority);
        }
        let mut assigned = Map::new();
        if let Some(assignee) = c.assignee.filter(|a| *a != row.assignee) {
            changed(
                &mut assigned,
                "assignee",
                json!(row.assignee),
                json!(assignee),
            );
            row.assignee = assignee;
        }
        let mut due = Map::new();
        if let Some(due_at) = c.due_at.filter(|d| *d != row.due_at) {
            changed(&mut due, "due_at", json!(row.due_at), json!(due_at));
            row.due_at = due_at;
        }
        if let Some(priority) = reprice {
            // Targets follow the new priority's policy (DESIGN.md §5).
            let sla = policy::find(conn, scope, priority).await?;
            let before = (
                change.row.first_response_due_at,
                change.row.resolution_due_at,
            );
            clock::apply_policy(&mut change.row, sla.as_ref());
            let after = (
                change.row.first_response_due_at,
                change.row.resolution_due_at,
            );
            if before != after {
                changed(&mut updated, "sla", json!(before), json!(after));
            }
        }
        for (kind, changes) in [
            (TICKET_UPDATED, updated),
            (TICKET_ASSIGNED, assigned),
            (TICKET_DUE_DATE_UPDATED, due),
        ] {
            if !changes.is_empty() {
                change.emit(event(kind, changes));
            }
        }
        change.commit(conn, Some(request)).await
    })
    .await
}

/// 412 `precondition_failed`: the caller's copy is out of date.
fn stale(expected: i64, current: i64) -> DomainError {
    let mut e = DomainError::new(
        412,
        "precondition_failed",
        "Precondition failed",
        format!(
            "the ticket is at version {current}, not {expected}; read it again and retry with its ETag"
        ),
    );
    e.extensions
        .insert("current_version".into(), Value::from(current));
    e
}
