//! Applying `intervention.submit` (seed §5.4): staff's edited data bag is checked
//! against the fields and stored, the initiating response is posted (the staff's own,
//! or a private note recording the submission, so there always is one), and
//! `intervention.submitted` asks the epilog dispatcher to call the remote. It is
//! emitted even when the definition has no remote: the dispatcher records that job as
//! skipped, so every submission is visible in one place.

use chrono::Utc;
use loopdesk_contracts::{
    DomainError, FieldError, Scope,
    epilogs::{INTERVENTION_SUBMITTED, InterventionSubmitted, RemoteCall},
    ids::EventId,
    interventions::{InterventionPayload, SubmitIntervention},
    responses::{Author, AuthorKind, NewResponse, ResponseKind},
    tickets::Status,
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Pool, claim, enqueue};

use crate::{
    apply::ApplyError,
    definitions::{CONSUMER, store as definitions},
    flow::{data, ticket_commands as commands, ticket_status},
    payloads::store as payloads,
};

const MAX_ACTION: usize = 64;
const MAX_BODY: usize = 65_536;

fn payload_not_found(id: &str) -> ApplyError {
    ApplyError::rejected(DomainError::new(
        404,
        "intervention_payload_not_found",
        "Intervention payload not found",
        format!("the ticket has no intervention payload `{id}`"),
    ))
}

/// Submits the payload unless this command was already applied; answers the payload as
/// stored.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: SubmitIntervention,
) -> Result<InterventionPayload, ApplyError> {
    let mut errors = Vec::new();
    let action = command.action.trim();
    if action.is_empty() || action.chars().count() > MAX_ACTION {
        errors.push(FieldError::new(
            "action",
            format!("must be 1 to {MAX_ACTION} characters"),
        ));
    }
    if let Some(r) = &command.response
        && (r.body.trim().is_empty() || r.body.chars().count() > MAX_BODY)
    {
        errors.push(FieldError::new(
            "response.body",
            format!("must be 1 to {MAX_BODY} characters"),
        ));
    }
    if !command.data.is_object() {
        errors.push(FieldError::new("data", "must be a JSON object"));
    }
    if !errors.is_empty() {
        return Err(ApplyError::invalid(errors));
    }
    let id = command.payload_id.to_string();
    loopdesk_storage::transaction(pool, async |conn| {
        let first = claim(conn, CONSUMER, &request.message_id).await?;
        let row = payloads::lock(conn, scope, &id)
            .await?
            .filter(|row| row.ticket_id == command.ticket_id.to_string())
            .ok_or_else(|| payload_not_found(&id))?;
        if !first {
            return Ok(row.into_payload()?);
        }
        if row.accepted {
            return Err(ApplyError::conflict(
                "intervention_accepted",
                "Intervention already accepted",
                format!("the intervention payload `{id}` is accepted and takes no submissions"),
            ));
        }
        if ticket_status::status_of(conn, scope, &command.ticket_id).await? == Some(Status::Closed)
        {
            return Err(ApplyError::conflict(
                "ticket_closed",
                "Ticket closed",
                "the ticket is closed; resend the intervention to open a follow-up",
            ));
        }
        let def = definitions::find_row(conn, scope, &row.intervention, false)
            .await?
            .ok_or_else(|| {
                ApplyError::failed(format!("definition {} vanished", row.intervention))
            })?;
        let fields = definitions::fields(conn, scope, &row.intervention).await?;
        let errors = data::check(&fields, &command.data);
        if !errors.is_empty() {
            return Err(ApplyError::invalid(errors));
        }
        let now = Utc::now();
        payloads::set_data(conn, &id, &command.data, now).await?;

        let (kind, body) = match &command.response {
            Some(r) if r.public => (ResponseKind::Reply, r.body.clone()),
            Some(r) => (ResponseKind::Note, r.body.clone()),
            None => (
                ResponseKind::Note,
                format!("Intervention {} submitted: {action}", def.title),
            ),
        };
        let response = NewResponse {
            id: command.response_id,
            kind,
            author: Author {
                kind: AuthorKind::Agent,
                id: command.actor.id.clone(),
                name: None,
            },
            body,
            attachments: Vec::new(),
        };
        commands::add_response(
            conn,
            scope,
            command.ticket_id,
            response,
            command.actor.clone(),
            request,
        )
        .await?;

        let event = InterventionSubmitted {
            id: EventId::generate(),
            created_at: now,
            tenant: scope.tenant.clone(),
            env: scope.env,
            payload_id: command.payload_id,
            ticket_id: command.ticket_id,
            response_id: command.response_id,
            intervention: row.intervention.clone(),
            uid: row.uid.clone(),
            action: action.to_owned(),
            data: command.data.clone(),
            remote: RemoteCall {
                enabled: def.remote_enabled,
                name: def.remote_name.clone(),
                epilog_url: def.remote_epilog_url.clone(),
                timeout_seconds: u32::try_from(def.remote_timeout_seconds).unwrap_or(30),
            },
        };
        let mut envelope = Envelope::new(
            INTERVENTION_SUBMITTED,
            scope.tenant.as_str(),
            scope.env.as_str(),
        );
        envelope.correlation_id = Some(request.message_id.clone());
        envelope.traceparent = request.traceparent.clone();
        envelope.tracestate = request.tracestate.clone();
        enqueue(
            conn,
            &OutgoingMessage {
                route: Route::Event(INTERVENTION_SUBMITTED.to_owned()),
                envelope,
                // Serializing our own plain data type cannot fail.
                body: serde_json::to_vec(&event).unwrap_or_default(),
            },
        )
        .await?;
        let row = payloads::find(conn, scope, &id)
            .await?
            .ok_or_else(|| payload_not_found(&id))?;
        Ok(row.into_payload()?)
    })
    .await
}
