//! Reading and writing ticket rows. Queries are always scoped by tenant and env, so a
//! ticket of another tenant is simply not found.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Env, Scope, Tenant,
    ids::TicketId,
    pagination::Page,
    tickets::{NewTicket, Priority, Requester, Status, Ticket, TicketQuery},
};
use loopdesk_storage::Conn;

use crate::{schema::tickets, tickets::cursor::Cursor};

/// A row of `tickets`.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub struct TicketRow {
    id: String,
    tenant: String,
    env: String,
    subject: String,
    description: String,
    requester_email: String,
    requester_name: Option<String>,
    status: String,
    priority: String,
    queue: String,
    tags: Vec<String>,
    source: String,
    metadata: serde_json::Value,
    version: i64,
    event_sequence: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A stored row that no longer parses as a ticket: a bug or a hand edit, never input.
#[derive(Debug, thiserror::Error)]
#[error("ticket row {id} is corrupt: {what}")]
pub struct CorruptRow {
    id: String,
    what: &'static str,
}

impl TicketRow {
    /// The row for a ticket being created.
    pub fn new(scope: &Scope, ticket: &NewTicket, now: DateTime<Utc>) -> Self {
        Self {
            id: ticket.id.to_string(),
            tenant: scope.tenant.to_string(),
            env: scope.env.as_str().to_owned(),
            subject: ticket.subject.clone(),
            description: ticket.description.clone(),
            requester_email: ticket.requester.email.clone(),
            requester_name: ticket.requester.name.clone(),
            status: Status::New.as_str().to_owned(),
            priority: ticket.priority.as_str().to_owned(),
            queue: ticket.queue.clone(),
            tags: ticket.tags.clone(),
            source: ticket.source.clone(),
            metadata: serde_json::to_value(&ticket.metadata).unwrap_or_default(),
            version: 1,
            event_sequence: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// The contract view of the row.
    pub fn into_ticket(self) -> Result<Ticket, CorruptRow> {
        let corrupt = |what| CorruptRow {
            id: self.id.clone(),
            what,
        };
        Ok(Ticket {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            tenant: Tenant::parse(self.tenant.clone()).map_err(|_| corrupt("tenant"))?,
            env: self.env.parse::<Env>().map_err(|_| corrupt("env"))?,
            status: Status::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            priority: Priority::parse(&self.priority).ok_or_else(|| corrupt("priority"))?,
            metadata: serde_json::from_value::<BTreeMap<String, String>>(self.metadata.clone())
                .map_err(|_| corrupt("metadata"))?,
            subject: self.subject,
            description: self.description,
            requester: Requester {
                email: self.requester_email,
                name: self.requester_name,
            },
            queue: self.queue,
            tags: self.tags,
            source: self.source,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A row did not parse.
    #[error(transparent)]
    Corrupt(#[from] CorruptRow),
    /// The listing cursor was not one of ours.
    #[error("the cursor is not valid")]
    BadCursor,
}

/// Inserts a new ticket; `Ok(false)` if a ticket with this id already exists.
pub async fn insert(conn: &mut Conn, row: &TicketRow) -> QueryResult<bool> {
    let inserted = diesel::insert_into(tickets::table)
        .values(row)
        .on_conflict(tickets::id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Hands out the next event sequence number of a ticket (row-locked by the update).
pub async fn next_sequence(conn: &mut Conn, id: &TicketId) -> QueryResult<i64> {
    diesel::update(tickets::table.find(id.to_string()))
        .set(tickets::event_sequence.eq(tickets::event_sequence + 1))
        .returning(tickets::event_sequence)
        .get_result(conn)
        .await
}

/// The ticket with this id in this scope.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    id: &TicketId,
) -> Result<Option<Ticket>, StoreError> {
    let row = tickets::table
        .find(id.to_string())
        .filter(tickets::tenant.eq(scope.tenant.as_str()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .select(TicketRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(TicketRow::into_ticket).transpose()?)
}

/// One page of the scope's tickets, newest first.
pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    query: &TicketQuery,
) -> Result<Page<Ticket>, StoreError> {
    let mut q = tickets::table
        .filter(tickets::tenant.eq(scope.tenant.as_str()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .select(TicketRow::as_select())
        .into_boxed();
    if let Some(cursor) = &query.cursor {
        let after = Cursor::decode(cursor).ok_or(StoreError::BadCursor)?;
        q = q.filter(tickets::id.lt(after.last_id));
    }
    if let Some(status) = query.status {
        q = q.filter(tickets::status.eq(status.as_str()));
    }
    if let Some(priority) = query.priority {
        q = q.filter(tickets::priority.eq(priority.as_str()));
    }
    if let Some(queue) = &query.queue {
        q = q.filter(tickets::queue.eq(queue.clone()));
    }
    if let Some(requester) = &query.requester {
        q = q.filter(tickets::requester_email.eq(requester.to_lowercase()));
    }
    if let Some(tag) = &query.tag {
        q = q.filter(tickets::tags.contains(vec![tag.clone()]));
    }
    if let Some(after) = query.created_after {
        q = q.filter(tickets::created_at.ge(after));
    }
    if let Some(before) = query.created_before {
        q = q.filter(tickets::created_at.lt(before));
    }
    let limit = i64::from(query.limit.clamp(1, 100));
    let mut rows: Vec<TicketRow> = q
        .order(tickets::id.desc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let data = rows
        .into_iter()
        .map(TicketRow::into_ticket)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more {
        data.last().map(|t| Cursor::after(&t.id).encode())
    } else {
        None
    };
    Ok(Page {
        data,
        has_more,
        next_cursor,
    })
}
