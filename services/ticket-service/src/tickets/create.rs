//! Applying `ticket.create`: the ticket row, its inbox record and its `ticket.created`
//! event commit together, or not at all.

use chrono::Utc;
use loopdesk_contracts::{
    DomainError, Scope,
    commands::CreateTicket,
    events::{TICKET_CREATED, TicketEvent, TicketEventData},
    ids::EventId,
    tickets::Ticket,
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Pool, claim, enqueue};

use crate::{
    apply::ApplyError,
    tickets::store::{self, TicketRow},
};

/// The inbox name of the command consumer.
pub const CONSUMER: &str = "ticket-service.commands";

/// Creates the ticket unless this command (or this ticket id) was already applied, and
/// returns the ticket as stored either way.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: CreateTicket,
) -> Result<Ticket, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        let id = command.ticket.id;
        if claim(conn, CONSUMER, &request.message_id).await? {
            let row = TicketRow::new(scope, &command.ticket, Utc::now());
            if store::insert(conn, &row).await? {
                let ticket = row.into_ticket()?;
                let event = created_event(request, ticket, command.actor);
                enqueue(conn, &event).await?;
            }
        }
        store::find(conn, scope, &id).await?.ok_or_else(|| {
            // The id is taken in another scope: refuse without saying by whom.
            ApplyError::Rejected(DomainError::new(
                409,
                "ticket_id_conflict",
                "Ticket id already in use",
                format!("ticket id {id} is already in use"),
            ))
        })
    })
    .await
}

fn created_event(
    request: &Envelope,
    ticket: Ticket,
    actor: loopdesk_contracts::Actor,
) -> OutgoingMessage {
    let event = TicketEvent {
        id: EventId::generate(),
        kind: TICKET_CREATED.to_owned(),
        created_at: ticket.created_at,
        tenant: ticket.tenant.clone(),
        env: ticket.env,
        sequence: 1,
        data: TicketEventData {
            ticket,
            actor,
            changes: serde_json::Map::new(),
        },
    };
    let mut envelope = Envelope::new(TICKET_CREATED, event.tenant.as_str(), event.env.as_str());
    envelope.correlation_id = Some(request.message_id.clone());
    envelope.traceparent = request.traceparent.clone();
    envelope.tracestate = request.tracestate.clone();
    OutgoingMessage {
        route: Route::Event(TICKET_CREATED.to_owned()),
        envelope,
        // Serializing our own plain data type cannot fail.
        body: serde_json::to_vec(&event).unwrap_or_default(),
    }
}
