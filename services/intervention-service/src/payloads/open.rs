//! Applying `intervention.payload.open`: the step of the create flow that attaches an
//! intervention instance to a ticket. The same `uid` again refreshes the open payload's
//! data bag; after the last one was accepted it opens a new one.

use chrono::Utc;
use loopdesk_contracts::{
    FieldError, Scope,
    ids::{InterventionPayloadId, TicketId},
    interventions::InterventionPayload,
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Pool, claim};

use crate::{
    apply::ApplyError,
    definitions::{CONSUMER, store as definitions},
    payloads::store::{self, PayloadRow},
};

const MAX_UID: usize = 255;

/// What to open.
#[derive(Debug, Clone)]
pub struct OpenPayload {
    /// Id for a new payload (stable across retries).
    pub id: InterventionPayloadId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// The data bag, as the remote sent it.
    pub data: serde_json::Value,
}

/// Opens (or refreshes) the payload and returns it as stored.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    open: OpenPayload,
) -> Result<InterventionPayload, ApplyError> {
    let mut errors = Vec::new();
    if open.uid.trim().is_empty() || open.uid.len() > MAX_UID {
        errors.push(FieldError::new(
            "uid",
            format!("must be 1 to {MAX_UID} characters"),
        ));
    }
    if !open.data.is_object() {
        errors.push(FieldError::new("data", "must be a JSON object"));
    }
    if !errors.is_empty() {
        return Err(ApplyError::invalid(errors));
    }
    loopdesk_storage::transaction(pool, async |conn| {
        let first = claim(conn, CONSUMER, &request.message_id).await?;
        if definitions::find_row(conn, scope, &open.intervention, false)
            .await?
            .is_none()
        {
            return Err(crate::apply::unknown_intervention(&open.intervention));
        }
        let latest = store::latest_of_uid(conn, scope, &open.intervention, &open.uid).await?;
        let now = Utc::now();
        let id = match latest {
            Some(row) if !first => row.id,
            Some(row) if !row.accepted => {
                store::set_data(conn, &row.id, &open.data, now).await?;
                row.id
            }
            _ => {
                let row = PayloadRow {
                    id: open.id.to_string(),
                    tenant: scope.tenant.as_str().to_owned(),
                    env: scope.env.as_str().to_owned(),
                    ticket_id: open.ticket_id.to_string(),
                    intervention: open.intervention.clone(),
                    uid: open.uid.clone(),
                    accepted: false,
                    data: open.data.clone(),
                    created_at: now,
                    updated_at: now,
                    accepted_at: None,
                };
                store::insert(conn, &row).await?;
                row.id
            }
        };
        let row = store::find(conn, scope, &id)
            .await?
            .ok_or_else(|| ApplyError::Failed(format!("payload {id} vanished")))?;
        Ok(row.into_payload()?)
    })
    .await
}

impl From<crate::definitions::store::CorruptRow> for ApplyError {
    fn from(e: crate::definitions::store::CorruptRow) -> Self {
        ApplyError::Failed(e.to_string())
    }
}
