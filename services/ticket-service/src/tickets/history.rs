//! Reading a ticket's status history (written by [`crate::tickets::change`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{ids::TicketId, responses::StatusChange, tickets::Status};
use loopdesk_storage::Conn;

use crate::{
    schema::status_history,
    tickets::store::{CorruptRow, StoreError},
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = status_history, check_for_backend(diesel::pg::Pg))]
struct HistoryRow {
    ticket_id: String,
    from_status: Option<String>,
    to_status: String,
    reason: Option<String>,
    actor: serde_json::Value,
    at: DateTime<Utc>,
}

/// Every status change of the ticket, oldest first, from its creation.
pub async fn of(conn: &mut Conn, id: &TicketId) -> Result<Vec<StatusChange>, StoreError> {
    let rows: Vec<HistoryRow> = status_history::table
        .filter(status_history::ticket_id.eq(id.to_string()))
        .order(status_history::id.asc())
        .select(HistoryRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            let corrupt = |what| CorruptRow::new(&row.ticket_id, what);
            Ok(StatusChange {
                from: row
                    .from_status
                    .as_deref()
                    .map(|s| Status::parse(s).ok_or_else(|| corrupt("history from")))
                    .transpose()?,
                to: Status::parse(&row.to_status).ok_or_else(|| corrupt("history to"))?,
                actor: serde_json::from_value(row.actor.clone())
                    .map_err(|_| corrupt("history actor"))?,
                reason: row.reason,
                at: row.at,
            })
        })
        .collect()
}
