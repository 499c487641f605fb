//! One relay pass over the outbox, and what to do with messages the broker will not route.

use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use loopdesk_messaging::{OutgoingMessage, PublishError, Publisher, Route};

use crate::{Conn, outbox::OutboxRow, relay::RelayError, schema::outbox};

/// What a pass did: the rows it removed, and the failure that stopped it early, if any.
pub(crate) struct PassOutcome {
    pub(crate) published: usize,
    pub(crate) stopped_by: Option<RelayError>,
}

/// Runs inside the pass's transaction: lock the oldest rows, publish, delete what is done.
pub(crate) async fn publish_batch(
    conn: &mut Conn,
    publisher: &Publisher,
    batch_size: i64,
) -> Result<PassOutcome, RelayError> {
    let rows: Vec<OutboxRow> = outbox::table
        .select(OutboxRow::as_select())
        .order(outbox::id.asc())
        .limit(batch_size)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    let mut batch = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.id;
        match row.into_message() {
            Ok(message) => batch.push((id, message)),
            // Left in place (it shows in the backlog) without holding up the rows behind it.
            Err(err) => {
                tracing::error!(outbox_id = id, error = %err, "skipping unreadable outbox row")
            }
        }
    }
    if batch.is_empty() {
        return Ok(PassOutcome {
            published: 0,
            stopped_by: None,
        });
    }

    let messages: Vec<OutgoingMessage> = batch.iter().map(|(_, m)| m.clone()).collect();
    let (done, stopped_by) = match publisher.publish_all(&messages).await {
        Ok(()) => (batch.iter().map(|(id, _)| *id).collect(), None),
        // Which message failed is unknown: sort it out one by one (a rare path; messages
        // already delivered in the batch go out again, which consumers dedupe).
        Err(PublishError::Unroutable { .. } | PublishError::Invalid(_)) => {
            one_by_one(publisher, &batch).await
        }
        Err(err) => return Err(err.into()),
    };

    if !done.is_empty() {
        // Forgetting this pass in a crash only publishes its rows again, which consumers
        // dedupe by message id: its commit need not wait for the disk. (Set only when
        // there is something to commit: an idle pass costs no extra round trip.)
        diesel::sql_query("SET LOCAL synchronous_commit TO off")
            .execute(conn)
            .await?;
        diesel::delete(outbox::table.filter(outbox::id.eq_any(&done)))
            .execute(conn)
            .await?;
    }
    Ok(PassOutcome {
        published: done.len(),
        stopped_by,
    })
}

/// Publishes in order and returns the ids that are done, stopping at the first message that
/// must wait (so commands to one owner keep their order).
async fn one_by_one(
    publisher: &Publisher,
    batch: &[(i64, OutgoingMessage)],
) -> (Vec<i64>, Option<RelayError>) {
    let mut done = Vec::with_capacity(batch.len());
    for (id, message) in batch {
        match publisher.publish(message).await {
            Ok(()) => done.push(*id),
            Err(err) => match disposition(&message.route, &err) {
                Disposition::Done => {
                    tracing::debug!(outbox_id = id, error = %err, "outbox message reached no queue");
                    done.push(*id);
                }
                Disposition::Skip => {
                    tracing::error!(outbox_id = id, error = %err, "outbox message cannot be published; left in the outbox");
                }
                Disposition::Wait => return (done, Some(err.into())),
            },
        }
    }
    (done, None)
}

enum Disposition {
    /// Nothing more can or should happen to it: delete the row.
    Done,
    /// It can never be published as it is: keep the row for an operator, carry on.
    Skip,
    /// It may go through later: keep it and everything after it.
    Wait,
}

fn disposition(route: &Route, err: &PublishError) -> Disposition {
    match (route, err) {
        // An event nobody subscribes to is delivered to nobody, as a topic exchange intends.
        (Route::Event(_), PublishError::Unroutable { .. }) => Disposition::Done,
        // The requester's reply queue is gone (it gave up or restarted): nobody can receive it.
        (Route::Reply(_), PublishError::Unroutable { .. }) => Disposition::Done,
        (_, PublishError::Invalid(_)) => Disposition::Skip,
        // A command's owner has not declared its queue yet, or the broker is in trouble.
        _ => Disposition::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unroutable() -> PublishError {
        PublishError::Unroutable {
            routing_key: "k".into(),
        }
    }

    #[test]
    fn unroutable_events_and_replies_are_done_but_commands_wait() {
        let event = Route::Event("ticket.created".into());
        let reply = Route::Reply("replies.x".into());
        let command = Route::Command("ticket.create".into());
        assert!(matches!(
            disposition(&event, &unroutable()),
            Disposition::Done
        ));
        assert!(matches!(
            disposition(&reply, &unroutable()),
            Disposition::Done
        ));
        assert!(matches!(
            disposition(&command, &unroutable()),
            Disposition::Wait
        ));
        assert!(matches!(
            disposition(&command, &PublishError::Invalid("x".into())),
            Disposition::Skip
        ));
        assert!(matches!(
            disposition(&event, &PublishError::Nacked),
            Disposition::Wait
        ));
        assert!(matches!(
            disposition(&event, &PublishError::Unavailable("x".into())),
            Disposition::Wait
        ));
    }
}
