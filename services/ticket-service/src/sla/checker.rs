//! The SLA checker: finds missed targets and long-solved tickets and acts on each exactly
//! once, even with several ticket-service instances running. Candidates are locked with
//! `FOR UPDATE SKIP LOCKED`: PostgreSQL re-checks the conditions on a row changed since
//! the scan, so a row another instance already marked is no longer a candidate, and a
//! row it holds is skipped. The mark and its event commit in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types::Bool};
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    events::{SlaBreach, SlaTarget, TICKET_SLA_BREACHED},
    tickets::Status,
};
use loopdesk_storage::{Conn, Pool, Relay};
use serde_json::{Map, json};
use tokio_util::sync::CancellationToken;

use crate::{
    apply::ApplyError,
    schema::tickets,
    tickets::{
        change::{Change, changed, event},
        create::system_actor,
        store::TicketRow,
    },
};

/// Tickets handled per kind and round.
const BATCH: i64 = 100;

/// A ticket whose targets still count: neither solved nor closed. Kept in step with the
/// predicates of the sweep indexes (migration `sla_sweep_indexes`).
const NOT_DONE: &str = "status NOT IN ('solved', 'closed')";

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// First-response breaches recorded.
    pub first_response: usize,
    /// Resolution breaches recorded.
    pub resolution: usize,
    /// Solved tickets closed.
    pub closed: usize,
}

/// Runs rounds every `interval` until `shutdown`.
pub async fn run(
    pool: Pool,
    relay: Relay,
    interval: Duration,
    auto_close_after: chrono::Duration,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match check_once(&pool, auto_close_after).await {
            Ok(round) if round != Round::default() => {
                tracing::info!(?round, "SLA round");
                relay.notify();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SLA round failed"),
        }
    }
}

/// One round: breaches of both targets, then auto-close.
pub async fn check_once(
    pool: &Pool,
    auto_close_after: chrono::Duration,
) -> Result<Round, ApplyError> {
    Ok(Round {
        first_response: breach(pool, SlaTarget::FirstResponse).await?,
        resolution: breach(pool, SlaTarget::Resolution).await?,
        closed: auto_close(pool, auto_close_after).await?,
    })
}

async fn breach(pool: &Pool, target: SlaTarget) -> Result<usize, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        let now = Utc::now();
        let rows = missed(conn, target, now).await?;
        let n = rows.len();
        for row in rows {
            let mut change = Change::new(row, system_actor("sla"), now);
            let (due, mark) = match target {
                SlaTarget::FirstResponse => (
                    change.row.first_response_due_at,
                    &mut change.row.first_response_breached_at,
                ),
                SlaTarget::Resolution => (
                    change.row.resolution_due_at,
                    &mut change.row.resolution_breached_at,
                ),
            };
            *mark = Some(now);
            let Some(due_at) = due else { continue };
            let mut changes = Map::new();
            changed(
                &mut changes,
                &format!("sla.{}_breached_at", target.as_str()),
                json!(null),
                json!(now),
            );
            change.emit(
                event(TICKET_SLA_BREACHED, changes).with_breach(SlaBreach { target, due_at }),
            );
            change.commit(conn, None).await?;
        }
        Ok(n)
    })
    .await
}

async fn missed(
    conn: &mut Conn,
    target: SlaTarget,
    now: DateTime<Utc>,
) -> QueryResult<Vec<TicketRow>> {
    // Literal, not bound: the planner matches it to the partial indexes of the sweeps
    // (migration `sla_sweep_indexes`) only when it can read the values.
    let not_done = diesel::dsl::sql::<Bool>(NOT_DONE);
    let open = tickets::deleted_at
        .is_null()
        .and(tickets::sla_paused_at.is_null())
        .and(not_done);
    let q = tickets::table.filter(open).select(TicketRow::as_select());
    match target {
        SlaTarget::FirstResponse => {
            q.filter(tickets::first_response_breached_at.is_null())
                .filter(tickets::first_responded_at.is_null())
                .filter(tickets::first_response_due_at.lt(now))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)
                .await
        }
        SlaTarget::Resolution => {
            q.filter(tickets::resolution_breached_at.is_null())
                .filter(tickets::resolution_due_at.lt(now))
                .limit(BATCH)
                .for_update()
                .skip_locked()
                .load(conn)
                .await
        }
    }
}

async fn auto_close(pool: &Pool, after: chrono::Duration) -> Result<usize, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        let now = Utc::now();
        let rows: Vec<TicketRow> = tickets::table
            .filter(tickets::deleted_at.is_null())
            .filter(tickets::status.eq(Status::Solved.as_str()))
            .filter(tickets::solved_at.lt(now - after))
            .select(TicketRow::as_select())
            .limit(BATCH)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let n = rows.len();
        for row in rows {
            let mut change = Change::new(row, system_actor("auto_close"), now);
            change.set_status(
                Status::Closed,
                Some("closed automatically after being solved".to_owned()),
            )?;
            change.commit(conn, None).await?;
        }
        Ok(n)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweeps_literal_names_the_statuses_whose_targets_stop() {
        let quoted = |status: Status| format!("'{}'", status.as_str());
        assert_eq!(
            NOT_DONE,
            format!(
                "status NOT IN ({}, {})",
                quoted(Status::Solved),
                quoted(Status::Closed)
            )
        );
    }
}
