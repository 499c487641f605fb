//! Applying endpoint commands: each runs in one transaction with its inbox record, so a
//! redelivered command changes nothing twice.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    DomainError, Scope,
    ids::WebhookEndpointId,
    webhooks::{EndpointPatch, NewEndpoint, WebhookReply},
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, claim};

use crate::{
    apply::ApplyError,
    cascade,
    endpoints::{
        store::{self, EndpointRow},
        validate::Checks,
    },
    owner::{COMMAND_INBOX, Owner},
    schema::deliveries,
    secrets::generate_secret,
};

/// Creates the endpoint; the reply carries its secret only the first time.
pub async fn create(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    endpoint: NewEndpoint,
) -> Result<WebhookReply, ApplyError> {
    let mut checks = Checks::new(owner.allow_http);
    checks.url(&endpoint.url);
    checks.event_types(&endpoint.event_types);
    checks.headers(&endpoint.headers);
    checks.description(endpoint.description.as_deref());
    checks.finish().map_err(ApplyError::Rejected)?;

    let secret = generate_secret();
    let id = endpoint.id.to_string();
    let now = Utc::now();
    let row = EndpointRow {
        secret: owner.secrets.seal(&secret, &id)?,
        id,
        tenant: scope.tenant.to_string(),
        env: scope.env.as_str().to_owned(),
        url: endpoint.url,
        description: endpoint.description.filter(|d| !d.is_empty()),
        event_types: dedup(endpoint.event_types),
        payload_style: endpoint.payload_style.as_str().to_owned(),
        headers: serde_json::to_value(&endpoint.headers).unwrap_or_default(),
        enabled: endpoint.enabled,
        disabled_reason: None,
        previous_secret: None,
        previous_secret_expires_at: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    loopdesk_storage::transaction(&owner.pool, async |conn| {
        let created = claim(conn, COMMAND_INBOX, &request.message_id).await?
            && store::insert(conn, &row).await?;
        let stored = store::find(conn, scope, &endpoint.id, false)
            .await?
            .ok_or_else(|| {
                // The id is taken in another scope: refuse without saying by whom.
                ApplyError::conflict(
                    "endpoint_id_conflict",
                    "Endpoint id already in use",
                    format!("endpoint id {} is already in use", endpoint.id),
                )
            })?;
        Ok(WebhookReply::Endpoint {
            endpoint: Box::new(stored.to_endpoint()?),
            secret: created.then_some(secret),
        })
    })
    .await
}

/// Changes the endpoint's fields.
pub async fn update(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    id: &WebhookEndpointId,
    patch: EndpointPatch,
) -> Result<WebhookReply, ApplyError> {
    let mut checks = Checks::new(owner.allow_http);
    if let Some(url) = &patch.url {
        checks.url(url);
    }
    if let Some(types) = &patch.event_types {
        checks.event_types(types);
    }
    if let Some(headers) = &patch.headers {
        checks.headers(headers);
    }
    checks.description(patch.description.as_deref());
    checks.finish().map_err(ApplyError::Rejected)?;

    loopdesk_storage::transaction(&owner.pool, async |conn| {
        let mut row = found(store::find(conn, scope, id, true).await?)?;
        if claim(conn, COMMAND_INBOX, &request.message_id).await? {
            apply_patch(&mut row, patch);
            row.updated_at = Utc::now();
            store::save(conn, &row).await?;
            if !row.enabled {
                kill_pending(conn, &row.id, "the endpoint is disabled").await?;
            }
        }
        Ok(WebhookReply::Endpoint {
            endpoint: Box::new(row.to_endpoint()?),
            secret: None,
        })
    })
    .await
}

fn apply_patch(row: &mut EndpointRow, patch: EndpointPatch) {
    if let Some(url) = patch.url {
        row.url = url;
    }
    if let Some(description) = patch.description {
        row.description = Some(description).filter(|d| !d.is_empty());
    }
    if let Some(types) = patch.event_types {
        row.event_types = dedup(types);
    }
    if let Some(style) = patch.payload_style {
        row.payload_style = style.as_str().to_owned();
    }
    if let Some(headers) = patch.headers {
        row.headers = serde_json::to_value(headers).unwrap_or_default();
    }
    match patch.enabled {
        // Enabling again starts afresh: the old reason and failure run no longer hold.
        Some(true) => {
            row.enabled = true;
            row.disabled_reason = None;
            row.failing_since = None;
        }
        Some(false) => row.enabled = false,
        None => {}
    }
}

/// Deletes the endpoint with its deliveries and their attempts.
pub async fn delete(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    id: &WebhookEndpointId,
) -> Result<WebhookReply, ApplyError> {
    loopdesk_storage::transaction(&owner.pool, async |conn| {
        if claim(conn, COMMAND_INBOX, &request.message_id).await? {
            let row = found(store::find(conn, scope, id, true).await?)?;
            diesel::delete(crate::schema::endpoints::table.find(&row.id))
                .execute(conn)
                .await?;
            cascade::delete_endpoint_deliveries(conn, &row.id).await?;
        }
        Ok(WebhookReply::Deleted { id: *id })
    })
    .await
}

/// Replaces the secret; the old one signs too until the grace period ends.
pub async fn rotate_secret(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    id: &WebhookEndpointId,
) -> Result<WebhookReply, ApplyError> {
    let secret = generate_secret();
    loopdesk_storage::transaction(&owner.pool, async |conn| {
        let mut row = found(store::find(conn, scope, id, true).await?)?;
        let rotated = claim(conn, COMMAND_INBOX, &request.message_id).await?;
        if rotated {
            let now = Utc::now();
            row.previous_secret = Some(std::mem::take(&mut row.secret));
            row.previous_secret_expires_at = Some(now + owner.rotation_grace);
            row.secret = owner.secrets.seal(&secret, &row.id)?;
            row.updated_at = now;
            store::save(conn, &row).await?;
        }
        Ok(WebhookReply::Endpoint {
            endpoint: Box::new(row.to_endpoint()?),
            secret: rotated.then_some(secret),
        })
    })
    .await
}

/// Schedules again every dead delivery of the endpoint created in `[since, until)`.
pub async fn recover(
    owner: &Owner,
    scope: &Scope,
    request: &Envelope,
    id: &WebhookEndpointId,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<WebhookReply, ApplyError> {
    let until = until.unwrap_or_else(Utc::now);
    if since >= until {
        let mut error = DomainError::new(
            422,
            "validation_failed",
            "Validation failed",
            "the recovery window is empty",
        );
        error.errors = vec![loopdesk_contracts::FieldError::new(
            "since",
            "must be before `until`",
        )];
        return Err(ApplyError::Rejected(Box::new(error)));
    }
    loopdesk_storage::transaction(&owner.pool, async |conn| {
        let row = found(store::find(conn, scope, id, false).await?)?;
        if !row.enabled {
            return Err(endpoint_disabled());
        }
        let mut scheduled = 0;
        if claim(conn, COMMAND_INBOX, &request.message_id).await? {
            let now = Utc::now();
            scheduled = diesel::update(
                deliveries::table
                    .filter(deliveries::endpoint_id.eq(&row.id))
                    .filter(deliveries::status.eq("dead"))
                    .filter(deliveries::created_at.ge(since))
                    .filter(deliveries::created_at.lt(until)),
            )
            .set((
                deliveries::status.eq("pending"),
                deliveries::attempts.eq(0),
                deliveries::next_attempt_at.eq(Some(now)),
                deliveries::locked_until.eq(None::<DateTime<Utc>>),
                deliveries::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        }
        Ok(WebhookReply::Recovering {
            id: *id,
            deliveries: i64::try_from(scheduled).unwrap_or(i64::MAX),
        })
    })
    .await
}

/// Marks the endpoint's pending deliveries dead: a disabled endpoint gets nothing.
pub async fn kill_pending(conn: &mut Conn, endpoint_id: &str, reason: &str) -> QueryResult<usize> {
    diesel::update(
        deliveries::table
            .filter(deliveries::endpoint_id.eq(endpoint_id))
            .filter(deliveries::status.eq("pending")),
    )
    .set((
        deliveries::status.eq("dead"),
        deliveries::next_attempt_at.eq(None::<DateTime<Utc>>),
        deliveries::last_error.eq(reason),
        deliveries::updated_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await
}

/// The 409 for replaying to a disabled endpoint.
pub fn endpoint_disabled() -> ApplyError {
    ApplyError::conflict(
        "endpoint_disabled",
        "Endpoint disabled",
        "enable the endpoint (PATCH enabled=true) before replaying deliveries to it",
    )
}

fn found(row: Option<EndpointRow>) -> Result<EndpointRow, ApplyError> {
    row.ok_or_else(|| ApplyError::not_found("webhook endpoint"))
}

fn dedup(mut types: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    types.retain(|t| seen.insert(t.clone()));
    types
}
