//! Creates arriving together are written by one transaction (group commit): each ticket
//! is still stored once with its history entry, announced once with sequence 1, and
//! answered as it would have been one by one, also when a command comes twice or its
//! ticket id is taken.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    Env,
    commands::TicketReply,
    ids::TicketId,
    tickets::{Priority, Ticket},
};
use loopdesk_messaging::{
    ConsumerSpec, Delivery, Handler, Outcome, OutgoingMessage, declare_consumer, spawn_consumer,
};
use loopdesk_testkit::wait_until;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{
    helpers::{
        Options, TENANT, TestApp, create_ticket_command, spawn_app, spawn_app_with, ticket_body,
    },
    steps::events_by_ticket,
};

#[tokio::test]
async fn a_hundred_concurrent_creates_are_each_stored_and_announced_once() {
    let app = spawn_app_with(patient()).await;
    let tap = app.tap_events("ticket.#").await;
    let key = app.admin_key();

    let bodies: Vec<Value> = (0..100)
        .map(|i| ticket_body(&format!("Concurrent {i}")))
        .collect();
    let responses =
        futures::future::join_all(bodies.iter().map(|b| app.create_ticket(&key, b))).await;
    let mut answered = HashMap::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let ticket: Value = response.json().await.unwrap();
        answered.insert(ticket["id"].as_str().unwrap().to_owned(), ticket);
    }
    assert_eq!(answered.len(), 100, "one ticket per request");

    assert_eq!(app.count("tickets.tickets").await, 100);
    assert_eq!(app.count("tickets.status_history").await, 100);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(DISTINCT h.ticket_id) AS n FROM tickets.status_history h \
             JOIN tickets.tickets t ON t.id = h.ticket_id \
             WHERE h.from_status IS NULL AND h.to_status = 'new' AND h.at = t.created_at"
        )
        .await,
        100,
        "each ticket has its creation entry"
    );

    let events = events_by_ticket(&app, &tap).await;
    let announced: HashSet<&String> = events.keys().collect();
    assert_eq!(announced, answered.keys().collect::<HashSet<_>>());
    for (id, seen) in &events {
        assert_eq!(seen.len(), 1, "{id} announced once");
        assert_eq!(seen[0].kind, "ticket.created");
        assert_eq!(seen[0].sequence, 1);
        assert_eq!(
            serde_json::to_value(&seen[0].data.ticket).unwrap(),
            answered[id],
            "the event carries the ticket as answered"
        );
    }

    app.teardown().await;
}

#[tokio::test]
async fn commands_delivered_twice_in_one_batch_are_applied_once() {
    let mut app = spawn_app().await;
    stop_ticket_service(&app);
    let replies = Replies::start(&app).await;
    let tap = app.tap_events("ticket.#").await;

    // Queued while no ticket service runs, so they reach its successor together: each
    // message twice in a row, and the first ticket once more under a new message id (a
    // retry).
    let ids: Vec<TicketId> = (0..30).map(|_| TicketId::generate()).collect();
    let publisher = app.broker.publisher();
    let mut first_message = None;
    for id in &ids {
        let message = create_message(*id, &replies);
        first_message.get_or_insert_with(|| message.envelope.message_id.clone());
        publisher.publish(&message).await.unwrap();
        publisher.publish(&message).await.unwrap();
    }
    let retry = create_message(ids[0], &replies);
    publisher.publish(&retry).await.unwrap();
    let before = create_batches(&app).await;
    app.start_another_ticket_service().await;

    let answers = replies.wait_for(61).await;
    for id in &ids {
        let tickets: Vec<&Ticket> = answers
            .values()
            .flatten()
            .filter_map(|reply| match reply {
                TicketReply::Ticket { ticket } if ticket.id == *id => Some(&**ticket),
                _ => None,
            })
            .collect();
        let expected = if *id == ids[0] { 3 } else { 2 };
        assert_eq!(
            tickets.len(),
            expected,
            "every delivery of {id} is answered"
        );
        assert!(
            tickets.iter().all(|t| *t == tickets[0]),
            "every delivery of {id} gets the ticket as stored"
        );
    }
    let first = first_message.unwrap();
    assert_eq!(answers[&first].len(), 2);
    assert_eq!(answers[&retry.envelope.message_id].len(), 1);

    assert_eq!(app.count("tickets.tickets").await, 30);
    assert_eq!(app.count("tickets.status_history").await, 30);
    assert_eq!(app.count("tickets.inbox").await, 31, "one per message id");
    let events = events_by_ticket(&app, &tap).await;
    assert_eq!(events.len(), 30);
    for (id, seen) in &events {
        assert_eq!(seen.len(), 1, "{id} announced once");
        assert_eq!(
            (seen[0].kind.as_str(), seen[0].sequence),
            ("ticket.created", 1)
        );
    }
    let after = create_batches(&app).await;
    assert_batched(before, after);

    app.teardown().await;
}

#[tokio::test]
async fn a_create_whose_id_is_taken_elsewhere_is_refused_and_its_batch_mates_are_created() {
    let mut app = spawn_app_with(patient()).await;
    let globex = app.key_for("globex", Env::Test, &Ability::ALL);
    let taken = app.create_ticket(&globex, &ticket_body("Globex's")).await;
    assert_eq!(taken.status(), 201);
    let taken: Value = taken.json().await.unwrap();
    let taken: TicketId = taken["id"].as_str().unwrap().parse().unwrap();

    // The next creates queue up and reach the successor together.
    stop_ticket_service(&app);
    let replies = Replies::start(&app).await;
    let tap = app.tap_events("ticket.#").await;
    let good: Vec<TicketId> = (0..10).map(|_| TicketId::generate()).collect();
    let publisher = app.broker.publisher();
    let mut clash = None;
    for (i, id) in good.iter().enumerate() {
        if i == 5 {
            let message = create_message(taken, &replies);
            clash = Some(message.envelope.message_id.clone());
            publisher.publish(&message).await.unwrap();
        }
        publisher
            .publish(&create_message(*id, &replies))
            .await
            .unwrap();
    }
    let before = create_batches(&app).await;
    app.start_another_ticket_service().await;

    let answers = replies.wait_for(11).await;
    let clash = clash.unwrap();
    match &answers[&clash][..] {
        [TicketReply::Rejected { error }] => {
            assert_eq!(error.status, 409);
            assert_eq!(error.code, "ticket_id_conflict");
        }
        other => panic!("the taken id is refused, got {other:?}"),
    }
    let created: HashSet<TicketId> = answers
        .iter()
        .filter(|(message_id, _)| **message_id != clash)
        .flat_map(|(_, replies)| replies)
        .map(|reply| match reply {
            TicketReply::Ticket { ticket } => {
                assert_eq!(ticket.tenant.as_str(), TENANT);
                ticket.id
            }
            other => panic!("a good create is applied, got {other:?}"),
        })
        .collect();
    assert_eq!(created, good.iter().copied().collect());

    assert_eq!(app.count("tickets.tickets").await, 11);
    assert_eq!(
        scalar(
            &app,
            &format!(
                "SELECT count(*) AS n FROM tickets.tickets WHERE id = '{taken}' AND tenant = 'globex'"
            )
        )
        .await,
        1,
        "the taken ticket stays globex's"
    );
    let events = events_by_ticket(&app, &tap).await;
    for id in &good {
        let seen = &events[&id.to_string()];
        assert_eq!(seen.len(), 1, "{id} announced once");
        assert_eq!(
            (seen[0].kind.as_str(), seen[0].sequence),
            ("ticket.created", 1)
        );
    }
    let about_taken = events.get(&taken.to_string()).map_or(&[][..], |e| &e[..]);
    assert!(
        about_taken.iter().all(|e| e.tenant.as_str() == "globex"),
        "nothing announced for the refused create"
    );
    let after = create_batches(&app).await;
    assert_batched(before, after);

    app.teardown().await;
}

/// Long enough that a burst on a busy machine is answered by the ticket service (201),
/// not accepted into the queue (202).
fn patient() -> Options {
    Options {
        reply_deadline_ms: Some(15_000),
        ..Options::default()
    }
}

/// Stops the ticket service (SIGTERM): it takes no more commands, and puts back any it
/// had not started. Its queue stays, so commands sent meanwhile wait there for
/// `start_another_ticket_service`.
fn stop_ticket_service(app: &TestApp) {
    let (tickets, _) = app.consumer_stop_tokens();
    tickets.cancel();
}

/// A plain `ticket.create` of `id` for the default tenant, answered to `replies`.
fn create_message(id: TicketId, replies: &Replies) -> OutgoingMessage {
    let mut message =
        create_ticket_command(id, "Sent straight to the ticket service", Priority::High);
    message.envelope.reply_to = Some(replies.queue.clone());
    message
}

/// The replies to the commands a test sends, collected from a queue of its own (an
/// `RpcClient` would not say when its request is on the queue).
struct Replies {
    queue: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Replies {
    async fn start(app: &TestApp) -> Self {
        let name = format!("replies.{}", ulid::Ulid::new().to_string().to_lowercase());
        let spec = ConsumerSpec {
            name: name.clone(),
            bindings: vec![],
            prefetch: None,
            concurrency: 1,
        };
        declare_consumer(&app.broker, &spec).await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        spawn_consumer(&app.broker, spec, Arc::new(Collect(seen.clone())));
        Self {
            queue: app.broker.names().queue(&name),
            seen,
        }
    }

    /// Once `n` replies have arrived: each request's replies, by its message id.
    async fn wait_for(&self, n: usize) -> HashMap<String, Vec<TicketReply>> {
        let replies = wait_until(Duration::from_secs(30), "every reply", || async {
            let seen = self.seen.lock().await;
            (seen.len() >= n).then(|| seen.clone())
        })
        .await;
        let mut by_request: HashMap<String, Vec<TicketReply>> = HashMap::new();
        for reply in replies {
            let request = reply.envelope.correlation_id.clone().unwrap();
            by_request
                .entry(request)
                .or_default()
                .push(reply.json().unwrap());
        }
        by_request
    }
}

struct Collect(Arc<Mutex<Vec<Delivery>>>);

#[async_trait::async_trait]
impl Handler for Collect {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0.lock().await.push(delivery.clone());
        Outcome::Ack
    }
}

/// How many create batches the ticket service has written, and how many creates they
/// held, from the process-wide metrics every service (here the gateway) renders.
async fn create_batches(app: &TestApp) -> (f64, f64) {
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let sample = |name: &str| {
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .filter(|line| line.contains("writer=\"ticket.create\""))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    (
        sample("group_commit_batch_size_count"),
        sample("group_commit_batch_size_sum"),
    )
}

/// Some batch written between the two readings held more than one create.
fn assert_batched((batches_before, creates_before): (f64, f64), (batches, creates): (f64, f64)) {
    let (batches, creates) = (batches - batches_before, creates - creates_before);
    assert!(batches >= 1.0, "the creates went through the batch writer");
    assert!(
        creates > batches,
        "{creates} creates took {batches} batches: none held two"
    );
}

/// A `SELECT ... AS n` of one count on the test database.
async fn scalar(app: &TestApp, query: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    let row: Count = sql_query(query).get_result(&mut conn).await.unwrap();
    row.n
}
