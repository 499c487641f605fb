//! Reading and writing ticket rows. Queries are always scoped by tenant and env, so a
//! ticket of another tenant is simply not found.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Env, Scope, Tenant,
    ids::TicketId,
    tickets::{NewTicket, Priority, Requester, Status, Ticket, TicketSla},
};
use loopdesk_storage::Conn;

use crate::schema::tickets;

/// A row of `tickets`; the working copy a change edits before saving it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_null = true)]
#[allow(missing_docs)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub struct TicketRow {
    pub id: String,
    pub tenant: String,
    pub env: String,
    pub subject: String,
    pub description: String,
    pub requester_email: String,
    pub requester_name: Option<String>,
    pub status: String,
    pub priority: String,
    pub queue: String,
    pub tags: Vec<String>,
    pub source: String,
    pub metadata: serde_json::Value,
    pub version: i64,
    pub event_sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub assignee: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub follow_up_of: Option<String>,
    pub solved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub first_response_breached_at: Option<DateTime<Utc>>,
    pub resolution_breached_at: Option<DateTime<Utc>>,
    pub sla_paused_at: Option<DateTime<Utc>>,
    pub sla_paused_ms: i64,
}

/// A stored row that no longer parses as a ticket: a bug or a hand edit, never input.
#[derive(Debug, thiserror::Error)]
#[error("ticket row {id} is corrupt: {what}")]
pub struct CorruptRow {
    id: String,
    what: &'static str,
}

impl CorruptRow {
    /// Row `id` failed to parse at `what`.
    pub fn new(id: &str, what: &'static str) -> Self {
        Self {
            id: id.to_owned(),
            what,
        }
    }
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
            // `ticket.created` takes sequence 1.
            event_sequence: 1,
            created_at: now,
            updated_at: now,
            assignee: None,
            due_at: None,
            follow_up_of: ticket.follow_up_of.map(|id| id.to_string()),
            solved_at: None,
            closed_at: None,
            deleted_at: None,
            first_response_due_at: None,
            resolution_due_at: None,
            first_responded_at: None,
            first_response_breached_at: None,
            resolution_breached_at: None,
            sla_paused_at: None,
            sla_paused_ms: 0,
        }
    }

    /// The status, parsed.
    pub fn status(&self) -> Result<Status, CorruptRow> {
        Status::parse(&self.status).ok_or_else(|| CorruptRow {
            id: self.id.clone(),
            what: "status",
        })
    }

    /// The priority, parsed.
    pub fn priority(&self) -> Result<Priority, CorruptRow> {
        Priority::parse(&self.priority).ok_or_else(|| CorruptRow {
            id: self.id.clone(),
            what: "priority",
        })
    }

    /// The scope the row belongs to.
    pub fn scope(&self) -> Result<Scope, CorruptRow> {
        let corrupt = |what| CorruptRow {
            id: self.id.clone(),
            what,
        };
        Ok(Scope {
            tenant: Tenant::parse(self.tenant.clone()).map_err(|_| corrupt("tenant"))?,
            env: self.env.parse::<Env>().map_err(|_| corrupt("env"))?,
        })
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
            assignee: self.assignee,
            due_at: self.due_at,
            follow_up_of: self
                .follow_up_of
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| corrupt("follow_up_of"))?,
            sla: TicketSla {
                first_response_due_at: self.first_response_due_at,
                resolution_due_at: self.resolution_due_at,
                first_responded_at: self.first_responded_at,
                first_response_breached_at: self.first_response_breached_at,
                resolution_breached_at: self.resolution_breached_at,
                paused_at: self.sla_paused_at,
            },
            solved_at: self.solved_at,
            closed_at: self.closed_at,
            deleted_at: self.deleted_at,
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

/// Inserts new tickets in one statement and answers the ids inserted; an id that already
/// exists is skipped. Give each id once: the answer names ids, not rows.
pub async fn insert_all(conn: &mut Conn, rows: &[TicketRow]) -> QueryResult<HashSet<String>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let inserted: Vec<String> = diesel::insert_into(tickets::table)
        .values(rows)
        .on_conflict(tickets::id)
        .do_nothing()
        .returning(tickets::id)
        .get_results(conn)
        .await?;
    Ok(inserted.into_iter().collect())
}

/// The ticket with this id in this scope; deleted tickets are not found.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    id: &TicketId,
) -> Result<Option<Ticket>, StoreError> {
    let row = scoped(scope, id)
        .select(TicketRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(TicketRow::into_ticket).transpose()?)
}

/// The row of this ticket, locked until the transaction ends, so changes to one ticket
/// (and its event sequence) are serialized; deleted tickets are not found.
pub async fn lock(
    conn: &mut Conn,
    scope: &Scope,
    id: &TicketId,
) -> Result<Option<TicketRow>, StoreError> {
    // Boxed queries cannot lock: the scope filter is spelled out here.
    Ok(tickets::table
        .filter(tickets::id.eq(id.to_string()))
        .filter(tickets::tenant.eq(scope.tenant.as_str()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .filter(tickets::deleted_at.is_null())
        .select(TicketRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Writes a working copy back (the row must be locked by [`lock`]).
pub async fn save(conn: &mut Conn, row: &TicketRow) -> QueryResult<()> {
    diesel::update(tickets::table.find(&row.id))
        .set(row)
        .execute(conn)
        .await
        .map(|_| ())
}

fn scoped(scope: &Scope, id: &TicketId) -> tickets::BoxedQuery<'static, diesel::pg::Pg> {
    tickets::table
        .filter(tickets::id.eq(id.to_string()))
        .filter(tickets::tenant.eq(scope.tenant.as_str().to_owned()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .filter(tickets::deleted_at.is_null())
        .into_boxed()
}
