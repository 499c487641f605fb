//! Group commit of `ticket.create`: the plain creates handled at the same moment are
//! written by one transaction of multi-row statements (inbox claims, SLA policies,
//! tickets, their history entries, their `ticket.created` events) instead of one
//! transaction each. Anything unusual, and anything the batch cannot settle, goes the
//! one-by-one way of [`create::apply`], which gives the same answers.

use std::collections::HashSet;

use loopdesk_contracts::{Scope, commands::CreateTicket, tickets::Ticket};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, GroupCommit, Pool, claim_all, enqueue_all};

use crate::{
    apply::ApplyError,
    sla::policy,
    tickets::{
        change,
        create::{self, CONSUMER},
        store::{self, TicketRow},
    },
};

/// Creates per batch at most. A ticket row binds 30 parameters and one statement takes
/// 65,535, so this stays far below the limit; the consumer's concurrency bounds batches
/// anyway, since each handler waits for its own create.
const MAX_BATCH: usize = 128;

/// Applies `ticket.create`, writing plain creates together with the others under way.
#[derive(Clone)]
pub struct BatchedCreates {
    pool: Pool,
    writer: GroupCommit<Create, Written>,
}

/// One create waiting for its batch.
struct Create {
    scope: Scope,
    request: Envelope,
    command: CreateTicket,
}

/// What a batch made of one create.
enum Written {
    /// The batch created the ticket.
    Created(Box<Ticket>),
    /// Left to the one-by-one path: its message or its ticket id was already taken, or
    /// the batch failed for a reason of its own.
    OneByOne(Box<CreateTicket>),
    /// The database is unavailable: nothing was written.
    Unavailable(String),
}

impl BatchedCreates {
    /// Starts the batch writer (on the current runtime); it stops when the last clone
    /// is dropped.
    pub fn start(pool: Pool) -> Self {
        let batch_pool = pool.clone();
        let writer = GroupCommit::start("ticket.create", MAX_BATCH, move |batch| {
            let pool = batch_pool.clone();
            async move { write(&pool, batch).await }
        });
        Self { pool, writer }
    }

    /// Applies `command` as [`create::apply`] does and answers the same: the ticket as
    /// stored, or why not.
    pub async fn apply(
        &self,
        scope: &Scope,
        request: &Envelope,
        command: CreateTicket,
    ) -> Result<Ticket, ApplyError> {
        if !is_plain(&command) {
            return create::apply(&self.pool, scope, request, command).await;
        }
        let create = Create {
            scope: scope.clone(),
            request: request.clone(),
            command,
        };
        match self.writer.submit(create).await {
            Ok(Written::Created(ticket)) => Ok(*ticket),
            Ok(Written::OneByOne(command)) => {
                create::apply(&self.pool, scope, request, *command).await
            }
            Ok(Written::Unavailable(reason)) => Err(ApplyError::Unavailable(reason)),
            Err(no_result) => Err(ApplyError::failed(no_result)),
        }
    }
}

/// A create with nothing to check or add besides the ticket itself: no follow-up (whose
/// original must be read) and no initial responses (rows and events of their own).
fn is_plain(command: &CreateTicket) -> bool {
    command.ticket.follow_up_of.is_none() && command.initial_responses.is_empty()
}

/// Writes `batch` in one transaction and answers each create, in order.
async fn write(pool: &Pool, batch: Vec<Create>) -> Vec<Written> {
    let written =
        loopdesk_storage::transaction(pool, async |conn| write_batch(conn, &batch).await).await;
    match written {
        Ok(created) => batch
            .into_iter()
            .zip(created)
            .map(|(create, ticket)| match ticket {
                Some(ticket) => Written::Created(Box::new(ticket)),
                None => Written::OneByOne(Box::new(create.command)),
            })
            .collect(),
        // Nothing was written: every caller backs off and its message comes again.
        Err(ApplyError::Unavailable(reason)) => batch
            .iter()
            .map(|_| Written::Unavailable(reason.clone()))
            .collect(),
        // One bad create must not fail the others: each goes its own way.
        Err(error) => {
            tracing::warn!(
                %error,
                creates = batch.len(),
                "a batch of creates failed; applying them one by one"
            );
            batch
                .into_iter()
                .map(|create| Written::OneByOne(Box::new(create.command)))
                .collect()
        }
    }
}

/// The batch's statements, in the caller's transaction. Answers, per create, the ticket
/// it created, or `None` when it is left to the one-by-one path.
async fn write_batch(conn: &mut Conn, batch: &[Create]) -> Result<Vec<Option<Ticket>>, ApplyError> {
    let writable = first_of_each(batch);
    // Claimed in message id order, so two batches sharing messages lock them alike.
    let mut message_ids: Vec<&str> = writable
        .iter()
        .map(|&i| batch[i].request.message_id.as_str())
        .collect();
    message_ids.sort_unstable();
    let newly_claimed = claim_all(conn, CONSUMER, &message_ids).await?;
    let claimed: Vec<usize> = writable
        .into_iter()
        .filter(|&i| newly_claimed.contains(&batch[i].request.message_id))
        .collect();

    let mut created: Vec<Option<Ticket>> = batch.iter().map(|_| None).collect();
    if claimed.is_empty() {
        return Ok(created);
    }
    let policy_of = |c: &Create| (c.scope.clone(), c.command.ticket.priority);
    let wanted: HashSet<_> = claimed.iter().map(|&i| policy_of(&batch[i])).collect();
    let policies = policy::find_all(conn, &wanted).await?;
    let now = create::creation_time();
    let rows: Vec<TicketRow> = claimed
        .iter()
        .map(|&i| {
            let c = &batch[i];
            create::new_row(&c.scope, &c.command, now, policies.get(&policy_of(c)))
        })
        .collect();
    let inserted = store::insert_all(conn, &rows).await?;

    let mut stored = Vec::with_capacity(inserted.len());
    for (i, row) in claimed.into_iter().zip(rows) {
        if inserted.contains(&row.id) {
            stored.push((i, row.into_ticket()?));
        }
    }
    change::record_creations(
        conn,
        stored.iter().map(|(i, t)| (t, &batch[*i].command.actor)),
    )
    .await?;
    let events: Vec<_> = stored
        .iter()
        .map(|(i, t)| create::created_event(t, &batch[*i].command.actor, &batch[*i].request))
        .collect();
    enqueue_all(conn, &events).await?;

    for (i, ticket) in stored {
        created[i] = Some(ticket);
    }
    Ok(created)
}

/// The positions of the creates the batch may write: the first with each message id and
/// each ticket id. A repeat (the same message delivered twice, the same ticket sent
/// again) waits for the batch to commit, then finds the first one's ticket by the
/// one-by-one path.
fn first_of_each(batch: &[Create]) -> Vec<usize> {
    let mut messages = HashSet::new();
    let mut tickets = HashSet::new();
    (0..batch.len())
        .filter(|&i| {
            let create = &batch[i];
            let new_message = messages.insert(create.request.message_id.as_str());
            let new_ticket = tickets.insert(create.command.ticket.id);
            new_message && new_ticket
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use loopdesk_contracts::{
        Actor, ActorKind, Env, Tenant,
        ids::TicketId,
        tickets::{NewTicket, Priority, Requester},
    };

    use super::*;

    fn create(message_id: &str, ticket: TicketId) -> Create {
        let mut request = Envelope::new("ticket.create", "acme", "test");
        request.message_id = message_id.to_owned();
        Create {
            scope: Scope {
                tenant: Tenant::parse("acme").unwrap(),
                env: Env::Test,
            },
            request,
            command: CreateTicket {
                ticket: NewTicket {
                    id: ticket,
                    subject: "s".into(),
                    description: String::new(),
                    requester: Requester {
                        email: "a@b.co".into(),
                        name: None,
                    },
                    priority: Priority::Normal,
                    queue: "q".into(),
                    tags: vec![],
                    source: "api".into(),
                    metadata: Default::default(),
                    follow_up_of: None,
                },
                actor: Actor {
                    kind: ActorKind::System,
                    id: "test".into(),
                    key_id: None,
                },
                initial_responses: vec![],
            },
        }
    }

    #[test]
    fn a_repeated_message_or_ticket_id_is_left_to_the_one_by_one_path() {
        let (a, b) = (TicketId::generate(), TicketId::generate());
        let batch = [
            create("m1", a),
            create("m1", a), // the same message delivered twice
            create("m2", a), // the same ticket under another message id (a retry)
            create("m3", b),
        ];
        assert_eq!(first_of_each(&batch), [0, 3]);
    }

    #[test]
    fn only_creates_without_follow_up_or_initial_responses_are_plain() {
        let plain = create("m1", TicketId::generate()).command;
        assert!(is_plain(&plain));
        let mut follow_up = plain.clone();
        follow_up.ticket.follow_up_of = Some(TicketId::generate());
        assert!(!is_plain(&follow_up));
    }
}
