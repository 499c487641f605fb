//! Applying `ticket.create`: the ticket row, its SLA targets, its first history entry, its
//! inbox record and its `ticket.created` event commit together, or not at all.
//!
//! Plain creates arriving together are written in batches by [`super::create_batch`];
//! this is the one-by-one path, for the others and for whatever a batch cannot settle.

use chrono::{DateTime, SubsecRound, Utc};
use loopdesk_contracts::{
    Actor, DomainError, FieldError, Scope,
    commands::CreateTicket,
    events::TICKET_CREATED,
    ids::TicketId,
    responses::SlaPolicy,
    tickets::{Status, Ticket},
};
use loopdesk_messaging::{Envelope, OutgoingMessage};
use loopdesk_storage::{Conn, Pool, claim, enqueue};

use crate::{
    apply::ApplyError,
    sla::{clock, policy},
    tickets::{
        change::{self, event},
        initial,
        store::{self, TicketRow},
    },
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
            if let Some(original) = command.ticket.follow_up_of {
                check_follow_up(conn, scope, &original).await?;
            }
            let now = creation_time();
            let sla = policy::find(conn, scope, command.ticket.priority).await?;
            let row = new_row(scope, &command, now, sla.as_ref());
            if store::insert(conn, &row).await? {
                let ticket = row.into_ticket()?;
                change::record_creation(conn, &ticket, &command.actor).await?;
                enqueue(conn, &created_event(&ticket, &command.actor, request)).await?;
                initial::post(conn, scope, &ticket, &command, request).await?;
                // Initial responses move nothing on the ticket row itself: the ticket as
                // stored is the one just inserted.
                return Ok(ticket);
            }
        }
        store::find(conn, scope, &id).await?.ok_or_else(|| {
            // The id is taken in another scope: refuse without saying by whom.
            ApplyError::rejected(DomainError::new(
                409,
                "ticket_id_conflict",
                "Ticket id already in use",
                format!("ticket id {id} is already in use"),
            ))
        })
    })
    .await
}

/// The instant a ticket created now is stored with.
pub fn creation_time() -> DateTime<Utc> {
    // PostgreSQL keeps microseconds: so does the ticket answered without a re-read.
    Utc::now().trunc_subsecs(6)
}

/// The row of the ticket `command` creates at `now`, with the targets of the scope's
/// `sla` policy for its priority.
pub fn new_row(
    scope: &Scope,
    command: &CreateTicket,
    now: DateTime<Utc>,
    sla: Option<&SlaPolicy>,
) -> TicketRow {
    let mut row = TicketRow::new(scope, &command.ticket, now);
    clock::apply_policy(&mut row, sla);
    // `ticket.created` is 1; each initial response's event follows it.
    row.event_sequence += command.initial_responses.len() as i64;
    row
}

/// The `ticket.created` event (sequence 1) of the just-stored `ticket`, caused by
/// `request`.
pub fn created_event(ticket: &Ticket, actor: &Actor, request: &Envelope) -> OutgoingMessage {
    change::message(
        ticket,
        actor,
        event(TICKET_CREATED, serde_json::Map::new()),
        1,
        ticket.created_at,
        Some(request),
    )
}

/// A follow-up links to a closed ticket of the same scope.
async fn check_follow_up(
    conn: &mut Conn,
    scope: &Scope,
    original: &TicketId,
) -> Result<(), ApplyError> {
    let refuse = |message: &str| {
        let mut e = DomainError::new(
            422,
            "validation_failed",
            "Validation failed",
            format!("`follow_up_of` {message}"),
        );
        e.errors.push(FieldError::new("follow_up_of", message));
        ApplyError::rejected(e)
    };
    match store::find(conn, scope, original).await? {
        None => Err(refuse("must name an existing ticket")),
        Some(t) if t.status != Status::Closed => Err(refuse("must name a closed ticket")),
        Some(_) => Ok(()),
    }
}

/// The system as an actor (timers, SLA).
pub fn system_actor(what: &str) -> Actor {
    Actor {
        kind: loopdesk_contracts::ActorKind::System,
        id: what.to_owned(),
        key_id: None,
    }
}
