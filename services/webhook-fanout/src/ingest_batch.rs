//! Events stored in batches (group commit): the events that arrive while one batch is
//! being written form the next, and a whole batch costs one transaction of four
//! statements (inbox claims, events, subscribed endpoints, deliveries) whatever its size.
//! The one-by-one [`events::ingest`] stays the reference and the fallback: a batch gives
//! every event the answer it would have given.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{Array, BigInt, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use loopdesk_contracts::ids::DeliveryId;
use loopdesk_storage::{Conn, GroupCommit, Pool, claim_all, is_unavailable};

use crate::{
    apply::ApplyError,
    events::{self, EVENT_INBOX, EventHead, subscribed},
    schema::{endpoints, events as events_table},
};

/// Most events written by one transaction (the consumer's prefetch bounds it anyway).
const MAX_BATCH: usize = 256;

/// One multi-row insert for every delivery of the batch, however many: arrays keep it
/// to seven parameters (a `VALUES` list would hit PostgreSQL's 65,535 at a few thousand
/// rows). Answers how many were created per event.
const INSERT_DELIVERIES: &str = "
WITH created AS (
    INSERT INTO deliveries
        (id, endpoint_id, event_id, tenant, env, event_type, status, next_attempt_at,
         created_at, updated_at)
    SELECT u.id, u.endpoint_id, u.event_id, u.tenant, u.env, u.event_type, 'pending', $7, $7, $7
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS u(id, endpoint_id, event_id, tenant, env, event_type)
    ON CONFLICT DO NOTHING
    RETURNING event_id
)
SELECT event_id, count(*) AS created FROM created GROUP BY event_id";

/// An event as it came off the queue.
#[derive(Debug)]
pub struct Arrival {
    /// The broker message id (the inbox key).
    pub message_id: String,
    /// What fan-out reads of the event.
    pub head: EventHead,
    /// The event exactly as published.
    pub body: String,
    /// Trace context of the change.
    pub traceparent: Option<String>,
}

/// What storing one event gave: how many deliveries it created (0 when the message or
/// the event was processed before).
pub type Ingested = Result<usize, ApplyError>;

/// Hands events to the batch writer; cheap to clone.
#[derive(Clone)]
pub struct EventWriter {
    batches: GroupCommit<Arrival, Ingested>,
}

impl EventWriter {
    /// Starts the writer over `pool` (on the current runtime).
    pub fn start(pool: Pool) -> Self {
        let batches = GroupCommit::start(
            "webhook-fanout.events",
            MAX_BATCH,
            move |arrivals: Vec<Arrival>| {
                let pool = pool.clone();
                async move { ingest_all(&pool, &arrivals).await }
            },
        );
        Self { batches }
    }

    /// Stores `arrival` with the events arriving meanwhile; what [`events::ingest`] would
    /// answer for it.
    pub async fn ingest(&self, arrival: Arrival) -> Ingested {
        self.batches
            .submit(arrival)
            .await
            .unwrap_or_else(|stopped| Err(ApplyError::failed(stopped)))
    }
}

/// Stores `arrivals` in one transaction; one answer per arrival, in order. An unavailable
/// database fails them all (nothing is written, the messages come back); any other error
/// sends each one through [`events::ingest`] on its own, so one odd event cannot hold up
/// the others.
pub async fn ingest_all(pool: &Pool, arrivals: &[Arrival]) -> Vec<Ingested> {
    let error = match store_all(pool, arrivals).await {
        Ok(created) => return created.into_iter().map(Ok).collect(),
        Err(e) => e,
    };
    if is_unavailable(&error) {
        return arrivals
            .iter()
            .map(|_| Err(ApplyError::Unavailable(error.to_string())))
            .collect();
    }
    tracing::warn!(error = %error, events = arrivals.len(), "a batch of events failed; storing them one by one");
    let mut answers = Vec::with_capacity(arrivals.len());
    for arrival in arrivals {
        answers.push(
            events::ingest(
                pool,
                &arrival.message_id,
                &arrival.head,
                &arrival.body,
                arrival.traceparent.as_deref(),
            )
            .await,
        );
    }
    answers
}

/// An event of the batch stored now, to be fanned out.
struct Fresh<'a> {
    /// Its position in the batch.
    at: usize,
    id: String,
    arrival: &'a Arrival,
}

async fn store_all(pool: &Pool, arrivals: &[Arrival]) -> QueryResult<Vec<usize>> {
    loopdesk_storage::transaction(pool, async |conn| {
        let mut created = vec![0; arrivals.len()];
        let candidates = claim(conn, arrivals).await?;
        if candidates.is_empty() {
            return Ok(created);
        }
        let now = Utc::now();
        let fresh = insert_events(conn, candidates, now).await?;
        if fresh.is_empty() {
            return Ok(created);
        }
        let counts = fan_out(conn, &fresh, now).await?;
        for event in &fresh {
            created[event.at] = counts.get(&event.id).copied().unwrap_or(0);
        }
        Ok(created)
    })
    .await
}

/// Claims every message of the batch; answers the arrivals to store, in event id order:
/// the first arrival of each message claimed now, and of those the first of each event.
/// The rest get 0, as the one-by-one path gives a redelivery or a duplicate.
async fn claim<'a>(conn: &mut Conn, arrivals: &'a [Arrival]) -> QueryResult<Vec<Fresh<'a>>> {
    // Sorted, so two writers claiming overlapping batches take the keys in one order.
    let mut message_ids: Vec<&str> = arrivals.iter().map(|a| a.message_id.as_str()).collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    let claimed = claim_all(conn, EVENT_INBOX, &message_ids).await?;
    let mut messages = HashSet::new();
    let mut events = HashSet::new();
    let mut candidates = Vec::new();
    for (at, arrival) in arrivals.iter().enumerate() {
        let message_id = arrival.message_id.as_str();
        if !claimed.contains(message_id) || !messages.insert(message_id) {
            continue;
        }
        let id = arrival.head.id.to_string();
        if events.insert(id.clone()) {
            candidates.push(Fresh { at, id, arrival });
        }
    }
    candidates.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    Ok(candidates)
}

/// Inserts the candidates' events; answers those that were new (an event stored before
/// under another message id is not fanned out again).
async fn insert_events<'a>(
    conn: &mut Conn,
    candidates: Vec<Fresh<'a>>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Fresh<'a>>> {
    let rows: Vec<_> = candidates
        .iter()
        .map(|Fresh { id, arrival, .. }| {
            let head = &arrival.head;
            (
                events_table::id.eq(id),
                events_table::tenant.eq(head.tenant.as_str()),
                events_table::env.eq(head.env.as_str()),
                events_table::kind.eq(&head.kind),
                events_table::sequence.eq(head.sequence),
                events_table::ticket_id.eq(head.ticket_id()),
                events_table::created_at.eq(head.created_at),
                events_table::received_at.eq(now),
                events_table::traceparent.eq(arrival.traceparent.as_deref()),
                events_table::body.eq(&arrival.body),
            )
        })
        .collect();
    let stored: HashSet<String> = diesel::insert_into(events_table::table)
        .values(rows)
        .on_conflict(events_table::id)
        .do_nothing()
        .returning(events_table::id)
        .get_results::<String>(conn)
        .await?
        .into_iter()
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|fresh| stored.contains(&fresh.id))
        .collect())
}

/// An enabled endpoint that may receive some of the batch's events.
#[derive(Queryable)]
struct Subscriber {
    id: String,
    tenant: String,
    env: String,
    event_types: Vec<String>,
}

#[derive(QueryableByName)]
struct Created {
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = BigInt)]
    created: i64,
}

/// One pending delivery per event and subscribed endpoint, as [`events::ingest`] creates
/// them; answers how many were created per event id.
async fn fan_out(
    conn: &mut Conn,
    fresh: &[Fresh<'_>],
    now: DateTime<Utc>,
) -> QueryResult<HashMap<String, usize>> {
    let tenants: HashSet<&str> = fresh
        .iter()
        .map(|f| f.arrival.head.tenant.as_str())
        .collect();
    let envs: HashSet<&str> = fresh.iter().map(|f| f.arrival.head.env.as_str()).collect();
    // Every (tenant, env) of the batch in one query; the pairs are matched below.
    let subscribers: Vec<Subscriber> = endpoints::table
        .filter(endpoints::tenant.eq_any(tenants))
        .filter(endpoints::env.eq_any(envs))
        .filter(endpoints::enabled.eq(true))
        .select((
            endpoints::id,
            endpoints::tenant,
            endpoints::env,
            endpoints::event_types,
        ))
        // Held to commit: an endpoint delete waits for these deliveries (see `cascade`).
        .for_key_share()
        .load(conn)
        .await?;
    let mut ids = Vec::new();
    let mut endpoint_ids = Vec::new();
    let mut event_ids = Vec::new();
    let mut tenants = Vec::new();
    let mut envs = Vec::new();
    let mut kinds = Vec::new();
    for event in fresh {
        let head = &event.arrival.head;
        let targets = subscribers.iter().filter(|s| {
            s.tenant == head.tenant.as_str()
                && s.env == head.env.as_str()
                && subscribed(&s.event_types, &head.kind)
        });
        for target in targets {
            ids.push(DeliveryId::generate().to_string());
            endpoint_ids.push(target.id.as_str());
            event_ids.push(event.id.as_str());
            tenants.push(head.tenant.as_str());
            envs.push(head.env.as_str());
            kinds.push(head.kind.as_str());
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let created: Vec<Created> = sql_query(INSERT_DELIVERIES)
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Text>, _>(endpoint_ids)
        .bind::<Array<Text>, _>(event_ids)
        .bind::<Array<Text>, _>(tenants)
        .bind::<Array<Text>, _>(envs)
        .bind::<Array<Text>, _>(kinds)
        .bind::<Timestamptz, _>(now)
        .load(conn)
        .await?;
    Ok(created
        .into_iter()
        .map(|c| (c.event_id, usize::try_from(c.created).unwrap_or(0)))
        .collect())
}

#[cfg(test)]
mod tests;
