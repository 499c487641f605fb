//! Keyed writes arriving together share the idempotency store's batches (one claim
//! statement, one answer statement): each request still gets its own answer, and a key
//! still executes once.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use loopdesk_testkit::{TcpProxy, amqp_url, wait_until};
use serde_json::Value;

use crate::helpers::{
    Options, SECRET, TOKEN_PUBLIC_KEY, TestApp, spawn_app, spawn_app_with, ticket_body,
};

/// Long enough that a burst on a busy machine is answered by the ticket service (201),
/// not accepted into the queue (202).
fn patient() -> Options {
    Options {
        reply_deadline_ms: Some(15_000),
        ..Options::default()
    }
}

/// What a test looks at in a response.
struct Seen {
    status: u16,
    replayed: bool,
    retry_after: bool,
    location: Option<String>,
    body: Value,
}

async fn seen(response: reqwest::Response) -> Seen {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let replayed = header("idempotent-replayed").is_some_and(|v| v == "true");
    let retry_after = header("retry-after").is_some();
    let location = header("location");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    Seen {
        status,
        replayed,
        retry_after,
        location,
        body,
    }
}

/// The same request `n` times at once.
async fn burst(app: &TestApp, key: &str, idempotency_key: &str, bodies: &[Value]) -> Vec<Seen> {
    let responses = futures::future::join_all(
        bodies
            .iter()
            .map(|body| app.post("/v1/tickets", key, Some(idempotency_key), body)),
    )
    .await;
    futures::future::join_all(responses.into_iter().map(seen)).await
}

#[tokio::test]
async fn a_burst_of_distinct_keys_creates_one_ticket_each_and_replays_each_answer() {
    let app = spawn_app_with(patient()).await;
    let key = app.admin_key();
    let requests: Vec<(String, Value)> = (0..100)
        .map(|i| (format!("batch-{i}"), ticket_body(&format!("Burst {i}"))))
        .collect();
    let send = || {
        futures::future::join_all(
            requests
                .iter()
                .map(|(k, body)| app.post("/v1/tickets", &key, Some(k), body)),
        )
    };

    let first = futures::future::join_all(send().await.into_iter().map(seen)).await;
    let mut ids = HashSet::new();
    for (seen, (_, body)) in first.iter().zip(&requests) {
        assert_eq!(seen.status, 201, "{}", seen.body);
        assert!(!seen.replayed);
        assert_eq!(seen.body["subject"], body["subject"], "each its own answer");
        ids.insert(seen.body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 100, "distinct tickets");
    assert_eq!(app.count("tickets.tickets").await, 100);

    // The replays arrive together too, and each finds its own recorded answer.
    let replays = futures::future::join_all(send().await.into_iter().map(seen)).await;
    for (replay, original) in replays.iter().zip(&first) {
        assert_eq!(replay.status, 201, "{}", replay.body);
        assert!(replay.replayed, "answered from the record");
        assert_eq!(replay.body, original.body);
        assert_eq!(replay.location, original.location);
    }
    assert_eq!(app.count("tickets.tickets").await, 100);

    app.teardown().await;
}

#[tokio::test]
async fn a_burst_of_one_key_executes_once() {
    let app = spawn_app_with(patient()).await;
    let key = app.admin_key();
    let body = ticket_body("Twenty at once");

    let seen = burst(&app, &key, "same-key", &vec![body.clone(); 20]).await;
    let executed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status == 201 && !s.replayed)
        .collect();
    assert_eq!(executed.len(), 1, "exactly one executes");
    let original = &executed[0].body;
    for s in &seen {
        match (s.status, s.replayed) {
            (201, _) => assert_eq!(&s.body, original, "a replay is the same answer"),
            (409, false) => {
                assert_eq!(s.body["code"], "idempotency_key_in_use", "{}", s.body);
                assert!(s.retry_after, "in use says when to retry");
            }
            other => panic!("unexpected answer {other:?}: {}", s.body),
        }
    }
    assert_eq!(app.count("tickets.tickets").await, 1);

    let again = seen_one(&app, &key, "same-key", &body).await;
    assert_eq!((again.status, again.replayed), (201, true));
    assert_eq!(&again.body, original);
    assert_eq!(app.count("tickets.tickets").await, 1);

    app.teardown().await;
}

#[tokio::test]
async fn a_burst_of_one_key_with_two_bodies_executes_one_and_refuses_the_other() {
    let app = spawn_app_with(patient()).await;
    let key = app.admin_key();
    let bodies: Vec<Value> = (0..20)
        .map(|i| ticket_body(if i % 2 == 0 { "Even" } else { "Odd" }))
        .collect();

    let seen = burst(&app, &key, "two-bodies", &bodies).await;
    let executed: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status == 201 && !s.replayed)
        .collect();
    assert_eq!(executed.len(), 1, "exactly one executes");
    let winner = executed[0].body["subject"].as_str().unwrap().to_owned();
    let mut codes: HashMap<&str, usize> = HashMap::new();
    for (s, body) in seen.iter().zip(&bodies) {
        if body["subject"] == winner.as_str() {
            match s.status {
                201 => assert_eq!(s.body, executed[0].body),
                409 => assert_eq!(s.body["code"], "idempotency_key_in_use", "{}", s.body),
                other => panic!("unexpected {other}: {}", s.body),
            }
        } else {
            assert_eq!(s.status, 409, "{}", s.body);
            assert_eq!(s.body["code"], "idempotency_key_reused", "{}", s.body);
            *codes.entry("reused").or_default() += 1;
        }
    }
    assert_eq!(
        codes.get("reused"),
        Some(&10),
        "every other body is refused"
    );
    assert_eq!(app.count("tickets.tickets").await, 1);

    app.teardown().await;
}

/// A gateway of its own whose database connections go through a proxy the test cuts.
struct CuttableGateway {
    address: String,
    db: TcpProxy,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableGateway {
    async fn start(app: &TestApp) -> Self {
        let db = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
        let url = app.db.url.replace("127.0.0.1:5432", &db.addr().to_string());
        let vars: HashMap<String, String> = [
            ("LOOPDESK_DATABASE__URL", url),
            ("LOOPDESK_DATABASE__MAX_CONNECTIONS", "4".into()),
            ("LOOPDESK_DATABASE__ACQUIRE_TIMEOUT_MS", "500".into()),
            ("LOOPDESK_BROKER__URL", amqp_url()),
            (
                "LOOPDESK_BROKER__PREFIX",
                app.broker.settings().prefix.clone(),
            ),
            ("LOOPDESK_BROKER__RECONNECT_MAX_BACKOFF_MS", "500".into()),
            ("LOOPDESK_HTTP__PORT", "0".into()),
            ("LOOPDESK_AUTH__ACTIVE_KID", "k1".into()),
            ("LOOPDESK_AUTH__KEYS__K1", SECRET.into()),
            (
                "LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY",
                TOKEN_PUBLIC_KEY.into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let settings = api_gateway::Settings::load_with_vars(vars).unwrap();
        let gateway = api_gateway::Application::build(settings).await.unwrap();
        gateway
            .broker()
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", gateway.port());
        let stop = gateway.shutdown_token();
        let task = tokio::spawn(async move {
            let _ = gateway.run_until_stopped().await;
        });
        Self {
            address,
            db,
            stop,
            task,
        }
    }

    async fn create(&self, app: &TestApp, key: &str, idempotency_key: &str, body: &Value) -> Seen {
        let response = app
            .client
            .post(format!("{}/v1/tickets", self.address))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .unwrap();
        seen(response).await
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.task).await;
    }
}

#[tokio::test]
async fn a_gateway_without_its_database_answers_503_and_the_same_key_works_once_it_returns() {
    let app = spawn_app().await;
    let gateway = CuttableGateway::start(&app).await;
    let key = app.admin_key();
    let body = ticket_body("While the gateway's database is away");
    let before = gateway
        .create(&app, &key, "db-away-0", &ticket_body("Before"))
        .await;
    assert_eq!(before.status, 201, "{}", before.body);

    gateway.db.cut();
    let keys: Vec<String> = (0..5).map(|i| format!("db-away-{}", 1 + i % 2)).collect();
    let refused =
        futures::future::join_all(keys.iter().map(|k| gateway.create(&app, &key, k, &body))).await;
    for s in &refused {
        assert_eq!(s.status, 503, "{}", s.body);
        assert!(s.retry_after, "503 says when to retry");
        assert_eq!(s.body["code"], "service_unavailable");
    }
    assert_eq!(app.count("tickets.tickets").await, 1, "nothing was sent");

    gateway.db.restore();
    let retried = wait_until(
        Duration::from_secs(20),
        "the gateway to reach its database again",
        || async {
            let s = gateway.create(&app, &key, "db-away-1", &body).await;
            (s.status != 503).then_some(s)
        },
    )
    .await;
    assert_eq!(retried.status, 201, "{}", retried.body);
    assert!(!retried.replayed);
    let again = gateway.create(&app, &key, "db-away-1", &body).await;
    assert_eq!((again.status, again.replayed), (201, true));
    assert_eq!(again.body, retried.body);
    assert_eq!(app.count("tickets.tickets").await, 2);

    gateway.stop().await;
    app.teardown().await;
}

async fn seen_one(app: &TestApp, key: &str, idempotency_key: &str, body: &Value) -> Seen {
    seen(
        app.post("/v1/tickets", key, Some(idempotency_key), body)
            .await,
    )
    .await
}
