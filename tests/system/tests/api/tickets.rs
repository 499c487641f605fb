use std::collections::HashSet;

use loopdesk_auth::Ability;
use loopdesk_contracts::{
    Env,
    commands::{CREATE_TICKET, CreateTicket, TicketCommand},
    events::TicketEvent,
    ids::{MessageId, TicketId},
    tickets::{NewTicket, Priority, Requester},
};
use loopdesk_messaging::{Envelope, OutgoingMessage, Route};
use serde_json::Value;

use crate::helpers::{TENANT, spawn_app, ticket_body};

#[tokio::test]
async fn a_created_ticket_reads_back_through_the_gateway() {
    let app = spawn_app().await;
    let key = app.admin_key();

    let created = app
        .create_ticket(&key, &ticket_body("Printer on fire"))
        .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let ticket: Value = created.json().await.unwrap();
    let id = ticket["id"].as_str().unwrap();
    assert!(id.starts_with("tkt_"));
    assert_eq!(location, format!("/v1/tickets/{id}"));
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["version"], 1);
    assert_eq!(ticket["tenant"], TENANT);
    assert_eq!(ticket["env"], "test");

    let read = app.get(&location, &key).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "\"1\"");
    let read: Value = read.json().await.unwrap();
    assert_eq!(read, ticket);
    assert_eq!(read["subject"], "Printer on fire");
    assert_eq!(read["requester"]["email"], "ann@example.com");
    assert_eq!(read["priority"], "high");
    assert_eq!(read["tags"], serde_json::json!(["vip", "invoice"]));
    assert_eq!(read["metadata"]["order"], "ORD-1");

    app.teardown().await;
}

#[tokio::test]
async fn another_tenants_ticket_is_not_found() {
    let app = spawn_app().await;
    let created: Value = app
        .create_ticket(&app.admin_key(), &ticket_body("Mine"))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/tickets/{}", created["id"].as_str().unwrap());

    let other = app.key_for("globex", Env::Test, &[Ability::TicketsRead]);
    assert_eq!(app.get(&path, &other).await.status(), 404);
    let live = app.key_for(TENANT, Env::Live, &[Ability::TicketsRead]);
    assert_eq!(
        app.get(&path, &live).await.status(),
        404,
        "test and live never mix"
    );
    let listed: Value = app.get("/v1/tickets", &other).await.json().await.unwrap();
    assert_eq!(listed["data"], serde_json::json!([]));

    app.teardown().await;
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_tickets_are_created() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let mut before = HashSet::new();
    for i in 0..7 {
        let t: Value = app
            .create_ticket(&key, &ticket_body(&format!("Ticket {i}")))
            .await
            .json()
            .await
            .unwrap();
        before.insert(t["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tickets?limit=3&cursor={c}"),
            None => "/v1/tickets?limit=3".to_owned(),
        };
        let page: Value = app.get(&path, &key).await.json().await.unwrap();
        for t in page["data"].as_array().unwrap() {
            seen.push(t["id"].as_str().unwrap().to_owned());
        }
        // New tickets arrive between pages.
        app.create_ticket(&key, &ticket_body("Arrived mid-listing"))
            .await;
        if page["has_more"] == false {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }

    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no ticket listed twice");
    assert_eq!(
        unique, before,
        "every ticket that existed is listed, newer ones are not"
    );
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    app.teardown().await;
}

#[tokio::test]
async fn listings_filter_by_field() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let mut low = ticket_body("Low one");
    low["priority"] = "low".into();
    low["tags"] = serde_json::json!(["other"]);
    low["requester"]["email"] = "bob@example.com".into();
    app.create_ticket(&key, &low).await;
    app.create_ticket(&key, &ticket_body("High one")).await;

    let ids = |v: Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    let by = |q: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.get(&format!("/v1/tickets?{q}"), &key)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(ids(by("priority=low").await), ["Low one"]);
    assert_eq!(ids(by("tag=vip").await), ["High one"]);
    assert_eq!(ids(by("requester=BOB@example.com").await), ["Low one"]);
    assert_eq!(ids(by("status=new&queue=billing").await).len(), 2);
    assert_eq!(ids(by("created_after=2999-01-01T00:00:00Z").await).len(), 0);
    assert_eq!(
        ids(by("created_before=2999-01-01T00:00:00Z").await).len(),
        2
    );

    app.teardown().await;
}

#[tokio::test]
async fn the_seed_create_ticket_shape_works() {
    let app = spawn_app().await;
    let key = app.key_for(
        TENANT,
        Env::Test,
        &[Ability::CreateTicket, Ability::TicketsRead],
    );
    let body = serde_json::json!({
        "originator_email_address": "someone@client-system.example",
        "subject": "Refund request",
        "body": "Please refund order 42.",
    });
    let response = app
        .post("/api/create_ticket", &key, Some("compat-1"), &body)
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["ok"], true);
    let id = answer["data"]["ticket_id"].as_str().unwrap();
    assert_eq!(
        answer["data"]["ticket"]["requester"]["email"],
        "someone@client-system.example"
    );
    let read: Value = app
        .get(&format!("/v1/tickets/{id}"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["description"], "Please refund order 42.");

    app.teardown().await;
}

fn command(id: TicketId) -> TicketCommand {
    TicketCommand::Create(CreateTicket {
        ticket: NewTicket {
            id,
            subject: "Delivered twice".into(),
            description: String::new(),
            requester: Requester {
                email: "ann@example.com".into(),
                name: None,
            },
            priority: Priority::Normal,
            queue: "general".into(),
            tags: vec![],
            source: "api".into(),
            metadata: Default::default(),
            follow_up_of: None,
        },
        actor: loopdesk_contracts::Actor {
            kind: loopdesk_contracts::ActorKind::System,
            id: "test".into(),
            key_id: None,
        },
        initial_responses: vec![],
    })
}

#[tokio::test]
async fn a_command_delivered_twice_creates_one_ticket_and_one_event() {
    let app = spawn_app().await;
    let tap = app.tap_events("ticket.#").await;
    let id = TicketId::generate();
    let mut envelope = Envelope::new(CREATE_TICKET, TENANT, "test");
    envelope.message_id = MessageId::generate().to_string();
    let message = OutgoingMessage::json(
        Route::Command(CREATE_TICKET.into()),
        envelope.clone(),
        &command(id),
    )
    .unwrap();
    let publisher = app.broker.publisher();
    publisher.publish(&message).await.unwrap();
    publisher.publish(&message).await.unwrap();
    // The same ticket under a new message id (a retried request) is also applied once.
    let mut again = message;
    again.envelope.message_id = MessageId::generate().to_string();
    publisher.publish(&again).await.unwrap();

    let key = app.admin_key();
    loopdesk_testkit::wait_until(std::time::Duration::from_secs(10), "the ticket", || async {
        (app.get(&format!("/v1/tickets/{id}"), &key).await.status() == 200).then_some(())
    })
    .await;
    // The inbox records each message id once: three messages seen, one effect.
    loopdesk_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "all three messages",
        || async { (app.count("tickets.inbox").await == 2).then_some(()) },
    )
    .await;
    assert_eq!(app.count("tickets.tickets").await, 1);
    app.outbox_drained().await;
    let events = tap.settle(&app).await;
    assert_eq!(events.len(), 1, "one ticket.created");
    let event: TicketEvent = events[0].json().unwrap();
    assert_eq!(event.kind, "ticket.created");
    assert_eq!(event.sequence, 1);
    assert_eq!(event.data.ticket.id, id);

    app.teardown().await;
}

#[tokio::test]
async fn each_ticket_created_reaches_the_events_exchange_once_with_two_instances() {
    let mut app = spawn_app().await;
    app.start_another_ticket_service().await;
    let tap = app.tap_events("ticket.*").await;
    let key = app.admin_key();
    let mut ids = HashSet::new();
    let bodies: Vec<Value> = (0..40)
        .map(|i| ticket_body(&format!("Burst {i}")))
        .collect();
    let responses =
        futures::future::join_all(bodies.iter().map(|b| app.create_ticket(&key, b))).await;
    for r in responses {
        assert!(r.status() == 201 || r.status() == 202, "{}", r.status());
        let v: Value = r.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }

    app.wait_count("tickets.tickets", 40).await;
    app.outbox_drained().await;
    let events = tap.settle(&app).await;
    let event_ticket_ids: Vec<String> = events
        .iter()
        .map(|d| d.json::<TicketEvent>().unwrap().data.ticket.id.to_string())
        .collect();
    let unique: HashSet<_> = event_ticket_ids.iter().cloned().collect();
    assert_eq!(unique, ids);
    assert_eq!(event_ticket_ids.len(), 40, "no event published twice");

    app.teardown().await;
}
