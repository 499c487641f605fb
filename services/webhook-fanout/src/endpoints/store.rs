//! Reading and writing endpoint rows. Queries are always scoped by tenant and env, so
//! another tenant's endpoint is simply not found.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    ids::WebhookEndpointId,
    pagination::Page,
    webhooks::{PayloadStyle, WebhookEndpoint},
};
use loopdesk_storage::Conn;
use secrecy::SecretString;

use crate::{
    schema::endpoints,
    secrets::{SecretBox, SecretError},
    store::{StoreError, decode_cursor, paginate},
};

/// A row of `endpoints`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = endpoints, check_for_backend(diesel::pg::Pg))]
pub struct EndpointRow {
    /// `whe_` id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Test or live.
    pub env: String,
    /// Target URL.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Filter.
    pub event_types: Vec<String>,
    /// `full` or `thin`.
    pub payload_style: String,
    /// Custom headers, a JSON object of strings.
    pub headers: serde_json::Value,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why Loopdesk disabled it.
    pub disabled_reason: Option<String>,
    /// The sealed current secret.
    pub secret: Vec<u8>,
    /// The sealed previous secret, during its grace period.
    pub previous_secret: Option<Vec<u8>>,
    /// End of the grace period.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Start of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl EndpointRow {
    /// The contract view of the row.
    pub fn to_endpoint(&self) -> Result<WebhookEndpoint, StoreError> {
        let corrupt = |what| StoreError::corrupt(&self.id, what);
        Ok(WebhookEndpoint {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.event_types.clone(),
            payload_style: PayloadStyle::parse(&self.payload_style)
                .ok_or_else(|| corrupt("payload_style"))?,
            headers: self.custom_headers().map_err(|_| corrupt("headers"))?,
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            failing_since: self.failing_since,
            previous_secret_expires_at: self
                .previous_secret_expires_at
                .filter(|until| *until > Utc::now()),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// The custom headers.
    pub fn custom_headers(&self) -> Result<BTreeMap<String, String>, serde_json::Error> {
        serde_json::from_value(self.headers.clone())
    }

    /// The secrets that sign at `now`: the current one, then the previous one while its
    /// grace period lasts.
    pub fn signing_secrets(
        &self,
        secrets: &SecretBox,
        now: DateTime<Utc>,
    ) -> Result<Vec<SecretString>, SecretError> {
        let mut signing = vec![secrets.open(&self.secret, &self.id)?];
        if let (Some(previous), Some(until)) =
            (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            signing.push(secrets.open(previous, &self.id)?);
        }
        Ok(signing)
    }
}

/// Inserts a new endpoint; `Ok(false)` if one with this id already exists.
pub async fn insert(conn: &mut Conn, row: &EndpointRow) -> QueryResult<bool> {
    let inserted = diesel::insert_into(endpoints::table)
        .values(row)
        .on_conflict(endpoints::id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The endpoint with this id in this scope, locked for update when `for_update`.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    id: &WebhookEndpointId,
    for_update: bool,
) -> QueryResult<Option<EndpointRow>> {
    let query = endpoints::table
        .find(id.to_string())
        .filter(endpoints::tenant.eq(scope.tenant.as_str()))
        .filter(endpoints::env.eq(scope.env.as_str()))
        .select(EndpointRow::as_select());
    if for_update {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// Replaces every column of the row.
pub async fn save(conn: &mut Conn, row: &EndpointRow) -> QueryResult<()> {
    diesel::update(endpoints::table.find(&row.id))
        .set((
            endpoints::url.eq(&row.url),
            endpoints::description.eq(&row.description),
            endpoints::event_types.eq(&row.event_types),
            endpoints::payload_style.eq(&row.payload_style),
            endpoints::headers.eq(&row.headers),
            endpoints::enabled.eq(row.enabled),
            endpoints::disabled_reason.eq(&row.disabled_reason),
            endpoints::secret.eq(&row.secret),
            endpoints::previous_secret.eq(&row.previous_secret),
            endpoints::previous_secret_expires_at.eq(row.previous_secret_expires_at),
            endpoints::failing_since.eq(row.failing_since),
            endpoints::updated_at.eq(row.updated_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// One page of the scope's endpoints, newest first.
pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page<WebhookEndpoint>, StoreError> {
    let mut query = endpoints::table
        .filter(endpoints::tenant.eq(scope.tenant.as_str()))
        .filter(endpoints::env.eq(scope.env.as_str()))
        .select(EndpointRow::as_select())
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(endpoints::id.lt(decode_cursor(cursor, "whe_")?));
    }
    let rows: Vec<EndpointRow> = query
        .order(endpoints::id.desc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let (rows, has_more, next_cursor) = paginate(rows, limit, |r| r.id.clone());
    Ok(Page {
        data: rows
            .iter()
            .map(EndpointRow::to_endpoint)
            .collect::<Result<_, _>>()?,
        has_more,
        next_cursor,
    })
}
