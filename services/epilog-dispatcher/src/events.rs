//! `epilog.*` outcome events, written to the outbox in the transaction that records the
//! outcome.

use chrono::Utc;
use loopdesk_contracts::{
    Env, Tenant,
    epilogs::{
        EPILOG_COMPLETED, EPILOG_FAILED, EPILOG_FINAL_REJECTED, EpilogOutcome, OutcomeDetail,
    },
    ids::EventId,
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Conn, enqueue};

use crate::store::{JobRow, StoreError};

/// Enqueues the outcome `detail` of `job`.
pub async fn record(
    conn: &mut Conn,
    job: &JobRow,
    detail: OutcomeDetail,
) -> Result<(), StoreError> {
    let kind = match detail {
        OutcomeDetail::Completed { .. } => EPILOG_COMPLETED,
        OutcomeDetail::Failed { .. } => EPILOG_FAILED,
        OutcomeDetail::FinalRejected { .. } => EPILOG_FINAL_REJECTED,
    };
    let corrupt = |what| StoreError::Corrupt {
        id: job.id.clone(),
        what,
    };
    let event = EpilogOutcome {
        id: EventId::generate(),
        kind: kind.to_owned(),
        created_at: Utc::now(),
        tenant: Tenant::parse(job.tenant.clone()).map_err(|_| corrupt("tenant"))?,
        env: job.env.parse::<Env>().map_err(|_| corrupt("env"))?,
        job_id: job.id.parse().map_err(|_| corrupt("id"))?,
        payload_id: job.payload_id.parse().map_err(|_| corrupt("payload_id"))?,
        ticket_id: job.ticket_id.parse().map_err(|_| corrupt("ticket_id"))?,
        response_id: job
            .response_id
            .parse()
            .map_err(|_| corrupt("response_id"))?,
        intervention: job.intervention.clone(),
        uid: job.uid.clone(),
        detail,
    };
    let mut envelope = Envelope::new(kind, job.tenant.as_str(), job.env.as_str());
    // One trace from the staff's submit to the outcome.
    envelope.traceparent = job.traceparent.clone();
    let message = OutgoingMessage {
        route: Route::Event(kind.to_owned()),
        envelope,
        body: serde_json::to_vec(&event).map_err(|_| corrupt("event"))?,
    };
    enqueue(conn, &message).await?;
    Ok(())
}
