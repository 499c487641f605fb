//! Listing a scope's tickets with filters, newest first, and full-text search over the
//! subject, the description and the whole thread (notes included: agents search).

use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Bool, Text},
};
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    pagination::Page,
    tickets::{Ticket, TicketQuery},
};
use loopdesk_storage::Conn;

use crate::{
    schema::tickets,
    tickets::{
        cursor::Cursor,
        store::{StoreError, TicketRow},
    },
};

/// One page of the scope's tickets, newest first. Deleted tickets are left out.
pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    query: &TicketQuery,
) -> Result<Page<Ticket>, StoreError> {
    let mut q = tickets::table
        .filter(tickets::tenant.eq(scope.tenant.as_str().to_owned()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .filter(tickets::deleted_at.is_null())
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
    if let Some(assignee) = &query.assignee {
        q = q.filter(tickets::assignee.eq(assignee.clone()));
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
    if let Some(after) = query.updated_after {
        q = q.filter(tickets::updated_at.ge(after));
    }
    match query.sla_breached {
        Some(true) => {
            q = q.filter(
                tickets::first_response_breached_at
                    .is_not_null()
                    .or(tickets::resolution_breached_at.is_not_null()),
            );
        }
        Some(false) => {
            q = q.filter(
                tickets::first_response_breached_at
                    .is_null()
                    .and(tickets::resolution_breached_at.is_null()),
            );
        }
        None => {}
    }
    if let Some(text) = query.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        // The `search` columns are generated tsvectors with GIN indexes (see migrations).
        q = q.filter(
            sql::<Bool>("(tickets.search @@ websearch_to_tsquery('english', ")
                .bind::<Text, _>(text.to_owned())
                .sql(") OR EXISTS (SELECT 1 FROM responses r WHERE r.ticket_id = tickets.id AND r.search @@ websearch_to_tsquery('english', ")
                .bind::<Text, _>(text.to_owned())
                .sql(")))"),
        );
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
