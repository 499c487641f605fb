//! The inbox: a redelivered message is applied once.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

use crate::{Pool, StorageError, schema::inbox};

/// Records `(consumer, message_id)` inside the caller's transaction. Returns true the first
/// time (apply the effect), false when it was already processed (skip the effect, just ack).
///
/// A concurrent claim of the same pair waits for the first transaction: it gets false if
/// that one commits, true if it rolls back.
pub async fn claim(
    conn: &mut crate::Conn,
    consumer: &str,
    message_id: &str,
) -> diesel::QueryResult<bool> {
    let inserted = diesel::insert_into(inbox::table)
        .values((
            inbox::consumer.eq(consumer),
            inbox::message_id.eq(message_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// [`claim`] for many messages of one consumer in one statement, inside the caller's
/// transaction. Returns the ids claimed now (apply their effect); the others were
/// already processed. An id given twice comes back once: the caller keeps one of the
/// copies (the set cannot say which claimed it).
pub async fn claim_all(
    conn: &mut crate::Conn,
    consumer: &str,
    message_ids: &[&str],
) -> diesel::QueryResult<HashSet<String>> {
    let rows: Vec<_> = message_ids
        .iter()
        .map(|id| (inbox::consumer.eq(consumer), inbox::message_id.eq(*id)))
        .collect();
    let claimed: Vec<String> = diesel::insert_into(inbox::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(inbox::message_id)
        .get_results(conn)
        .await?;
    Ok(claimed.into_iter().collect())
}

/// Deletes inbox rows processed more than `older_than` ago (retention); returns how many.
/// Keep rows longer than the broker could redeliver a message.
pub async fn purge_inbox(pool: &Pool, older_than: Duration) -> Result<usize, StorageError> {
    let cutoff = Utc::now() - older_than;
    let mut conn = crate::connection(pool).await?;
    let deleted = diesel::delete(inbox::table.filter(inbox::processed_at.lt(cutoff)))
        .execute(&mut conn)
        .await?;
    Ok(deleted)
}
