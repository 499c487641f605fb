//! What the foreign keys' `ON DELETE CASCADE` did, done in the deleting transaction (the
//! keys cost a lookup per inserted delivery and attempt): an endpoint or an event goes
//! with its deliveries, a delivery with its attempts.
//!
//! Nothing can be added behind a delete's back, because whoever adds a row holds a lock
//! on the row it belongs to until it commits: fan-out reads its endpoints `FOR KEY
//! SHARE`, recording an attempt locks its delivery. A delete waits for those locks, so
//! its next statement sees what they added, and whoever comes after finds the row gone.
//! Hence the order: the parent first, then its deliveries, then their attempts.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{BigInt, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use loopdesk_storage::Conn;

use crate::schema::{deliveries, delivery_attempts};

/// Most deliveries deleted by one statement: an endpoint may have millions, and their
/// ids come back to delete their attempts.
const CHUNK: i64 = 10_000;

const DELETE_ENDPOINT_DELIVERIES: &str = "
DELETE FROM deliveries
WHERE id IN (SELECT id FROM deliveries WHERE endpoint_id = $1 LIMIT $2)
RETURNING id";

const DELETE_OLD_EVENTS: &str = "
DELETE FROM events
WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.received_at < $1
      AND NOT EXISTS (
          SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending'
      )
    ORDER BY e.received_at
    LIMIT $2
)
RETURNING id";

/// The id of a deleted row.
#[derive(QueryableByName)]
struct Deleted {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Deletes every delivery of the endpoint, with their attempts; call it once the
/// endpoint row is locked for update or deleted (so no delivery can be added). Answers
/// how many deliveries went.
pub async fn delete_endpoint_deliveries(conn: &mut Conn, endpoint_id: &str) -> QueryResult<usize> {
    let mut deleted = 0;
    loop {
        let gone: Vec<String> = sql_query(DELETE_ENDPOINT_DELIVERIES)
            .bind::<Text, _>(endpoint_id)
            .bind::<BigInt, _>(CHUNK)
            .load::<Deleted>(conn)
            .await?
            .into_iter()
            .map(|d| d.id)
            .collect();
        if gone.is_empty() {
            return Ok(deleted);
        }
        deleted += gone.len();
        delete_attempts(conn, &gone).await?;
    }
}

/// Deletes up to `limit` events received before `cutoff` that no delivery is still
/// waiting on, with their deliveries and attempts; answers how many events went.
/// (Nothing adds a delivery to an event that exists already: fan-out adds them with
/// the event.)
pub async fn delete_old_events(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    let events: Vec<String> = sql_query(DELETE_OLD_EVENTS)
        .bind::<Timestamptz, _>(cutoff)
        .bind::<BigInt, _>(limit)
        .load::<Deleted>(conn)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    if events.is_empty() {
        return Ok(0);
    }
    let gone: Vec<String> =
        diesel::delete(deliveries::table.filter(deliveries::event_id.eq_any(&events)))
            .returning(deliveries::id)
            .get_results(conn)
            .await?;
    delete_attempts(conn, &gone).await?;
    Ok(events.len())
}

/// Deletes the attempts of deliveries just deleted. A separate statement, so it sees
/// the attempts committed by those the delivery delete waited for.
async fn delete_attempts(conn: &mut Conn, delivery_ids: &[String]) -> QueryResult<usize> {
    if delivery_ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(
        delivery_attempts::table.filter(delivery_attempts::delivery_id.eq_any(delivery_ids)),
    )
    .execute(conn)
    .await
}
