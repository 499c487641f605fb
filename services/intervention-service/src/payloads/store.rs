//! Payload rows, always scoped by tenant and env.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{Scope, ids::TicketId, interventions::InterventionPayload};
use loopdesk_storage::Conn;

use crate::{definitions::store::CorruptRow, schema::intervention_payloads as payloads};

/// A payload's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payloads, check_for_backend(diesel::pg::Pg))]
pub struct PayloadRow {
    /// `itv_` id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Test or live.
    pub env: String,
    /// The ticket.
    pub ticket_id: String,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// Completed by the remote.
    pub accepted: bool,
    /// The data bag.
    pub data: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
}

impl PayloadRow {
    /// The contract view of the row.
    pub fn into_payload(self) -> Result<InterventionPayload, CorruptRow> {
        Ok(InterventionPayload {
            id: self
                .id
                .parse()
                .map_err(|_| CorruptRow(format!("payload id {}", self.id)))?,
            ticket_id: self
                .ticket_id
                .parse()
                .map_err(|_| CorruptRow(format!("ticket id {}", self.ticket_id)))?,
            intervention: self.intervention,
            uid: self.uid,
            accepted: self.accepted,
            data: self.data,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn scoped(scope: &Scope) -> payloads::BoxedQuery<'static, diesel::pg::Pg> {
    payloads::table
        .filter(payloads::tenant.eq(scope.tenant.as_str().to_owned()))
        .filter(payloads::env.eq(scope.env.as_str().to_owned()))
        .into_boxed()
}

/// The most recent payload of `uid` for `intervention`, locked when `lock`.
pub async fn latest_of_uid(
    conn: &mut Conn,
    scope: &Scope,
    intervention: &str,
    uid: &str,
) -> QueryResult<Option<PayloadRow>> {
    payloads::table
        .filter(payloads::tenant.eq(scope.tenant.as_str()))
        .filter(payloads::env.eq(scope.env.as_str()))
        .filter(payloads::intervention.eq(intervention))
        .filter(payloads::uid.eq(uid))
        .order((payloads::created_at.desc(), payloads::id.desc()))
        .select(PayloadRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The payload `id` in `scope`.
pub async fn find(conn: &mut Conn, scope: &Scope, id: &str) -> QueryResult<Option<PayloadRow>> {
    scoped(scope)
        .filter(payloads::id.eq(id.to_owned()))
        .select(PayloadRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a payload; false when its id exists already.
pub async fn insert(conn: &mut Conn, row: &PayloadRow) -> QueryResult<bool> {
    let n = diesel::insert_into(payloads::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Replaces a payload's data bag.
pub async fn set_data(
    conn: &mut Conn,
    id: &str,
    data: &serde_json::Value,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(payloads::table.find(id.to_owned()))
        .set((payloads::data.eq(data), payloads::updated_at.eq(at)))
        .execute(conn)
        .await?;
    Ok(())
}

/// The ticket's unaccepted payloads, oldest first.
pub async fn open_of_ticket(
    conn: &mut Conn,
    scope: &Scope,
    ticket: &TicketId,
) -> QueryResult<Vec<PayloadRow>> {
    scoped(scope)
        .filter(payloads::ticket_id.eq(ticket.to_string()))
        .filter(payloads::accepted.eq(false))
        .order((payloads::created_at.asc(), payloads::id.asc()))
        .select(PayloadRow::as_select())
        .load(conn)
        .await
}

/// The payload `id` in `scope`, locked for the rest of the transaction.
pub async fn lock(conn: &mut Conn, scope: &Scope, id: &str) -> QueryResult<Option<PayloadRow>> {
    payloads::table
        .filter(payloads::tenant.eq(scope.tenant.as_str()))
        .filter(payloads::env.eq(scope.env.as_str()))
        .filter(payloads::id.eq(id))
        .select(PayloadRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Moves an open payload to `ticket` (a follow-up) with a new data bag.
pub async fn move_to(
    conn: &mut Conn,
    id: &str,
    ticket: &TicketId,
    data: &serde_json::Value,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(payloads::table.find(id.to_owned()))
        .set((
            payloads::ticket_id.eq(ticket.to_string()),
            payloads::data.eq(data),
            payloads::updated_at.eq(at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks a payload accepted; false when it already was.
pub async fn accept(
    conn: &mut Conn,
    scope: &Scope,
    id: &str,
    at: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(payloads::table.find(id.to_owned()))
        .filter(payloads::tenant.eq(scope.tenant.as_str().to_owned()))
        .filter(payloads::env.eq(scope.env.as_str().to_owned()))
        .filter(payloads::accepted.eq(false))
        .set((
            payloads::accepted.eq(true),
            payloads::accepted_at.eq(Some(at)),
            payloads::updated_at.eq(at),
        ))
        .execute(conn)
        .await?;
    Ok(n == 1)
}
