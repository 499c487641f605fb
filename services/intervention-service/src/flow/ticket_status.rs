//! The status of every ticket an intervention created, kept from the ticket service's
//! `ticket.status_changed` events (consumer `intervention-service.tickets`). Rows are
//! inserted as `new` when this service asks for the ticket, so tickets that are not ours
//! are never stored and `ticket.created` would tell nothing new (it is not bound: one
//! message fewer per ticket on the broker); an event only moves a row forward (by the
//! ticket's event sequence), so redelivery and reordering are harmless.

use std::sync::Arc;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    events::{TICKET_STATUS_CHANGED, TicketEvent},
    ids::TicketId,
    tickets::Status,
};
use loopdesk_messaging::{Binding, ConsumerSpec, Delivery, Handler, Outcome};
use loopdesk_storage::{Conn, Pool};

use crate::{apply::ApplyError, schema::intervention_tickets as tickets};

/// The `source` of every ticket an intervention creates.
pub const TICKET_SOURCE: &str = "intervention";

/// Name of the consumer (and its queue suffix).
pub const CONSUMER: &str = "intervention-service.tickets";

/// The consumer's queue and bindings.
pub fn spec(concurrency: usize) -> ConsumerSpec {
    ConsumerSpec {
        name: CONSUMER.to_owned(),
        bindings: vec![Binding::Event(TICKET_STATUS_CHANGED.to_owned())],
        prefetch: None,
        concurrency,
    }
}

/// Starts tracking `ticket` (just requested from the ticket service) as `new`.
pub async fn track(conn: &mut Conn, scope: &Scope, ticket: &TicketId) -> QueryResult<()> {
    diesel::insert_into(tickets::table)
        .values((
            tickets::ticket_id.eq(ticket.to_string()),
            tickets::tenant.eq(scope.tenant.as_str()),
            tickets::env.eq(scope.env.as_str()),
            tickets::status.eq(Status::New.as_str()),
            tickets::sequence.eq(0_i64),
            tickets::updated_at.eq(Utc::now()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The last known status of `ticket`; `None` when it is not tracked.
pub async fn status_of(
    conn: &mut Conn,
    scope: &Scope,
    ticket: &TicketId,
) -> Result<Option<Status>, ApplyError> {
    let status: Option<String> = tickets::table
        .filter(tickets::ticket_id.eq(ticket.to_string()))
        .filter(tickets::tenant.eq(scope.tenant.as_str()))
        .filter(tickets::env.eq(scope.env.as_str()))
        .select(tickets::status)
        .first(conn)
        .await
        .optional()?;
    status
        .map(|s| Status::parse(&s).ok_or_else(|| ApplyError::failed(format!("ticket status {s}"))))
        .transpose()
}

/// Records what `event` says about a tracked ticket's status.
async fn apply(conn: &mut Conn, event: &TicketEvent) -> QueryResult<()> {
    let ticket = &event.data.ticket;
    diesel::update(tickets::table)
        .filter(tickets::ticket_id.eq(ticket.id.to_string()))
        .filter(tickets::tenant.eq(event.tenant.as_str()))
        .filter(tickets::env.eq(event.env.as_str()))
        .filter(tickets::sequence.lt(event.sequence))
        .set((
            tickets::status.eq(ticket.status.as_str()),
            tickets::sequence.eq(event.sequence),
            tickets::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Consumes ticket events into the status table.
pub struct StatusHandler {
    pool: Pool,
}

impl StatusHandler {
    /// A handler writing through `pool`.
    pub fn new(pool: Pool) -> Arc<Self> {
        Arc::new(Self { pool })
    }
}

#[async_trait::async_trait]
impl Handler for StatusHandler {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let event: TicketEvent = match delivery.json() {
            Ok(event) => event,
            Err(e) => {
                return Outcome::DeadLetter {
                    reason: format!("undecodable ticket event: {e}"),
                };
            }
        };
        if event.data.ticket.source != TICKET_SOURCE {
            // Not one of ours (this service creates its tickets with this source): no row
            // to move, so no round trip to the database either.
            return Outcome::Ack;
        }
        let result = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| ApplyError::Unavailable(e.to_string()))?;
            apply(&mut conn, &event).await?;
            Ok::<_, ApplyError>(())
        }
        .await;
        match result {
            Ok(()) => Outcome::Ack,
            Err(e) => {
                tracing::warn!(error = %e, "ticket status not recorded");
                e.outcome()
            }
        }
    }
}
