//! Claiming due deliveries: a lease (`locked_until`) taken in one statement with
//! `FOR UPDATE SKIP LOCKED`, so concurrent instances split the work and never take the
//! same attempt. The attempt counter is the fence: recording checks it.

use std::time::Duration;

use diesel::{
    prelude::*,
    sql_query,
    sql_types::{Array, BigInt, Double, Integer, Text},
};
use diesel_async::RunQueryDsl;
use loopdesk_storage::Pool;

use crate::{
    endpoints::store::EndpointRow,
    schema::{endpoints, events},
};

/// One attempt to make.
#[derive(Debug, Clone)]
pub struct Job {
    /// The delivery.
    pub delivery_id: String,
    /// This attempt's number (1-based since the delivery was last scheduled).
    pub attempt: i32,
    /// Where it goes.
    pub endpoint: EndpointRow,
    /// What it carries.
    pub event: EventRow,
}

/// The stored event a delivery carries.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    /// `evt_` id: the `webhook-id`.
    pub id: String,
    /// Event type.
    pub kind: String,
    /// Per-ticket position.
    pub sequence: i64,
    /// The ticket, for thin payloads.
    pub ticket_id: Option<String>,
    /// When it happened.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Trace context of the change.
    pub traceparent: Option<String>,
    /// The event as published.
    pub body: String,
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    endpoint_id: String,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

// Each endpoint gets at most its remaining share ($4/$5: endpoints with attempts in
// flight and how many more they may take; $6 for the others), so nothing claimed has to
// be handed back. The oldest due rows are taken first, by the partial index alone (an
// ordered range scan that stops at the `LIMIT`, so a backlog of any size costs the
// same: nothing here may make the planner join or sort the whole backlog); endpoints
// are checked and ranked over those few only. A disabled endpoint has no pending
// deliveries (disabling kills them in the same transaction), so the check only guards
// against a race. The lock is taken last, since FOR UPDATE cannot sit beside a window
// function.
const CLAIM: &str = "
WITH oldest AS (
    SELECT d.id, d.endpoint_id, d.next_attempt_at
    FROM deliveries d
    WHERE d.status = 'pending'
      AND d.next_attempt_at <= now()
      AND (d.locked_until IS NULL OR d.locked_until < now())
      AND NOT (d.endpoint_id = ANY($2))
    ORDER BY d.next_attempt_at
    LIMIT $1 * 4
), candidates AS (
    SELECT o.id, o.next_attempt_at,
           row_number() OVER (PARTITION BY o.endpoint_id ORDER BY o.next_attempt_at) AS rank,
           COALESCE(
               (SELECT u.room FROM unnest($4::text[], $5::int[]) AS u(id, room) WHERE u.id = o.endpoint_id),
               $6
           ) AS room
    FROM oldest o
    WHERE EXISTS (SELECT 1 FROM endpoints e WHERE e.id = o.endpoint_id AND e.enabled)
), due AS (
    SELECT d.id FROM deliveries d
    JOIN candidates c ON c.id = d.id
    WHERE c.rank <= c.room
      AND d.status = 'pending'
      AND (d.locked_until IS NULL OR d.locked_until < now())
    ORDER BY c.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d
SET locked_until = now() + make_interval(secs => $3),
    attempts = d.attempts + 1,
    updated_at = now()
FROM due
WHERE d.id = due.id
RETURNING d.id, d.endpoint_id, d.event_id, d.attempts";

/// How many more attempts each endpoint may take now.
pub struct Capacity<'a> {
    /// Endpoints at their cap.
    pub busy: &'a [String],
    /// Endpoints with attempts in flight, and the room each has left.
    pub partial: &'a [(String, i32)],
    /// Room of an endpoint with nothing in flight.
    pub per_endpoint: i32,
}

/// Claims up to `limit` due deliveries within each endpoint's remaining room, and
/// loads what sending them needs.
pub async fn claim(
    pool: &Pool,
    limit: usize,
    capacity: &Capacity<'_>,
    lease: Duration,
) -> QueryResult<Vec<Job>> {
    let mut conn = loopdesk_storage::connection(pool).await?;
    let (partial_ids, partial_room): (Vec<&str>, Vec<i32>) = capacity
        .partial
        .iter()
        .map(|(id, room)| (id.as_str(), *room))
        .unzip();
    let claimed: Vec<Claimed> = sql_query(CLAIM)
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind::<Array<Text>, _>(capacity.busy)
        .bind::<Double, _>(lease.as_secs_f64())
        .bind::<Array<Text>, _>(partial_ids)
        .bind::<Array<Integer>, _>(partial_room)
        .bind::<Integer, _>(capacity.per_endpoint)
        .load(&mut conn)
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let endpoint_ids: Vec<&str> = claimed.iter().map(|c| c.endpoint_id.as_str()).collect();
    let event_ids: Vec<&str> = claimed.iter().map(|c| c.event_id.as_str()).collect();
    let endpoint_rows: Vec<EndpointRow> = endpoints::table
        .filter(endpoints::id.eq_any(endpoint_ids))
        .select(EndpointRow::as_select())
        .load(&mut conn)
        .await?;
    let event_rows: Vec<EventRow> = events::table
        .filter(events::id.eq_any(event_ids))
        .select(EventRow::as_select())
        .load(&mut conn)
        .await?;
    Ok(claimed
        .into_iter()
        .filter_map(|c| {
            // Both rows exist (deleting either deletes its deliveries in the same
            // transaction); a concurrent delete just drops the job.
            let endpoint = endpoint_rows.iter().find(|e| e.id == c.endpoint_id)?;
            let event = event_rows.iter().find(|e| e.id == c.event_id)?;
            Some(Job {
                delivery_id: c.id,
                attempt: c.attempts,
                endpoint: endpoint.clone(),
                event: event.clone(),
            })
        })
        .collect())
}

/// Hands a claimed, unsent delivery back.
pub async fn release(pool: &Pool, job: &Job) -> QueryResult<()> {
    use crate::schema::deliveries;
    let mut conn = loopdesk_storage::connection(pool).await?;
    diesel::update(
        deliveries::table
            .find(&job.delivery_id)
            .filter(deliveries::attempts.eq(job.attempt)),
    )
    .set((
        deliveries::locked_until.eq(None::<chrono::DateTime<chrono::Utc>>),
        deliveries::attempts.eq(job.attempt - 1),
    ))
    .execute(&mut conn)
    .await?;
    Ok(())
}
