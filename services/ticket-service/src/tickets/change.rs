//! One change to one ticket: a locked working copy of its row, the events the change
//! causes and its status-history entries, committed together with the row in the
//! caller's transaction. Sequence numbers come from the row's `event_sequence` counter,
//! so they are per ticket and gap-free.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Actor,
    events::{
        SlaBreach, StatusMove, TICKET_CLOSED, TICKET_REOPENED, TICKET_RESOLVED,
        TICKET_STATUS_CHANGED, TicketEvent, TicketEventData,
    },
    ids::EventId,
    responses::Response,
    tickets::{Status, Ticket},
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use loopdesk_storage::{Conn, enqueue_all};
use serde_json::{Map, Value, json};

use crate::{
    apply::ApplyError,
    schema::status_history,
    sla::clock,
    tickets::store::{self, CorruptRow, TicketRow},
};

/// An event waiting for the change to commit.
#[derive(Debug, Default)]
pub struct Pending {
    kind: &'static str,
    changes: Map<String, Value>,
    response: Option<Response>,
    status_change: Option<StatusMove>,
    sla_breach: Option<SlaBreach>,
}

impl Pending {
    /// Adds the response the event is about.
    pub fn with_response(mut self, response: Response) -> Self {
        self.response = Some(response);
        self
    }

    /// Adds the missed SLA target.
    pub fn with_breach(mut self, breach: SlaBreach) -> Self {
        self.sla_breach = Some(breach);
        self
    }
}

/// An event of `kind` with `changes` (`{field: {from, to}}`).
pub fn event(kind: &'static str, changes: Map<String, Value>) -> Pending {
    Pending {
        kind,
        changes,
        ..Pending::default()
    }
}

/// `{field: {"from": from, "to": to}}` as one entry of `changes`.
pub fn changed(changes: &mut Map<String, Value>, field: &str, from: Value, to: Value) {
    changes.insert(field.to_owned(), json!({"from": from, "to": to}));
}

#[derive(Insertable)]
#[diesel(table_name = status_history)]
struct HistoryRow {
    ticket_id: String,
    from_status: Option<String>,
    to_status: String,
    reason: Option<String>,
    actor: Value,
    at: DateTime<Utc>,
}

/// A change in the making.
pub struct Change {
    /// The working copy; edit it, then [`Change::commit`].
    pub row: TicketRow,
    /// Who makes the change.
    pub actor: Actor,
    /// The instant of the change.
    pub now: DateTime<Utc>,
    events: Vec<Pending>,
    history: Vec<HistoryRow>,
}

impl Change {
    /// A change of the (locked) `row` by `actor`.
    pub fn new(row: TicketRow, actor: Actor, now: DateTime<Utc>) -> Self {
        Self {
            row,
            actor,
            // PostgreSQL keeps microseconds: what is answered now must equal what is read later.
            now: now.trunc_subsecs(6),
            events: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Queues an event.
    pub fn emit(&mut self, event: Pending) {
        self.events.push(event);
    }

    /// Moves the status (already checked by the caller): records the history entry,
    /// stops or restarts the SLA clock, and queues `status_changed` plus `resolved`,
    /// `reopened` or `closed` where they apply.
    pub fn set_status(&mut self, to: Status, reason: Option<String>) -> Result<(), CorruptRow> {
        let from = self.row.status()?;
        self.row.status = to.as_str().to_owned();
        if to == Status::Pending {
            clock::pause(&mut self.row, self.now);
        } else {
            clock::resume(&mut self.row, self.now);
        }
        match to {
            Status::Solved => self.row.solved_at = Some(self.now),
            Status::Closed => self.row.closed_at = Some(self.now),
            _ => {}
        }
        self.history.push(HistoryRow {
            ticket_id: self.row.id.clone(),
            from_status: Some(from.as_str().to_owned()),
            to_status: to.as_str().to_owned(),
            reason: reason.clone(),
            actor: serde_json::to_value(&self.actor).unwrap_or_default(),
            at: self.now,
        });
        let mut changes = Map::new();
        changed(
            &mut changes,
            "status",
            from.as_str().into(),
            to.as_str().into(),
        );
        let moved = StatusMove { from, to, reason };
        let mut queue = |kind| {
            self.events.push(Pending {
                kind,
                changes: changes.clone(),
                status_change: Some(moved.clone()),
                ..Pending::default()
            });
        };
        queue(TICKET_STATUS_CHANGED);
        match (from, to) {
            (_, Status::Solved) => queue(TICKET_RESOLVED),
            (Status::Solved, Status::Open) => queue(TICKET_REOPENED),
            (_, Status::Closed) => queue(TICKET_CLOSED),
            _ => {}
        }
        Ok(())
    }

    /// Saves the row (a new version when anything happened), its history entries and
    /// its events, in the caller's transaction, and returns the ticket as it now stands.
    /// `cause` is the command behind the change, for correlation and tracing.
    pub async fn commit(
        mut self,
        conn: &mut Conn,
        cause: Option<&Envelope>,
    ) -> Result<Ticket, ApplyError> {
        if self.events.is_empty() && self.history.is_empty() {
            return Ok(self.row.into_ticket()?);
        }
        self.row.version += 1;
        self.row.updated_at = self.now;
        let first = self.row.event_sequence + 1;
        self.row.event_sequence += self.events.len() as i64;
        store::save(conn, &self.row).await?;
        if !self.history.is_empty() {
            diesel::insert_into(status_history::table)
                .values(&self.history)
                .execute(conn)
                .await?;
        }
        let ticket = self.row.into_ticket()?;
        let messages: Vec<OutgoingMessage> = self
            .events
            .into_iter()
            .zip(first..)
            .map(|(pending, sequence)| {
                message(&ticket, &self.actor, pending, sequence, self.now, cause)
            })
            .collect();
        enqueue_all(conn, &messages).await?;
        Ok(ticket)
    }
}

/// Records the creation in the status history (from nothing to `new`).
pub async fn record_creation(conn: &mut Conn, ticket: &Ticket, actor: &Actor) -> QueryResult<()> {
    record_creations(conn, [(ticket, actor)]).await
}

/// [`record_creation`] of several tickets (each with the actor who created it), in one
/// statement.
pub async fn record_creations<'a>(
    conn: &mut Conn,
    created: impl IntoIterator<Item = (&'a Ticket, &'a Actor)>,
) -> QueryResult<()> {
    let rows: Vec<HistoryRow> = created
        .into_iter()
        .map(|(ticket, actor)| HistoryRow {
            ticket_id: ticket.id.to_string(),
            from_status: None,
            to_status: ticket.status.as_str().to_owned(),
            reason: None,
            actor: serde_json::to_value(actor).unwrap_or_default(),
            at: ticket.created_at,
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(status_history::table)
        .values(&rows)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The outbox message of one event.
pub fn message(
    ticket: &Ticket,
    actor: &Actor,
    pending: Pending,
    sequence: i64,
    at: DateTime<Utc>,
    cause: Option<&Envelope>,
) -> OutgoingMessage {
    let event = TicketEvent {
        id: EventId::generate(),
        kind: pending.kind.to_owned(),
        created_at: at,
        tenant: ticket.tenant.clone(),
        env: ticket.env,
        sequence,
        data: TicketEventData {
            ticket: ticket.clone(),
            actor: actor.clone(),
            changes: pending.changes,
            response: pending.response,
            status_change: pending.status_change,
            sla_breach: pending.sla_breach,
        },
    };
    let mut envelope = Envelope::new(pending.kind, event.tenant.as_str(), event.env.as_str());
    if let Some(cause) = cause {
        envelope.correlation_id = Some(cause.message_id.clone());
        envelope.traceparent = cause.traceparent.clone();
        envelope.tracestate = cause.tracestate.clone();
    }
    OutgoingMessage {
        route: Route::Event(pending.kind.to_owned()),
        envelope,
        // Serializing our own plain data type cannot fail.
        body: serde_json::to_vec(&event).unwrap_or_default(),
    }
}

/// Starts a change of the ticket `id` in `scope`, locking its row; 404 when there is no
/// such (undeleted) ticket in the scope.
pub async fn begin(
    conn: &mut Conn,
    scope: &loopdesk_contracts::Scope,
    id: &loopdesk_contracts::ids::TicketId,
    actor: Actor,
) -> Result<Change, ApplyError> {
    let row = store::lock(conn, scope, id)
        .await?
        .ok_or_else(|| ApplyError::rejected(not_found("ticket", &id.to_string())))?;
    Ok(Change::new(row, actor, Utc::now()))
}

/// 404 for a `what` that does not exist in the caller's scope.
pub fn not_found(what: &str, id: &str) -> loopdesk_contracts::DomainError {
    loopdesk_contracts::DomainError::new(
        404,
        "not_found",
        "Not found",
        format!("no {what} `{id}` exists"),
    )
}
