//! The status model (seed 003, DESIGN.md §5) as data: which manual moves are allowed,
//! and which moves a new response causes on its own.

use loopdesk_contracts::{
    DomainError,
    responses::{AuthorKind, ResponseKind},
    tickets::Status,
};

use Status::{Closed, New, Open, Pending, Solved};

/// Every manual move allowed, as `(from, to)`. Anything not listed is refused:
/// nothing goes back to `new`, `closed` is terminal and is reached only from `solved`
/// (customer confirmation or internal validation), and moving to the current status is
/// not a move.
pub const ALLOWED: [(Status, Status); 9] = [
    (New, Open),
    (New, Pending),
    (New, Solved),
    (Open, Pending),
    (Open, Solved),
    (Pending, Open),
    (Pending, Solved),
    (Solved, Open),
    (Solved, Closed),
];

/// Why a manual move from `from` to `to` is refused; `None` when it is allowed.
pub fn refusal(from: Status, to: Status) -> Option<DomainError> {
    if from == Closed {
        Some(ticket_closed())
    } else if ALLOWED.contains(&(from, to)) {
        None
    } else {
        Some(illegal(from, to))
    }
}

/// The status a new response moves the ticket to, if any: an agent's public reply
/// answers the customer (new/open -> pending); a customer's message asks support again
/// (pending -> open, and solved -> open, which is a reopen).
pub fn after_response(current: Status, kind: ResponseKind, author: AuthorKind) -> Option<Status> {
    match (kind, author, current) {
        (ResponseKind::Reply, AuthorKind::Agent, New | Open) => Some(Pending),
        (ResponseKind::Message, AuthorKind::Customer, Pending | Solved) => Some(Open),
        _ => None,
    }
}

/// 409 `ticket_closed`: a closed ticket takes no change.
pub fn ticket_closed() -> DomainError {
    DomainError::new(
        409,
        "ticket_closed",
        "Ticket closed",
        "the ticket is closed and takes no further changes; open a follow-up ticket with `follow_up_of`",
    )
}

/// 409 `illegal_transition` naming `from` and `to`.
pub fn illegal(from: Status, to: Status) -> DomainError {
    let mut e = DomainError::new(
        409,
        "illegal_transition",
        "Illegal status transition",
        format!(
            "a ticket cannot move from `{}` to `{}`",
            from.as_str(),
            to.as_str()
        ),
    );
    e.extensions.insert("from".into(), from.as_str().into());
    e.extensions.insert("to".into(), to.as_str().into());
    let allowed: Vec<&str> = ALLOWED
        .iter()
        .filter(|(f, _)| *f == from)
        .map(|(_, t)| t.as_str())
        .collect();
    e.extensions.insert("allowed".into(), allowed.into());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_decided_by_the_table() {
        for from in Status::ALL {
            for to in Status::ALL {
                let result = refusal(from, to);
                let expected_code = if from == Closed {
                    Some("ticket_closed")
                } else if ALLOWED.contains(&(from, to)) {
                    None
                } else {
                    Some("illegal_transition")
                };
                assert_eq!(
                    result.as_ref().map(|e| e.code.as_str()),
                    expected_code,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn the_guards_of_the_design_hold() {
        for from in Status::ALL {
            assert!(refusal(from, New).is_some(), "never back to new");
            assert!(refusal(from, from).is_some(), "no move in place");
        }
        for (from, to) in ALLOWED {
            assert_ne!(to, New);
            assert!(to != Closed || from == Solved, "closed only from solved");
        }
    }

    #[test]
    fn responses_move_the_status_as_seed_003_says() {
        use AuthorKind::{Agent, Customer};
        use ResponseKind::{Message, Note, Reply};
        assert_eq!(after_response(New, Reply, Agent), Some(Pending));
        assert_eq!(after_response(Open, Reply, Agent), Some(Pending));
        assert_eq!(after_response(Pending, Reply, Agent), None);
        assert_eq!(after_response(Open, Note, Agent), None, "notes are private");
        assert_eq!(after_response(Pending, Message, Customer), Some(Open));
        assert_eq!(after_response(Solved, Message, Customer), Some(Open));
        assert_eq!(after_response(New, Message, Customer), None);
        assert_eq!(after_response(Open, Message, Customer), None);
    }
}
