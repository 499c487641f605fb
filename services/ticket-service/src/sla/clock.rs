//! SLA arithmetic on a ticket row: targets from a policy, and the clock stopping while
//! the ticket waits on the customer (`pending`).

use chrono::{DateTime, Duration, Utc};
use loopdesk_contracts::responses::SlaPolicy;

use crate::tickets::store::TicketRow;

/// Sets the row's targets from `policy` (or clears them without one): creation time plus
/// the policy's minutes plus the time already spent paused. A target already missed keeps
/// its breach: a breach fires once per target.
pub fn apply_policy(row: &mut TicketRow, policy: Option<&SlaPolicy>) {
    let Some(policy) = policy else {
        row.first_response_due_at = None;
        row.resolution_due_at = None;
        return;
    };
    let paused = Duration::milliseconds(row.sla_paused_ms);
    row.first_response_due_at =
        Some(row.created_at + Duration::minutes(i64::from(policy.first_response_minutes)) + paused);
    row.resolution_due_at =
        Some(row.created_at + Duration::minutes(i64::from(policy.resolution_minutes)) + paused);
}

/// Stops the clock (the ticket now waits on the customer).
pub fn pause(row: &mut TicketRow, now: DateTime<Utc>) {
    if row.sla_paused_at.is_none() {
        row.sla_paused_at = Some(now);
    }
}

/// Restarts the clock, moving every target later by the time spent paused.
pub fn resume(row: &mut TicketRow, now: DateTime<Utc>) {
    let Some(since) = row.sla_paused_at.take() else {
        return;
    };
    let paused = (now - since).max(Duration::zero());
    row.sla_paused_ms += paused.num_milliseconds();
    row.first_response_due_at = row.first_response_due_at.map(|due| due + paused);
    row.resolution_due_at = row.resolution_due_at.map(|due| due + paused);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use loopdesk_contracts::{
        Scope,
        ids::TicketId,
        tickets::{NewTicket, Priority, Requester},
    };

    use super::*;

    fn row(created: DateTime<Utc>) -> TicketRow {
        let ticket = NewTicket {
            id: TicketId::generate(),
            subject: "s".into(),
            description: String::new(),
            requester: Requester {
                email: "a@b.co".into(),
                name: None,
            },
            priority: Priority::High,
            queue: "q".into(),
            tags: vec![],
            source: "api".into(),
            metadata: Default::default(),
            follow_up_of: None,
        };
        let scope = Scope {
            tenant: loopdesk_contracts::Tenant::parse("acme").unwrap(),
            env: loopdesk_contracts::Env::Test,
        };
        TicketRow::new(&scope, &ticket, created)
    }

    fn policy(first: i32, resolution: i32) -> SlaPolicy {
        SlaPolicy {
            priority: Priority::High,
            first_response_minutes: first,
            resolution_minutes: resolution,
        }
    }

    #[test]
    fn targets_count_from_creation() {
        let t0 = Utc::now();
        let mut r = row(t0);
        apply_policy(&mut r, Some(&policy(30, 240)));
        assert_eq!(r.first_response_due_at, Some(t0 + Duration::minutes(30)));
        assert_eq!(r.resolution_due_at, Some(t0 + Duration::minutes(240)));
        apply_policy(&mut r, None);
        assert_eq!((r.first_response_due_at, r.resolution_due_at), (None, None));
    }

    #[test]
    fn time_pending_moves_targets_later_also_after_a_policy_change() {
        let t0 = Utc::now();
        let mut r = row(t0);
        apply_policy(&mut r, Some(&policy(30, 240)));
        pause(&mut r, t0 + Duration::minutes(10));
        pause(&mut r, t0 + Duration::minutes(20)); // already paused: the first instant counts
        resume(&mut r, t0 + Duration::minutes(55));
        assert_eq!(r.sla_paused_at, None);
        assert_eq!(r.resolution_due_at, Some(t0 + Duration::minutes(285)));
        resume(&mut r, t0 + Duration::minutes(90)); // not paused: nothing moves
        assert_eq!(r.resolution_due_at, Some(t0 + Duration::minutes(285)));
        // A new priority's policy keeps the 45 paused minutes.
        apply_policy(&mut r, Some(&policy(15, 60)));
        assert_eq!(r.resolution_due_at, Some(t0 + Duration::minutes(105)));
    }
}
