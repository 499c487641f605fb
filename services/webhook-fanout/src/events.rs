//! Received `ticket.*` events: stored once with the deliveries they fan out to (one
//! transaction with the inbox record), listed for catch-up, purged after retention
//! (with their deliveries).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Env, Scope, Tenant,
    ids::{DeliveryId, EventId},
    pagination::Page,
    webhooks::ALL_TICKET_EVENTS,
};
use loopdesk_storage::{Conn, Pool, claim};
use serde::Deserialize;

use crate::{
    apply::ApplyError,
    cascade,
    schema::{deliveries, endpoints, events},
    store::{StoreError, decode_cursor, paginate},
};

/// The inbox name of the event consumer.
pub const EVENT_INBOX: &str = "webhook-fanout.events";

/// What fan-out needs to know of an event; the rest is passed on as it came.
#[derive(Debug, Deserialize)]
pub struct EventHead {
    /// `evt_` id.
    pub id: EventId,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// Per-ticket position.
    pub sequence: i64,
    /// Read loosely: only the ticket id is needed (thin payloads).
    #[serde(default)]
    pub data: serde_json::Value,
}

impl EventHead {
    /// The ticket the event is about, when the body names one.
    pub fn ticket_id(&self) -> Option<String> {
        self.data
            .pointer("/ticket/id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

/// Stores the event and one pending delivery per matching endpoint (same tenant and
/// env, enabled, filter naming the type or `ticket.*`), unless this message was
/// already processed. Returns how many deliveries were created.
pub async fn ingest(
    pool: &Pool,
    message_id: &str,
    head: &EventHead,
    body: &str,
    traceparent: Option<&str>,
) -> Result<usize, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        if !claim(conn, EVENT_INBOX, message_id).await? {
            return Ok(0);
        }
        let now = Utc::now();
        let inserted = diesel::insert_into(events::table)
            .values((
                events::id.eq(head.id.to_string()),
                events::tenant.eq(head.tenant.as_str()),
                events::env.eq(head.env.as_str()),
                events::kind.eq(&head.kind),
                events::sequence.eq(head.sequence),
                events::ticket_id.eq(head.ticket_id()),
                events::created_at.eq(head.created_at),
                events::received_at.eq(now),
                events::traceparent.eq(traceparent),
                events::body.eq(body),
            ))
            .on_conflict(events::id)
            .do_nothing()
            .execute(conn)
            .await?;
        if inserted == 0 {
            // The same event under another message id: fanned out already.
            return Ok(0);
        }
        fan_out(conn, head, now).await.map_err(ApplyError::from)
    })
    .await
}

/// Whether an endpoint subscribed to `event_types` receives events of `kind`: the filter
/// names the type or `ticket.*`. The same test as `fan_out`'s query, for batches that
/// match in memory.
pub fn subscribed(event_types: &[String], kind: &str) -> bool {
    event_types
        .iter()
        .any(|t| t == kind || t == ALL_TICKET_EVENTS)
}

async fn fan_out(conn: &mut Conn, head: &EventHead, now: DateTime<Utc>) -> QueryResult<usize> {
    // Keep in step with `subscribed`.
    let targets: Vec<String> = endpoints::table
        .filter(endpoints::tenant.eq(head.tenant.as_str()))
        .filter(endpoints::env.eq(head.env.as_str()))
        .filter(endpoints::enabled.eq(true))
        .filter(
            endpoints::event_types
                .overlaps_with(vec![head.kind.clone(), ALL_TICKET_EVENTS.to_owned()]),
        )
        .select(endpoints::id)
        // Held to commit: an endpoint delete waits for these deliveries (see `cascade`).
        .for_key_share()
        .load(conn)
        .await?;
    let rows: Vec<_> = targets
        .into_iter()
        .map(|endpoint_id| {
            (
                deliveries::id.eq(DeliveryId::generate().to_string()),
                deliveries::endpoint_id.eq(endpoint_id),
                deliveries::event_id.eq(head.id.to_string()),
                deliveries::tenant.eq(head.tenant.to_string()),
                deliveries::env.eq(head.env.as_str()),
                deliveries::event_type.eq(head.kind.clone()),
                deliveries::status.eq("pending"),
                deliveries::next_attempt_at.eq(Some(now)),
                deliveries::created_at.eq(now),
                deliveries::updated_at.eq(now),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    diesel::insert_into(deliveries::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}

/// One page of the scope's events after the event `after` (oldest first), of one type
/// or of every `ticket.*` type.
pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    after: Option<&str>,
    kind: Option<&str>,
    limit: i64,
) -> Result<Page<serde_json::Value>, StoreError> {
    let mut query = events::table
        .filter(events::tenant.eq(scope.tenant.as_str()))
        .filter(events::env.eq(scope.env.as_str()))
        .select((events::id, events::body))
        .into_boxed();
    if let Some(after) = after {
        // Either an event id or a cursor from a previous page.
        let after = if after.starts_with("evt_") {
            after.to_owned()
        } else {
            decode_cursor(after, "evt_")?
        };
        query = query.filter(events::id.gt(after));
    }
    if let Some(kind) = kind.filter(|k| *k != ALL_TICKET_EVENTS) {
        query = query.filter(events::kind.eq(kind.to_owned()));
    }
    let rows: Vec<(String, String)> = query
        .order(events::id.asc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let (rows, has_more, next_cursor) = paginate(rows, limit, |(id, _)| id.clone());
    let data = rows
        .into_iter()
        .map(|(id, body)| serde_json::from_str(&body).map_err(|_| StoreError::corrupt(&id, "body")))
        .collect::<Result<_, _>>()?;
    Ok(Page {
        data,
        has_more,
        next_cursor,
    })
}

/// Most events purged by one transaction (with their deliveries and attempts).
const PURGE_CHUNK: i64 = 500;

/// Deletes events received more than `retention` ago that no delivery is still waiting
/// on, with their deliveries and attempts; returns how many events.
pub async fn purge(pool: &Pool, retention: chrono::Duration) -> Result<usize, StoreError> {
    let cutoff = Utc::now() - retention;
    // In chunks: a day's events may carry millions of deliveries.
    let mut purged = 0;
    loop {
        let deleted = loopdesk_storage::transaction(pool, async |conn| {
            cascade::delete_old_events(conn, cutoff, PURGE_CHUNK).await
        })
        .await?;
        purged += deleted;
        if deleted < PURGE_CHUNK as usize {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_receives_the_types_it_names_or_every_ticket_event() {
        let named = vec!["ticket.created".to_owned(), "ticket.closed".to_owned()];
        assert!(subscribed(&named, "ticket.created"));
        assert!(!subscribed(&named, "ticket.updated"));
        let all = vec![ALL_TICKET_EVENTS.to_owned()];
        assert!(subscribed(&all, "ticket.updated"));
        assert!(!subscribed(&[], "ticket.updated"));
    }
}
