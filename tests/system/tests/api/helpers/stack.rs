//! Starting the stack: every service in-process on port 0, over one fresh database and a
//! broker name prefix of the test's own, and stopping it all again.

use std::{net::SocketAddr, time::Duration};

use loopdesk_auth::{KeyRing, KeySettings};
use loopdesk_messaging::{Broker, BrokerSettings};
use loopdesk_testkit::{TcpProxy, TestDatabase, amqp_url, unique_prefix};
use tokio_util::sync::CancellationToken;

use super::{
    INTERVENTION_ENCRYPTION_KEY, SECRET, TOKEN_PRIVATE_KEY, TOKEN_PUBLIC_KEY,
    WEBHOOK_ENCRYPTION_KEY,
    service::{Running, Vars},
};

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
    ticket_vars: Vars,
    webhook_vars: Vars,
    /// Stops the first webhook-fanout instance (restart tests).
    webhook_stop: CancellationToken,
    /// Stops the first ticket-service instance (restart tests).
    ticket_stop: Option<CancellationToken>,
    running: Running,
}

fn vars(pairs: &[(&str, String)]) -> Vars {
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
    let mut running = Running::default();

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
        let (url, stop) = running
            .start::<ticket_service::Application>(&ticket_vars)
            .await;
        tickets_url = url;
        ticket_stop = Some(stop);
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
    let (webhooks_url, webhook_stop) = running
        .start::<webhook_fanout::Application>(&webhook_vars)
        .await;

    let mut intervention_vars = common(amqp_url());
    intervention_vars.extend(vars(&[
        (
            "LOOPDESK_SECRETS__ENCRYPTION_KEY",
            INTERVENTION_ENCRYPTION_KEY.into(),
        ),
        (
            "LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY",
            options
                .intervention_token_private_key
                .clone()
                .unwrap_or_else(|| TOKEN_PRIVATE_KEY.into()),
        ),
    ]));
    let (interventions_url, _) = running
        .start::<intervention_service::Application>(&intervention_vars)
        .await;

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
    let (epilogs_url, _) = running
        .start::<epilog_dispatcher::Application>(&epilog_vars)
        .await;

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
    let (address, _) = running
        .start::<api_gateway::Application>(&gateway_vars)
        .await;
    let keys = KeyRing::from_settings(&KeySettings {
        active_kid: "k1".into(),
        keys: [("k1".to_owned(), secrecy::SecretString::from(SECRET))].into(),
    })
    .expect("key ring");

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
    running.keep(broker.clone(), test_stop);

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
        running,
    }
}

impl TestApp {
    /// Starts one more ticket service instance on the same database and prefix.
    pub async fn start_another_ticket_service(&mut self) {
        self.running
            .start::<ticket_service::Application>(&self.ticket_vars)
            .await;
    }

    /// Starts one more webhook-fanout instance on the same database and prefix.
    pub async fn start_another_webhook_fanout(&mut self) {
        self.running
            .start::<webhook_fanout::Application>(&self.webhook_vars)
            .await;
    }

    /// Stops the first webhook-fanout instance and starts a fresh one on the same
    /// database and prefix: what a deploy does.
    pub async fn restart_webhook_fanout(&mut self) {
        self.webhook_stop.cancel();
        self.start_another_webhook_fanout().await;
    }

    /// The shutdown tokens of the first ticket-service and webhook-fanout instances:
    /// cancelling one is what SIGTERM does to that process (it drains and stops). The
    /// gateway keeps reading through the first instances' addresses, so after a stop
    /// check results in the database.
    pub fn consumer_stop_tokens(&self) -> (CancellationToken, CancellationToken) {
        let tickets = self.ticket_stop.clone().unwrap_or_default();
        (tickets, self.webhook_stop.clone())
    }

    /// Stops every service and deletes the test's database and broker objects.
    pub async fn teardown(mut self) {
        let brokers = std::mem::take(&mut self.running.brokers);
        let stops = std::mem::take(&mut self.running.stops);
        let tasks = std::mem::take(&mut self.running.tasks);
        for stop in &stops {
            stop.cancel();
        }
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        drop(self.broker_proxy);
        drop(self.ticket_db_proxy);
        for broker in &brokers {
            let _ = broker.delete_declared_topology().await;
        }
        self.db.drop_database().await;
    }
}
