//! Deliveries and their attempts as the API shows them, and `delivery.redeliver`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    ids::{DeliveryId, WebhookEndpointId},
    pagination::Page,
    webhooks::{Delivery, DeliveryAttempt, DeliveryStatus, WebhookReply},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, claim};

use crate::{
    apply::ApplyError,
    endpoints::apply::endpoint_disabled,
    owner::{COMMAND_INBOX, Owner},
    schema::{deliveries, delivery_attempts, endpoints},
    store::{StoreError, decode_cursor, paginate},
};

/// Most attempts listed for one delivery (newest first).
const MAX_ATTEMPTS_LISTED: i64 = 100;

/// A row of `deliveries`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg))]
pub struct DeliveryRow {
    /// `dlv_` id.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Test or live.
    pub env: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `succeeded` or `dead`.
    pub status: String,
    /// Attempts since (re)scheduling.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Lease of the sending instance.
    pub locked_until: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl DeliveryRow {
    /// The contract view of the row.
    pub fn to_delivery(&self) -> Result<Delivery, StoreError> {
        let corrupt = |what| StoreError::corrupt(&self.id, what);
        Ok(Delivery {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            endpoint_id: self
                .endpoint_id
                .parse()
                .map_err(|_| corrupt("endpoint_id"))?,
            event_id: self.event_id.parse().map_err(|_| corrupt("event_id"))?,
            event_type: self.event_type.clone(),
            status: DeliveryStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = delivery_attempts, check_for_backend(diesel::pg::Pg))]
struct AttemptRow {
    id: i64,
    delivery_id: String,
    attempted_at: DateTime<Utc>,
    succeeded: bool,
    status_code: Option<i32>,
    latency_ms: i64,
    error: Option<String>,
    refused_reason: Option<String>,
    response_excerpt: Option<String>,
}

async fn find(conn: &mut Conn, scope: &Scope, id: &DeliveryId) -> QueryResult<Option<DeliveryRow>> {
    deliveries::table
        .find(id.to_string())
        .filter(deliveries::tenant.eq(scope.tenant.as_str()))
        .filter(deliveries::env.eq(scope.env.as_str()))
        .select(DeliveryRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// One page of an endpoint's deliveries, newest first; `None` when the endpoint is not
/// in the scope.
pub async fn list_for_endpoint(
    conn: &mut Conn,
    scope: &Scope,
    endpoint: &WebhookEndpointId,
    status: Option<DeliveryStatus>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Option<Page<Delivery>>, StoreError> {
    let exists: i64 = endpoints::table
        .find(endpoint.to_string())
        .filter(endpoints::tenant.eq(scope.tenant.as_str()))
        .filter(endpoints::env.eq(scope.env.as_str()))
        .count()
        .get_result(conn)
        .await?;
    if exists == 0 {
        return Ok(None);
    }
    let mut query = deliveries::table
        .filter(deliveries::endpoint_id.eq(endpoint.to_string()))
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(deliveries::status.eq(status.as_str()));
    }
    if let Some(cursor) = cursor {
        query = query.filter(deliveries::id.lt(decode_cursor(cursor, "dlv_")?));
    }
    let rows: Vec<DeliveryRow> = query
        .order(deliveries::id.desc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let (rows, has_more, next_cursor) = paginate(rows, limit, |r| r.id.clone());
    Ok(Some(Page {
        data: rows
            .iter()
            .map(DeliveryRow::to_delivery)
            .collect::<Result<_, _>>()?,
        has_more,
        next_cursor,
    }))
}

/// The newest attempts of a delivery, oldest first; `None` when the delivery is not in
/// the scope.
pub async fn attempts_of(
    conn: &mut Conn,
    scope: &Scope,
    id: &DeliveryId,
) -> Result<Option<Page<DeliveryAttempt>>, StoreError> {
    let exists: i64 = deliveries::table
        .find(id.to_string())
        .filter(deliveries::tenant.eq(scope.tenant.as_str()))
        .filter(deliveries::env.eq(scope.env.as_str()))
        .count()
        .get_result(conn)
        .await?;
    if exists == 0 {
        return Ok(None);
    }
    let mut rows: Vec<AttemptRow> = delivery_attempts::table
        .filter(delivery_attempts::delivery_id.eq(id.to_string()))
        .order(delivery_attempts::id.desc())
        .limit(MAX_ATTEMPTS_LISTED + 1)
        .select(AttemptRow::as_select())
        .load(conn)
        .await?;
    let has_more = rows.len() as i64 > MAX_ATTEMPTS_LISTED;
    rows.truncate(MAX_ATTEMPTS_LISTED as usize);
    rows.reverse();
    let data = rows
        .into_iter()
        .map(|row| {
            Ok(DeliveryAttempt {
                id: row.id,
                delivery_id: row
                    .delivery_id
                    .parse()
                    .map_err(|_| StoreError::corrupt(&row.delivery_id, "delivery_id"))?,
                attempted_at: row.attempted_at,
                succeeded: row.succeeded,
                status_code: row.status_code.and_then(|c| u16::try_from(c).ok()),
                latency_ms: row.latency_ms,
                error: row.error,
                refused_reason: row.refused_reason,
                response_excerpt: row.response_excerpt,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(Page {
        data,
        has_more,
        next_cursor: None,
    }))
}

/// Schedules a finished delivery again, from its first attempt.
pub async fn redeliver(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    id: &DeliveryId,
) -> Result<WebhookReply, ApplyError> {
    loopdesk_storage::transaction(&owner.pool, async |conn| {
        let mut row = find(conn, scope, id)
            .await?
            .ok_or_else(|| ApplyError::not_found("delivery"))?;
        if claim(conn, COMMAND_INBOX, &request.message_id).await? {
            if row.status == DeliveryStatus::Pending.as_str() {
                return Err(ApplyError::conflict(
                    "delivery_pending",
                    "Delivery already scheduled",
                    "the delivery is still pending; it will be attempted as scheduled",
                ));
            }
            let enabled: bool = endpoints::table
                .find(&row.endpoint_id)
                .select(endpoints::enabled)
                .first(conn)
                .await?;
            if !enabled {
                return Err(endpoint_disabled());
            }
            let now = Utc::now();
            row = diesel::update(deliveries::table.find(&row.id))
                .set((
                    deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                    deliveries::attempts.eq(0),
                    deliveries::next_attempt_at.eq(Some(now)),
                    deliveries::locked_until.eq(None::<DateTime<Utc>>),
                    deliveries::updated_at.eq(now),
                ))
                .returning(DeliveryRow::as_returning())
                .get_result(conn)
                .await?;
        }
        Ok(WebhookReply::Delivery {
            delivery: Box::new(row.to_delivery()?),
        })
    })
    .await
}
