//! Reading epilog jobs and their attempts, always within the caller's tenant and env.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    epilogs::{EpilogAttempt, EpilogJob, EpilogStatus, FinalReply},
    ids::EpilogJobId,
    pagination::Page,
};
use loopdesk_storage::Conn;

use crate::schema::{epilog_attempts, epilog_jobs};

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A stored row no longer parses: a bug or a hand edit, never input.
    #[error("job {id} is corrupt: {what}")]
    Corrupt {
        /// The row's id.
        id: String,
        /// The unparsable column.
        what: &'static str,
    },
    /// The listing cursor was not one of ours.
    #[error("the cursor is not valid")]
    BadCursor,
}

impl From<StoreError> for loopdesk_runtime::ApplyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) => q.into(),
            other => loopdesk_runtime::ApplyError::failed(other),
        }
    }
}

/// A stored job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = epilog_jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    /// `epj_` id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Test or live.
    pub env: String,
    /// Lifecycle state.
    pub status: String,
    /// The payload it came from.
    pub payload_id: String,
    /// Its ticket.
    pub ticket_id: String,
    /// The initiating response.
    pub response_id: String,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// What staff chose.
    pub action: String,
    /// The edited data bag.
    pub data: serde_json::Value,
    /// The epilog URL when staff submitted.
    pub epilog_url: Option<String>,
    /// The timeout when staff submitted.
    pub timeout_seconds: i32,
    /// Trace context of the submission.
    pub traceparent: Option<String>,
    /// Attempts ever made.
    pub attempts: i32,
    /// Attempts made before the current round.
    pub round_start: i32,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Why the final was rejected.
    pub rejection: Option<String>,
    /// The accepted final.
    pub final_reply: Option<serde_json::Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl JobRow {
    /// The read model.
    pub fn to_job(&self) -> Result<EpilogJob, StoreError> {
        let corrupt = |what| StoreError::Corrupt {
            id: self.id.clone(),
            what,
        };
        let final_reply: Option<FinalReply> = match &self.final_reply {
            Some(value) => {
                Some(serde_json::from_value(value.clone()).map_err(|_| corrupt("final_reply"))?)
            }
            None => None,
        };
        Ok(EpilogJob {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            status: EpilogStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            ticket_id: self.ticket_id.parse().map_err(|_| corrupt("ticket_id"))?,
            payload_id: self.payload_id.parse().map_err(|_| corrupt("payload_id"))?,
            response_id: self
                .response_id
                .parse()
                .map_err(|_| corrupt("response_id"))?,
            intervention: self.intervention.clone(),
            uid: self.uid.clone(),
            action: self.action.clone(),
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error.clone(),
            rejection: self.rejection.clone(),
            final_reply,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The scope's job `id`, if it exists.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    id: &EpilogJobId,
) -> Result<Option<JobRow>, StoreError> {
    Ok(epilog_jobs::table
        .find(id.to_string())
        .filter(epilog_jobs::tenant.eq(scope.tenant.as_str()))
        .filter(epilog_jobs::env.eq(scope.env.as_str()))
        .select(JobRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// One page of the scope's jobs, newest first, optionally of one status.
pub async fn list(
    conn: &mut Conn,
    scope: &Scope,
    status: Option<EpilogStatus>,
    limit: i64,
    cursor: Option<&str>,
) -> Result<Page<EpilogJob>, StoreError> {
    let mut query = epilog_jobs::table
        .filter(epilog_jobs::tenant.eq(scope.tenant.as_str()))
        .filter(epilog_jobs::env.eq(scope.env.as_str()))
        .select(JobRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(epilog_jobs::status.eq(status.as_str()));
    }
    if let Some(cursor) = cursor {
        query = query.filter(epilog_jobs::id.lt(decode_cursor(cursor)?));
    }
    let mut rows: Vec<JobRow> = query
        .order(epilog_jobs::id.desc())
        .limit(limit + 1)
        .load(conn)
        .await?;
    let has_more = rows.len() > usize::try_from(limit).unwrap_or(0);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if has_more {
        rows.last().map(|r| encode_cursor(&r.id))
    } else {
        None
    };
    Ok(Page {
        data: rows.iter().map(JobRow::to_job).collect::<Result<_, _>>()?,
        has_more,
        next_cursor,
    })
}

/// Every attempt of job `id`, oldest first.
pub async fn attempts_of(conn: &mut Conn, id: &str) -> Result<Vec<EpilogAttempt>, StoreError> {
    type Row = (
        DateTime<Utc>,
        Option<i32>,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = epilog_attempts::table
        .filter(epilog_attempts::job_id.eq(id))
        .order(epilog_attempts::id.asc())
        .select((
            epilog_attempts::attempted_at,
            epilog_attempts::status_code,
            epilog_attempts::latency_ms,
            epilog_attempts::error,
            epilog_attempts::refused_reason,
            epilog_attempts::response_excerpt,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(attempted_at, status, latency, error, refused_reason, response_excerpt)| {
                EpilogAttempt {
                    attempted_at,
                    status_code: status.and_then(|s| u16::try_from(s).ok()),
                    latency_ms: u64::try_from(latency).unwrap_or(0),
                    error,
                    refused_reason,
                    response_excerpt,
                }
            },
        )
        .collect())
}

const CURSOR_VERSION: &str = "v1:";

fn encode_cursor(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}{last_id}"))
}

fn decode_cursor(text: &str) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let id = text
        .strip_prefix(CURSOR_VERSION)
        .filter(|id| id.starts_with("epj_") && id.len() <= 64)
        .ok_or(StoreError::BadCursor)?;
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = encode_cursor("epj_01");
        assert_eq!(decode_cursor(&cursor).ok(), Some("epj_01".to_owned()));
        assert!(decode_cursor(&encode_cursor("dlv_01")).is_err());
        assert!(decode_cursor("not base64!").is_err());
    }
}
