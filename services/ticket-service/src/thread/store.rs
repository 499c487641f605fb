//! Reading and appending thread rows. There is no update and no delete here, and the
//! database refuses both (see the `*_append_only` triggers).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    ids::{ResponseId, TicketId},
    pagination::Page,
    responses::{AuditEntry, Response, ResponseKind},
};
use loopdesk_storage::Conn;

use crate::{
    schema::{audit_entries, responses},
    tickets::{
        cursor::Cursor,
        store::{CorruptRow, StoreError},
    },
};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = responses, check_for_backend(diesel::pg::Pg))]
struct ResponseRow {
    id: String,
    ticket_id: String,
    tenant: String,
    env: String,
    kind: String,
    public: bool,
    author: serde_json::Value,
    body: String,
    attachments: serde_json::Value,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_entries, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: String,
    response_id: String,
    ticket_id: String,
    body: String,
    actor: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl ResponseRow {
    fn into_response(self, audit: Vec<AuditEntry>) -> Result<Response, CorruptRow> {
        let corrupt = |what| CorruptRow::new(&self.id, what);
        Ok(Response {
            id: self.id.parse().map_err(|_| corrupt("response id"))?,
            ticket_id: self.ticket_id.parse().map_err(|_| corrupt("ticket id"))?,
            kind: ResponseKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            public: self.public,
            author: serde_json::from_value(self.author.clone()).map_err(|_| corrupt("author"))?,
            attachments: serde_json::from_value(self.attachments.clone())
                .map_err(|_| corrupt("attachments"))?,
            body: self.body,
            audit,
            created_at: self.created_at,
        })
    }
}

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry, CorruptRow> {
        let corrupt = |what| CorruptRow::new(&self.id, what);
        Ok(AuditEntry {
            response_id: self
                .response_id
                .parse()
                .map_err(|_| corrupt("response id"))?,
            actor: serde_json::from_value(self.actor.clone()).map_err(|_| corrupt("actor"))?,
            id: self.id,
            body: self.body,
            created_at: self.created_at,
        })
    }
}

/// Appends `response` to the thread of a ticket of `scope`; `Ok(false)` if a response
/// with this id already exists.
pub async fn insert(conn: &mut Conn, scope: &Scope, response: &Response) -> QueryResult<bool> {
    let row = ResponseRow {
        id: response.id.to_string(),
        ticket_id: response.ticket_id.to_string(),
        tenant: scope.tenant.to_string(),
        env: scope.env.as_str().to_owned(),
        kind: response.kind.as_str().to_owned(),
        public: response.public,
        author: serde_json::to_value(&response.author).unwrap_or_default(),
        body: response.body.clone(),
        attachments: serde_json::to_value(&response.attachments).unwrap_or_default(),
        created_at: response.created_at,
    };
    let inserted = diesel::insert_into(responses::table)
        .values(&row)
        .on_conflict(responses::id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Appends an audit entry (its response must exist).
pub async fn insert_audit(
    conn: &mut Conn,
    ticket_id: &TicketId,
    entry: &AuditEntry,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(audit_entries::table)
        .values(AuditRow {
            id: entry.id.clone(),
            response_id: entry.response_id.to_string(),
            ticket_id: ticket_id.to_string(),
            body: entry.body.clone(),
            actor: serde_json::to_value(&entry.actor).unwrap_or_default(),
            created_at: entry.created_at,
        })
        .on_conflict(audit_entries::id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The response `id` of ticket `ticket_id` in `scope`, with its audit entries.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    ticket_id: &TicketId,
    id: &ResponseId,
) -> Result<Option<Response>, StoreError> {
    let row: Option<ResponseRow> = responses::table
        .find(id.to_string())
        .filter(responses::ticket_id.eq(ticket_id.to_string()))
        .filter(responses::tenant.eq(scope.tenant.as_str()))
        .filter(responses::env.eq(scope.env.as_str()))
        .select(ResponseRow::as_select())
        .first(conn)
        .await
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let mut audit = audits_of(conn, vec![row.id.clone()]).await?;
    let entries = audit.remove(&row.id).unwrap_or_default();
    Ok(Some(row.into_response(entries)?))
}

/// The audit entry `id`, if it exists.
pub async fn find_audit(conn: &mut Conn, id: &str) -> Result<Option<AuditEntry>, StoreError> {
    let row: Option<AuditRow> = audit_entries::table
        .find(id)
        .select(AuditRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(AuditRow::into_entry).transpose()?)
}

/// One page of a ticket's thread, oldest first (the order it is read in).
pub async fn page(
    conn: &mut Conn,
    scope: &Scope,
    ticket_id: &TicketId,
    limit: u16,
    cursor: Option<&str>,
) -> Result<Page<Response>, StoreError> {
    let mut q = responses::table
        .filter(responses::ticket_id.eq(ticket_id.to_string()))
        .filter(responses::tenant.eq(scope.tenant.as_str().to_owned()))
        .filter(responses::env.eq(scope.env.as_str()))
        .select(ResponseRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        let after = Cursor::decode_as::<ResponseId>(cursor).ok_or(StoreError::BadCursor)?;
        q = q.filter(responses::id.gt(after.last_id));
    }
    let limit = i64::from(limit.clamp(1, 100));
    let mut rows: Vec<ResponseRow> = q
        .order(responses::id.asc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let mut audit = audits_of(conn, rows.iter().map(|r| r.id.clone()).collect()).await?;
    let data = rows
        .into_iter()
        .map(|row| {
            let entries = audit.remove(&row.id).unwrap_or_default();
            row.into_response(entries)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more {
        data.last().map(|r| Cursor::after_id(&r.id).encode())
    } else {
        None
    };
    Ok(Page {
        data,
        has_more,
        next_cursor,
    })
}

async fn audits_of(
    conn: &mut Conn,
    response_ids: Vec<String>,
) -> Result<HashMap<String, Vec<AuditEntry>>, StoreError> {
    let rows: Vec<AuditRow> = audit_entries::table
        .filter(audit_entries::response_id.eq_any(response_ids))
        .order(audit_entries::id.asc())
        .select(AuditRow::as_select())
        .load(conn)
        .await?;
    let mut by_response: HashMap<String, Vec<AuditEntry>> = HashMap::new();
    for row in rows {
        let key = row.response_id.clone();
        by_response.entry(key).or_default().push(row.into_entry()?);
    }
    Ok(by_response)
}
