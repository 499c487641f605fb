//! Epilogs (seed 000 §5.4–5.5, DESIGN.md §7): the submission the intervention service
//! publishes, the epilog dispatcher's outcome events, its read models (jobs and their
//! attempts) and the staff command that retries a job.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    actor::Actor,
    ids::{EpilogJobId, EventId, InterventionPayloadId, ResponseId, TicketId},
    problem::DomainError,
    tenancy::{Env, Tenant},
};

/// Routing key of [`InterventionSubmitted`].
pub const INTERVENTION_SUBMITTED: &str = "intervention.submitted";
/// `epilog.completed`: the remote answered `ok` (and its `final`, if any, passed).
pub const EPILOG_COMPLETED: &str = "epilog.completed";
/// `epilog.failed`: the remote could not be reached or refused, for good.
pub const EPILOG_FAILED: &str = "epilog.failed";
/// `epilog.final_rejected`: the remote's `final` failed the checks.
pub const EPILOG_FINAL_REJECTED: &str = "epilog.final_rejected";
/// Command name of [`EpilogCommand::Retry`].
pub const RETRY_EPILOG: &str = "epilog.retry";
/// Every command name the epilog dispatcher consumes.
pub const ALL_EPILOG_COMMANDS: [&str; 1] = [RETRY_EPILOG];

/// How a submission reaches the remote, as the definition stood when staff submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoteCall {
    /// Whether the definition sends epilogs at all.
    pub enabled: bool,
    /// The remote's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Where the epilog is POSTed.
    #[serde(default)]
    pub epilog_url: Option<String>,
    /// Request timeout in seconds.
    pub timeout_seconds: u32,
}

/// `intervention.submitted`: staff submitted an intervention payload (its response, if
/// any, is already posted); the epilog dispatcher turns it into a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InterventionSubmitted {
    /// `evt_` id.
    pub id: EventId,
    /// When the submission was committed.
    pub created_at: DateTime<Utc>,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// The submitted payload.
    pub payload_id: InterventionPayloadId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// The staff response that initiated the epilog.
    pub response_id: ResponseId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// The action staff chose.
    pub action: String,
    /// The edited data bag.
    pub data: serde_json::Value,
    /// Where and how to call the remote.
    pub remote: RemoteCall,
}

/// The remote's `final` object (seed §5.5): checked before anything acts on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FinalReply {
    /// The initiating response, as the remote echoes it.
    pub response_id: String,
    /// Text appended to the initiating response.
    pub ticket_audit: String,
    /// Everything else the remote sent, bound to the `{name}.final` template.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What became of an epilog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OutcomeDetail {
    /// The remote answered `ok`; its `final`, if any, passed the checks.
    Completed {
        /// The remote's final object.
        #[serde(rename = "final")]
        final_reply: Option<FinalReply>,
    },
    /// Retries were exhausted or the remote refused for good.
    Failed {
        /// What went wrong, for staff.
        reason: String,
        /// Attempts made so far.
        attempts: u32,
    },
    /// The remote's `final` failed the checks; nothing acts on it.
    FinalRejected {
        /// Which check failed.
        reason: String,
    },
}

/// `epilog.completed | epilog.failed | epilog.final_rejected`, published on the events
/// exchange with the type as routing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EpilogOutcome {
    /// `evt_` id.
    pub id: EventId,
    /// Event type (see the constants).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the outcome was committed.
    pub created_at: DateTime<Utc>,
    /// Owning tenant.
    pub tenant: Tenant,
    /// Test or live.
    pub env: Env,
    /// The job.
    pub job_id: EpilogJobId,
    /// The payload it came from.
    pub payload_id: InterventionPayloadId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// The initiating response.
    pub response_id: ResponseId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// What happened.
    pub detail: OutcomeDetail,
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EpilogStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The remote answered `ok`.
    Succeeded,
    /// Given up; staff may retry.
    Failed,
    /// The remote's `final` failed the checks; staff may retry.
    Rejected,
    /// The definition sends no epilogs.
    Skipped,
}

impl EpilogStatus {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            EpilogStatus::Pending => "pending",
            EpilogStatus::Succeeded => "succeeded",
            EpilogStatus::Failed => "failed",
            EpilogStatus::Rejected => "rejected",
            EpilogStatus::Skipped => "skipped",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(EpilogStatus::Pending),
            "succeeded" => Some(EpilogStatus::Succeeded),
            "failed" => Some(EpilogStatus::Failed),
            "rejected" => Some(EpilogStatus::Rejected),
            "skipped" => Some(EpilogStatus::Skipped),
            _ => None,
        }
    }
}

/// One epilog job as staff see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpilogJob {
    /// `epj_` id.
    pub id: EpilogJobId,
    /// Where it stands.
    pub status: EpilogStatus,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// The payload it came from.
    pub payload_id: InterventionPayloadId,
    /// The initiating response.
    pub response_id: ResponseId,
    /// The intervention's name.
    pub intervention: String,
    /// The remote's correlation id.
    pub uid: String,
    /// The action staff chose.
    pub action: String,
    /// Attempts made (continues across staff retries).
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Why the remote's `final` was rejected.
    pub rejection: Option<String>,
    /// The remote's accepted `final`.
    #[serde(rename = "final")]
    pub final_reply: Option<FinalReply>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One call to the remote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpilogAttempt {
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The remote's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// The network or protocol error, if any.
    pub error: Option<String>,
    /// Why outbound safety refused to call, if it did.
    pub refused_reason: Option<String>,
    /// The start of the remote's answer (at most 1 KiB).
    pub response_excerpt: Option<String>,
}

/// A job with its attempts, oldest first (`GET /v1/epilog_jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpilogJobDetail {
    /// The job.
    #[serde(flatten)]
    pub job: EpilogJob,
    /// Its attempts.
    pub attempts_log: Vec<EpilogAttempt>,
}

/// Every command the epilog dispatcher takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum EpilogCommand {
    /// Schedule a failed or rejected job again, now.
    #[serde(rename = "epilog.retry")]
    Retry {
        /// Which job.
        job_id: EpilogJobId,
        /// Who asked.
        actor: Actor,
    },
}

/// The epilog dispatcher's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EpilogReply {
    /// The job as it now stands.
    Job {
        /// The job.
        job: Box<EpilogJob>,
    },
    /// Refused (unknown job, wrong state).
    Rejected {
        /// Why.
        error: DomainError,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn outcome_detail_is_tagged_and_final_is_renamed() {
        let detail = OutcomeDetail::Completed { final_reply: None };
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"outcome": "completed", "final": null})
        );
        let reply: FinalReply = serde_json::from_value(serde_json::json!({
            "response_id": "rsp_1", "ticket_audit": "done", "discount": 5
        }))
        .unwrap();
        assert_eq!(reply.extra.get("discount"), Some(&serde_json::json!(5)));
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            EpilogStatus::Pending,
            EpilogStatus::Succeeded,
            EpilogStatus::Failed,
            EpilogStatus::Rejected,
            EpilogStatus::Skipped,
        ] {
            assert_eq!(EpilogStatus::parse(status.as_str()), Some(status));
        }
    }
}
