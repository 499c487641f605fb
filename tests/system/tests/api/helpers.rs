//! `spawn_app()`: the gateway and the ticket service started in-process on port 0,
//! over a fresh database and a broker name prefix of their own.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use api_gateway::Application as Gateway;
use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use loopdesk_auth::{Ability, KeyRing, KeySettings, MintRequest};
use loopdesk_contracts::{Env, Tenant};
use loopdesk_messaging::{
    Binding, Broker, BrokerSettings, ConsumerSpec, Delivery, Handler, Outcome, declare_consumer,
    spawn_consumer,
};
use loopdesk_testkit::{TcpProxy, TestDatabase, amqp_url, unique_prefix, wait_until};
use serde_json::Value;
use ticket_service::Application as TicketService;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The signing secret of test keys (32+ bytes).
pub const SECRET: &str = "test-signing-secret-0123456789-abcdef";
/// The tenant most tests act as.
pub const TENANT: &str = "acme";

/// What a test may vary.
#[derive(Default)]
pub struct Options {
    /// Route the gateway's broker connection through a proxy the test can cut.
    pub gateway_broker_proxy: bool,
    /// How long the gateway waits for the ticket service (default 3000 ms).
    pub reply_deadline_ms: Option<u64>,
    /// Do not start the ticket service (commands queue up unanswered).
    pub without_ticket_service: bool,
    /// Route the ticket service's database connections through a proxy the test can cut.
    pub ticket_db_proxy: bool,
    /// CIDRs webhook-fanout may reach although not global (default
    /// `127.0.0.0/8,::1/128`; `Some(String::new())` allows none).
    pub webhook_allow_cidrs: Option<String>,
    /// webhook-fanout's retry schedule in ms (default `0,100,200,300,400`).
    pub webhook_schedule_ms: Option<String>,
    /// webhook-fanout's attempt timeout in ms (default 2000).
    pub webhook_attempt_timeout_ms: Option<u64>,
    /// How long an endpoint may fail continuously before it is disabled (default 5 days).
    pub webhook_failure_disable_after_ms: Option<u64>,
    /// CIDRs epilog-dispatcher may reach although not global (default
    /// `127.0.0.0/8,::1/128`; `Some(String::new())` allows none).
    pub epilog_allow_cidrs: Option<String>,
    /// intervention-service's `secrets.token_private_key` (default
    /// [`TOKEN_PRIVATE_KEY`], the private half of the gateway's [`TOKEN_PUBLIC_KEY`]).
    pub intervention_token_private_key: Option<String>,
}

/// The key webhook-fanout encrypts signing secrets with in tests (base64 of 32 bytes).
pub const WEBHOOK_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The key the intervention service encrypts remote bearer tokens with in tests.
pub const INTERVENTION_ENCRYPTION_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The private key remote bearer tokens are sealed for in tests (`loopdesk keys transit`).
pub const TOKEN_PRIVATE_KEY: &str = "LVW9NN2mS+F0ZssV8kZbcs5gWEtG1Zke1o8tp/amVek=";
/// Its public half, which the gateway seals with.
pub const TOKEN_PUBLIC_KEY: &str = "3LkE1LwLMv1isSXHZFtp2hmgxQeVJf+mOegQgTVvAVU=";

/// A running system under test.
pub struct TestApp {
    /// Gateway base URL.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The test's database.
    pub db: TestDatabase,
    /// Signs test keys.
    pub keys: KeyRing,
    /// Proxy in front of the gateway's broker connection, when asked for.
    pub broker_proxy: Option<TcpProxy>,
    /// Proxy in front of the ticket service's database, when asked for.
    pub ticket_db_proxy: Option<TcpProxy>,
    /// The test's own broker connection (declaring taps).
    pub broker: Broker,
    ticket_vars: HashMap<String, String>,
    webhook_vars: HashMap<String, String>,
    /// Stops the first webhook-fanout instance (restart tests).
    webhook_stop: CancellationToken,
    /// Stops the first ticket-service instance (restart tests).
    ticket_stop: Option<CancellationToken>,
    brokers: Vec<Broker>,
    stops: Vec<CancellationToken>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn vars(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Starts the system with default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// Starts the system.
pub async fn spawn_app_with(options: Options) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDatabase::create().await;
    let prefix = unique_prefix("sys");
    let broker_proxy = if options.gateway_broker_proxy {
        let upstream: SocketAddr = "127.0.0.1:5672".parse().unwrap();
        Some(TcpProxy::start(upstream).await)
    } else {
        None
    };
    let gateway_amqp = match &broker_proxy {
        Some(proxy) => amqp_url().replace("127.0.0.1:5672", &proxy.addr().to_string()),
        None => amqp_url(),
    };
    let common = |amqp: String| {
        vars(&[
            ("LOOPDESK_DATABASE__URL", db.url.clone()),
            ("LOOPDESK_BROKER__URL", amqp),
            ("LOOPDESK_BROKER__PREFIX", prefix.clone()),
            ("LOOPDESK_BROKER__RETRY_DELAY_MS", "200".into()),
            ("LOOPDESK_BROKER__RECONNECT_MAX_BACKOFF_MS", "500".into()),
            ("LOOPDESK_BROKER__PUBLISH_TIMEOUT_MS", "2000".into()),
            ("LOOPDESK_HTTP__PORT", "0".into()),
            // Five services per test and several tests at once share one PostgreSQL.
            ("LOOPDESK_DATABASE__MAX_CONNECTIONS", "4".into()),
        ])
    };

    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    let mut brokers = Vec::new();
    let ticket_db_proxy = if options.ticket_db_proxy {
        Some(TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await)
    } else {
        None
    };
    let mut ticket_vars = common(amqp_url());
    if let Some(proxy) = &ticket_db_proxy {
        let url = db.url.replace("127.0.0.1:5432", &proxy.addr().to_string());
        ticket_vars.insert("LOOPDESK_DATABASE__URL".into(), url);
        ticket_vars.insert("LOOPDESK_DATABASE__ACQUIRE_TIMEOUT_MS".into(), "500".into());
    }
    let mut tickets_url = "http://127.0.0.1:9".to_owned();
    let mut ticket_stop = None;
    if !options.without_ticket_service {
        let started = start_ticket_service(&ticket_vars).await;
        tickets_url = started.url;
        ticket_stop = Some(started.stop.clone());
        stops.push(started.stop);
        tasks.push(started.task);
        brokers.push(started.broker);
    }

    let mut webhook_vars = common(amqp_url());
    webhook_vars.extend(vars(&[
        (
            "LOOPDESK_SECRETS__ENCRYPTION_KEY",
            WEBHOOK_ENCRYPTION_KEY.into(),
        ),
        ("LOOPDESK_SECRETS__ROTATION_GRACE_MS", "600000".into()),
        (
            "LOOPDESK_DELIVERY__SCHEDULE_MS",
            options
                .webhook_schedule_ms
                .clone()
                .unwrap_or_else(|| "0,100,200,300,400".into()),
        ),
        (
            "LOOPDESK_DELIVERY__ATTEMPT_TIMEOUT_MS",
            options
                .webhook_attempt_timeout_ms
                .unwrap_or(2000)
                .to_string(),
        ),
        ("LOOPDESK_DELIVERY__RETRY_AFTER_MAX_MS", "2000".into()),
        (
            "LOOPDESK_DELIVERY__FAILURE_DISABLE_AFTER_MS",
            options
                .webhook_failure_disable_after_ms
                .unwrap_or(432_000_000)
                .to_string(),
        ),
        ("LOOPDESK_DELIVERY__POLL_INTERVAL_MS", "50".into()),
        (
            "LOOPDESK_OUTBOUND__ALLOW_CIDRS",
            options
                .webhook_allow_cidrs
                .clone()
                .unwrap_or_else(|| "127.0.0.0/8,::1/128".into()),
        ),
        ("LOOPDESK_OUTBOUND__ALLOW_HTTP", "true".into()),
    ]));
    let started = start_webhook_fanout(&webhook_vars).await;
    let webhooks_url = started.url;
    let webhook_stop = started.stop.clone();
    stops.push(started.stop);
    tasks.push(started.task);
    brokers.push(started.broker);

    let mut intervention_vars = common(amqp_url());
    intervention_vars.insert(
        "LOOPDESK_SECRETS__ENCRYPTION_KEY".into(),
        INTERVENTION_ENCRYPTION_KEY.into(),
    );
    intervention_vars.insert(
        "LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY".into(),
        options
            .intervention_token_private_key
            .clone()
            .unwrap_or_else(|| TOKEN_PRIVATE_KEY.into()),
    );
    let started = start_intervention_service(&intervention_vars).await;
    let interventions_url = started.url;
    stops.push(started.stop);
    tasks.push(started.task);
    brokers.push(started.broker);

    let mut epilog_vars = common(amqp_url());
    epilog_vars.extend(vars(&[
        (
            "LOOPDESK_OWNERS__INTERVENTIONS_URL",
            interventions_url.clone(),
        ),
        // Three attempts, milliseconds apart.
        ("LOOPDESK_DISPATCH__SCHEDULE_MS", "0,100,200".into()),
        ("LOOPDESK_DISPATCH__RETRY_AFTER_MAX_MS", "2000".into()),
        ("LOOPDESK_DISPATCH__POLL_INTERVAL_MS", "50".into()),
        ("LOOPDESK_RELAY__POLL_INTERVAL_MS", "50".into()),
        (
            "LOOPDESK_OUTBOUND__ALLOW_CIDRS",
            options
                .epilog_allow_cidrs
                .clone()
                .unwrap_or_else(|| "127.0.0.0/8,::1/128".into()),
        ),
        ("LOOPDESK_OUTBOUND__ALLOW_HTTP", "true".into()),
    ]));
    let started = start_epilog_dispatcher(&epilog_vars).await;
    let epilogs_url = started.url;
    stops.push(started.stop);
    tasks.push(started.task);
    brokers.push(started.broker);

    let mut gateway_vars = common(gateway_amqp);
    gateway_vars.extend(vars(&[
        ("LOOPDESK_AUTH__ACTIVE_KID", "k1".into()),
        ("LOOPDESK_AUTH__KEYS__K1", SECRET.into()),
        ("LOOPDESK_AUTH__REVOCATION_REFRESH_MS", "200".into()),
        ("LOOPDESK_OWNERS__TICKETS_URL", tickets_url),
        ("LOOPDESK_OWNERS__WEBHOOKS_URL", webhooks_url),
        ("LOOPDESK_OWNERS__INTERVENTIONS_URL", interventions_url),
        ("LOOPDESK_OWNERS__EPILOGS_URL", epilogs_url),
        (
            "LOOPDESK_HTTP__REPLY_DEADLINE_MS",
            options.reply_deadline_ms.unwrap_or(3000).to_string(),
        ),
        ("LOOPDESK_RATE_LIMIT__PER_SECOND", "1000".into()),
        ("LOOPDESK_RATE_LIMIT__BURST", "1000".into()),
        (
            "LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY",
            TOKEN_PUBLIC_KEY.into(),
        ),
    ]));
    let settings = api_gateway::Settings::load_with_vars(gateway_vars).expect("gateway settings");
    let keys = KeyRing::from_settings(&KeySettings {
        active_kid: "k1".into(),
        keys: [("k1".to_owned(), secrecy::SecretString::from(SECRET))].into(),
    })
    .expect("key ring");
    let gateway = Gateway::build(settings).await.expect("gateway starts");
    let address = format!("http://127.0.0.1:{}", gateway.port());
    gateway
        .broker()
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("gateway reaches the broker");
    stops.push(gateway.shutdown_token());
    brokers.push(gateway.broker().clone());
    tasks.push(tokio::spawn(async move {
        let _ = gateway.run_until_stopped().await;
    }));

    let test_stop = CancellationToken::new();
    let broker = Broker::start(
        BrokerSettings {
            url: amqp_url().into(),
            prefix: prefix.clone(),
            ..BrokerSettings::default()
        },
        test_stop.clone(),
    );
    broker
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("test broker");
    stops.push(test_stop);
    brokers.push(broker.clone());

    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        keys,
        broker_proxy,
        ticket_db_proxy,
        broker,
        ticket_vars,
        webhook_vars,
        webhook_stop,
        ticket_stop,
        brokers,
        stops,
        tasks,
    }
}

struct Started {
    url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    broker: Broker,
}

async fn start_ticket_service(vars: &HashMap<String, String>) -> Started {
    let settings = ticket_service::Settings::load_with_vars(vars.clone()).expect("ticket settings");
    let service = TicketService::build(settings)
        .await
        .expect("ticket service starts");
    service
        .broker()
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("ticket service reaches the broker");
    let url = format!("http://127.0.0.1:{}", service.port());
    let stop = service.shutdown_token();
    let broker = service.broker().clone();
    let task = tokio::spawn(async move {
        let _ = service.run_until_stopped().await;
    });
    Started {
        url,
        stop,
        task,
        broker,
    }
}

async fn start_intervention_service(vars: &HashMap<String, String>) -> Started {
    let settings = intervention_service::Settings::load_with_vars(vars.clone())
        .expect("intervention-service settings");
    let service = intervention_service::Application::build(settings)
        .await
        .expect("intervention-service starts");
    service
        .broker()
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("intervention-service reaches the broker");
    let url = format!("http://127.0.0.1:{}", service.port());
    let stop = service.shutdown_token();
    let broker = service.broker().clone();
    let task = tokio::spawn(async move {
        let _ = service.run_until_stopped().await;
    });
    Started {
        url,
        stop,
        task,
        broker,
    }
}

async fn start_epilog_dispatcher(vars: &HashMap<String, String>) -> Started {
    let settings = epilog_dispatcher::Settings::load_with_vars(vars.clone())
        .expect("epilog-dispatcher settings");
    let service = epilog_dispatcher::Application::build(settings)
        .await
        .expect("epilog-dispatcher starts");
    service
        .broker()
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("epilog-dispatcher reaches the broker");
    let url = format!("http://127.0.0.1:{}", service.port());
    let stop = service.shutdown_token();
    let broker = service.broker().clone();
    let task = tokio::spawn(async move {
        let _ = service.run_until_stopped().await;
    });
    Started {
        url,
        stop,
        task,
        broker,
    }
}

async fn start_webhook_fanout(vars: &HashMap<String, String>) -> Started {
    let settings =
        webhook_fanout::Settings::load_with_vars(vars.clone()).expect("webhook-fanout settings");
    let service = webhook_fanout::Application::build(settings)
        .await
        .expect("webhook-fanout starts");
    service
        .broker()
        .wait_connected(Duration::from_secs(10))
        .await
        .expect("webhook-fanout reaches the broker");
    let url = format!("http://127.0.0.1:{}", service.port());
    let stop = service.shutdown_token();
    let broker = service.broker().clone();
    let task = tokio::spawn(async move {
        let _ = service.run_until_stopped().await;
    });
    Started {
        url,
        stop,
        task,
        broker,
    }
}

impl TestApp {
    /// Starts one more ticket service instance on the same database and prefix.
    pub async fn start_another_ticket_service(&mut self) {
        let started = start_ticket_service(&self.ticket_vars).await;
        self.stops.push(started.stop);
        self.tasks.push(started.task);
        self.brokers.push(started.broker);
    }

    /// A test key of `tenant` with `abilities`.
    pub fn key_for(&self, tenant: &str, env: Env, abilities: &[Ability]) -> String {
        self.keys
            .mint(MintRequest {
                sub: "user:tester".into(),
                tenant: Tenant::parse(tenant).unwrap(),
                env,
                abilities: abilities.to_vec(),
                ttl: chrono::Duration::hours(1),
                label: None,
            })
            .unwrap()
            .token
    }

    /// A test key of the default tenant with every ability.
    pub fn admin_key(&self) -> String {
        self.key_for(TENANT, Env::Test, &Ability::ALL)
    }

    /// `POST path` with a JSON body, a key and an optional idempotency key.
    pub async fn post(
        &self,
        path: &str,
        key: &str,
        idempotency_key: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(key)
            .json(body);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        req.send().await.expect("request sent")
    }

    /// `POST /v1/tickets` with a fresh idempotency key.
    pub async fn create_ticket(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post(
            "/v1/tickets",
            key,
            Some(&ulid::Ulid::new().to_string()),
            body,
        )
        .await
    }

    /// `GET path` with a key.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(key)
            .send()
            .await
            .expect("request sent")
    }

    /// Rows in a table of the test database (`schema.table`).
    pub async fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.db.url).await.unwrap();
        let row: Count = sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .unwrap();
        row.n
    }

    /// Waits until `table` holds `n` rows.
    pub async fn wait_count(&self, table: &str, n: i64) {
        wait_until(
            Duration::from_secs(15),
            &format!("{n} rows in {table}"),
            || async { (self.count(table).await == n).then_some(()) },
        )
        .await;
    }

    /// Waits until the ticket service's outbox is empty (everything committed has been
    /// published and confirmed).
    pub async fn outbox_drained(&self) {
        wait_until(Duration::from_secs(15), "the outbox to drain", || async {
            (self.count("tickets.outbox").await == 0).then_some(())
        })
        .await;
    }

    /// Starts collecting every event published under this test's prefix that matches
    /// `pattern` (e.g. `ticket.#`).
    pub async fn tap_events(&self, pattern: &str) -> EventTap {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spec = ConsumerSpec {
            name: format!("tap.{}", ulid::Ulid::new().to_string().to_lowercase()),
            bindings: vec![Binding::Event(pattern.to_owned())],
            prefetch: None,
            concurrency: 1,
        };
        // Bound before anything is published, so the tap misses nothing.
        declare_consumer(&self.broker, &spec)
            .await
            .expect("tap declared");
        spawn_consumer(&self.broker, spec, Arc::new(Tap(seen.clone())));
        // A routing key the pattern matches, for the sentinel of `settle`.
        let sentinel_key = pattern.replace(['#', '*'], "sentinel");
        EventTap { seen, sentinel_key }
    }

    /// Stops every service and deletes the test's database and broker objects.
    pub async fn teardown(self) {
        for stop in &self.stops {
            stop.cancel();
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        drop(self.broker_proxy);
        drop(self.ticket_db_proxy);
        for broker in &self.brokers {
            let _ = broker.delete_declared_topology().await;
        }
        self.db.drop_database().await;
    }

    /// The shutdown tokens of the first ticket-service and webhook-fanout instances:
    /// cancelling one is what SIGTERM does to that process (it drains and stops). The
    /// gateway keeps reading through the first instances' addresses, so after a stop
    /// check results in the database.
    pub fn consumer_stop_tokens(&self) -> (CancellationToken, CancellationToken) {
        let tickets = self.ticket_stop.clone().unwrap_or_default();
        (tickets, self.webhook_stop.clone())
    }

    /// Stops the first webhook-fanout instance and starts a fresh one on the same
    /// database and prefix: what a deploy does.
    pub async fn restart_webhook_fanout(&mut self) {
        self.webhook_stop.cancel();
        self.start_another_webhook_fanout().await;
    }

    /// Starts one more webhook-fanout instance on the same database and prefix.
    pub async fn start_another_webhook_fanout(&mut self) {
        let started = start_webhook_fanout(&self.webhook_vars).await;
        self.stops.push(started.stop);
        self.tasks.push(started.task);
        self.brokers.push(started.broker);
    }

    /// `POST /v1/webhook_endpoints` with a fresh idempotency key; asserts 201 and
    /// answers the body (with its `secret`).
    pub async fn create_endpoint(&self, key: &str, body: &Value) -> Value {
        let response = self
            .post(
                "/v1/webhook_endpoints",
                key,
                Some(&ulid::Ulid::new().to_string()),
                body,
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Publishes a `ticket.*` event of `kind` for `tenant` (test env) straight onto the
    /// events exchange, as the ticket service would; answers its id.
    pub async fn publish_event(&self, tenant: &str, kind: &str) -> String {
        let id = loopdesk_contracts::ids::EventId::generate().to_string();
        let ticket = loopdesk_contracts::ids::TicketId::generate().to_string();
        let body = serde_json::json!({
            "id": id,
            "type": kind,
            "created_at": chrono::Utc::now(),
            "tenant": tenant,
            "env": "test",
            "sequence": 1,
            "data": {
                "ticket": {"id": ticket, "subject": "Printer on fire"},
                "actor": {"type": "system", "id": "test"},
            }
        });
        let envelope = loopdesk_messaging::Envelope::new(kind, tenant, "test");
        let message = loopdesk_messaging::OutgoingMessage {
            route: loopdesk_messaging::Route::Event(kind.to_owned()),
            envelope,
            body: serde_json::to_vec(&body).unwrap(),
        };
        self.broker
            .publisher()
            .publish(&message)
            .await
            .expect("event published");
        id
    }

    /// Sends `intervention.payload.open` for `tenant` (test env) straight to the
    /// intervention service, as the create flow will, and answers its reply.
    pub async fn open_intervention_payload(
        &self,
        tenant: &str,
        ticket_id: &str,
        intervention: &str,
        uid: &str,
        data: Value,
    ) -> Value {
        let name = loopdesk_contracts::interventions::OPEN_PAYLOAD;
        let command = serde_json::json!({
            "type": name,
            "id": loopdesk_contracts::ids::InterventionPayloadId::generate().to_string(),
            "ticket_id": ticket_id,
            "intervention": intervention,
            "uid": uid,
            "data": data,
            "actor": {"type": "system", "id": "test"},
        });
        let envelope = loopdesk_messaging::Envelope::new(name, tenant, "test");
        let message = loopdesk_messaging::OutgoingMessage::json(
            loopdesk_messaging::Route::Command(name.to_owned()),
            envelope,
            &command,
        )
        .unwrap();
        let reply = loopdesk_messaging::RpcClient::start(&self.broker)
            .call(message, Duration::from_secs(10))
            .await
            .expect("the intervention service answers");
        reply.json().unwrap()
    }
}

/// Events seen by a tap.
pub struct EventTap {
    seen: Arc<Mutex<Vec<Delivery>>>,
    sentinel_key: String,
}

impl EventTap {
    /// Everything published before now, once it has all arrived: a sentinel event is
    /// published behind it and, queues being FIFO, its arrival means nothing earlier is
    /// still on the way. Call once the outbox is empty.
    pub async fn settle(&self, app: &TestApp) -> Vec<Delivery> {
        let mut envelope =
            loopdesk_messaging::Envelope::new(self.sentinel_key.clone(), TENANT, "test");
        envelope.message_id = loopdesk_contracts::ids::MessageId::generate().to_string();
        let sentinel = envelope.message_id.clone();
        let message = loopdesk_messaging::OutgoingMessage {
            route: loopdesk_messaging::Route::Event(self.sentinel_key.clone()),
            envelope,
            body: b"{}".to_vec(),
        };
        app.broker
            .publisher()
            .publish(&message)
            .await
            .expect("sentinel published");
        wait_until(Duration::from_secs(15), "the sentinel event", || async {
            let seen = self.seen.lock().await;
            seen.iter()
                .any(|d| d.envelope.message_id == sentinel)
                .then(|| {
                    seen.iter()
                        .filter(|d| d.envelope.message_id != sentinel)
                        .cloned()
                        .collect()
                })
        })
        .await
    }
}

struct Tap(Arc<Mutex<Vec<Delivery>>>);

#[async_trait::async_trait]
impl Handler for Tap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        self.0.lock().await.push(delivery.clone());
        Outcome::Ack
    }
}

/// A minimal valid create body.
pub fn ticket_body(subject: &str) -> Value {
    serde_json::json!({
        "subject": subject,
        "description": "It does not work.",
        "requester": {"email": "ann@example.com", "name": "Ann"},
        "priority": "high",
        "queue": "billing",
        "tags": ["vip", "invoice"],
        "metadata": {"order": "ORD-1"}
    })
}
