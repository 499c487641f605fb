//! Stopping a service: the drain bound is a setting of every service, a real
//! ticket-service process keeps it on SIGTERM without losing what was in flight, and a
//! SIGTERM while it is still starting ends the start cleanly.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use loopdesk_contracts::{
    commands::ALL_TICKET_COMMANDS, events::TicketEvent, ids::TicketId, tickets::Priority,
};
use loopdesk_messaging::{
    Binding, Broker, ConsumerSpec, Delivery, Handler, Outcome, OutgoingMessage, declare_consumer,
    spawn_consumer,
};
use loopdesk_testkit::{TestDatabase, amqp_url, unique_prefix, wait_until};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    SECRET, TENANT, TOKEN_PRIVATE_KEY, TOKEN_PUBLIC_KEY, WEBHOOK_ENCRYPTION_KEY,
    create_ticket_command,
};

const DRAIN_KEY: &str = "LOOPDESK_SHUTDOWN__DRAIN_TIMEOUT_SECS";

/// Each service's drain bound, loaded as its `main` would (defaults, then `vars`).
type LoadDrainBound = fn(HashMap<String, String>) -> Result<Duration, String>;

#[test]
fn every_service_reads_its_drain_bound_and_refuses_zero() {
    let services: [(&str, LoadDrainBound); 5] = [
        ("api-gateway", |vars| {
            api_gateway::Settings::load_with_vars(vars)
                .map(|s| s.shutdown.drain_timeout())
                .map_err(|e| e.to_string())
        }),
        ("ticket-service", |vars| {
            ticket_service::Settings::load_with_vars(vars)
                .map(|s| s.shutdown.drain_timeout())
                .map_err(|e| e.to_string())
        }),
        ("intervention-service", |vars| {
            intervention_service::Settings::load_with_vars(vars)
                .map(|s| s.shutdown.drain_timeout())
                .map_err(|e| e.to_string())
        }),
        ("epilog-dispatcher", |vars| {
            epilog_dispatcher::Settings::load_with_vars(vars)
                .map(|s| s.shutdown.drain_timeout())
                .map_err(|e| e.to_string())
        }),
        ("webhook-fanout", |vars| {
            webhook_fanout::Settings::load_with_vars(vars)
                .map(|s| s.shutdown.drain_timeout())
                .map_err(|e| e.to_string())
        }),
    ];
    // What the services require anyway (any base64 of 32 bytes is an encryption key);
    // a service ignores the others' keys.
    let required = |drain: Option<&str>| {
        let mut vars: HashMap<String, String> = [
            ("LOOPDESK_AUTH__KEYS__K1", SECRET),
            ("LOOPDESK_SECRETS__ENCRYPTION_KEY", WEBHOOK_ENCRYPTION_KEY),
            ("LOOPDESK_INTERVENTIONS__TOKEN_PUBLIC_KEY", TOKEN_PUBLIC_KEY),
            ("LOOPDESK_SECRETS__TOKEN_PRIVATE_KEY", TOKEN_PRIVATE_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(drain) = drain {
            vars.insert(DRAIN_KEY.to_owned(), drain.to_owned());
        }
        vars
    };
    for (service, load) in services {
        assert_eq!(
            load(required(None)),
            Ok(Duration::from_secs(20)),
            "{service}: the default"
        );
        assert_eq!(
            load(required(Some("7"))),
            Ok(Duration::from_secs(7)),
            "{service}: {DRAIN_KEY} overrides it"
        );
        let refused = load(required(Some("0"))).unwrap_err();
        assert!(
            refused.contains("`shutdown.drain_timeout_secs`"),
            "{service}: {refused}"
        );
    }
}

/// Tickets created while ticket-service is stuck on a locked table.
const IN_FLIGHT: usize = 12;
/// The drain bound the process under test runs with.
const BOUND: Duration = Duration::from_secs(2);
/// Process start-up and exit around the drain itself. The built-in bounds (10 s for the
/// HTTP server, 20 s for the workers) are well beyond `BOUND` plus this.
const EXIT_SLACK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn sigterm_stops_the_real_binary_within_its_drain_bound_and_loses_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binary = tokio::task::spawn_blocking(|| build_binary("ticket-service"))
        .await
        .unwrap();
    let db = TestDatabase::create().await;
    let vars = vars_for(&db, &unique_prefix("sigterm"));
    let settings = ticket_service::Settings::load_with_vars(vars.clone()).unwrap();
    let test_stop = CancellationToken::new();
    let broker = Broker::start(settings.broker.clone(), test_stop.clone());
    broker
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    // The service's own command queue, declared as the service declares it: commands
    // published before it consumes are kept, and teardown deletes it.
    declare_consumer(
        &broker,
        &ConsumerSpec::new(
            ticket_service::app::COMMAND_CONSUMER,
            ALL_TICKET_COMMANDS
                .iter()
                .map(|name| Binding::Command((*name).to_owned()))
                .collect(),
        ),
    )
    .await
    .unwrap();
    let announced = tap_created_tickets(&broker).await;

    let first = Process::start(&binary, &vars).await;
    // Every ticket read and write now waits, as on a database that has stalled.
    let mut lock = AsyncPgConnection::establish(&db.url).await.unwrap();
    lock.batch_execute("BEGIN; LOCK TABLE tickets.tickets IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let read = tokio::spawn(
        reqwest::Client::new()
            .get(first.url(&format!("/internal/v1/tickets/{}", TicketId::generate())))
            // The caller's scope, as the gateway passes it.
            .header("x-loopdesk-tenant", TENANT)
            .header("x-loopdesk-env", "test")
            .send(),
    );
    waiting_on_the_lock(&db, 1).await;
    let tickets: Vec<TicketId> = (0..IN_FLIGHT).map(|_| TicketId::generate()).collect();
    let commands: Vec<OutgoingMessage> = tickets
        .iter()
        .map(|id| create_ticket_command(*id, "Sent before SIGTERM", Priority::Normal))
        .collect();
    broker.publisher().publish_all(&commands).await.unwrap();
    // The HTTP request and at least one command are in flight, stuck.
    waiting_on_the_lock(&db, 2).await;

    let took = first.terminate().await;
    assert!(
        took >= BOUND,
        "it gave its in-flight work the whole drain bound, not {took:?}"
    );
    let read = read.await.unwrap();
    assert!(
        read.is_err(),
        "the request still running at the bound was cut, not answered: {read:?}"
    );
    lock.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        count(&db, "tickets.tickets").await,
        0,
        "nothing was half-applied"
    );

    // The restart: every command published before SIGTERM is applied, once.
    let second = Process::start(&binary, &vars).await;
    wait_until(
        Duration::from_secs(20),
        "every ticket to be created after the restart",
        || async { (count(&db, "tickets.tickets").await == IN_FLIGHT as i64).then_some(()) },
    )
    .await;
    let expected: HashSet<String> = tickets.iter().map(ToString::to_string).collect();
    let seen = wait_until(
        Duration::from_secs(20),
        "a ticket.created event for every ticket",
        || async {
            let seen = announced.lock().unwrap().clone();
            (seen.len() >= IN_FLIGHT).then_some(seen)
        },
    )
    .await;
    assert_eq!(seen, expected, "each ticket announced");
    let took = second.terminate().await;
    assert!(
        took < BOUND,
        "with nothing in flight it does not wait for the bound: {took:?}"
    );

    test_stop.cancel();
    let _ = broker.delete_declared_topology().await;
    db.drop_database().await;
}

/// The advisory lock ticket-service takes to migrate its schema, `tickets` (the key is
/// pinned by crates/storage's `lock_key_is_stable_and_per_schema`).
const TICKETS_MIGRATION_LOCK: i64 = -1_349_698_968_964_695_499;

#[tokio::test]
async fn sigterm_while_the_real_binary_is_still_starting_exits_cleanly() {
    let binary = tokio::task::spawn_blocking(|| build_binary("ticket-service"))
        .await
        .unwrap();
    let db = TestDatabase::create().await;
    let vars = vars_for(&db, &unique_prefix("sigterm-start"));
    // Another replica migrating: the process waits for the lock in the middle of its
    // start-up, as long as the test holds it.
    let mut other_replica = AsyncPgConnection::establish(&db.url).await.unwrap();
    sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TICKETS_MIGRATION_LOCK)
        .execute(&mut other_replica)
        .await
        .unwrap();

    let starting = Process::spawn(&binary, &vars);
    waiting_on_the_lock(&db, 1).await;
    let logs = starting.logs.clone();
    // Exit status 0 within the bound: not killed by the signal's default action, and not
    // left waiting for a start that cannot finish.
    starting.terminate().await;
    // Its last lines may still be in the pipe.
    let logs = wait_until(
        Duration::from_secs(5),
        "the log line of a start given up for the signal",
        || async {
            let logs = logs.lock().unwrap().clone();
            logs.iter()
                .any(|line| line.contains("stop signal received while starting"))
                .then_some(logs)
        },
    )
    .await;
    assert!(
        !logs.iter().any(|line| line.contains(" listening")),
        "it never served: {logs:#?}"
    );

    drop(other_replica);
    db.drop_database().await;
}

/// A service binary running as a child process, killed if the test ends without
/// stopping it.
struct Process {
    child: Mutex<Child>,
    port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `binary` with only `vars` in its environment and waits until it is ready.
    async fn start(binary: &Path, vars: &HashMap<String, String>) -> Process {
        let mut process = Process::spawn(binary, vars);
        process.port = wait_until(Duration::from_secs(30), "the port it listens on", || {
            let port = process.listening_port();
            async move { port }
        })
        .await;
        let readyz = process.url("/readyz");
        wait_until(Duration::from_secs(30), "/readyz to answer 200", || async {
            let answer = reqwest::get(&readyz).await.ok()?;
            (answer.status() == 200).then_some(())
        })
        .await;
        process
    }

    /// Starts `binary` with only `vars` in its environment, without waiting for it.
    fn spawn(binary: &Path, vars: &HashMap<String, String>) -> Process {
        let mut child = Command::new(binary)
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        // Drained all along, so the process never blocks on a full pipe.
        std::thread::spawn({
            let logs = logs.clone();
            move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            }
        });
        Process {
            child: Mutex::new(child),
            port: 0,
            logs,
        }
    }

    /// The `port` of its "listening" log line (JSON, one object per line).
    fn listening_port(&self) -> Option<u16> {
        self.logs.lock().unwrap().iter().find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let message = entry["message"].as_str()?;
            if !message.ends_with(" listening") {
                return None;
            }
            entry["port"].as_u64()?.try_into().ok()
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().unwrap()
    }

    /// Sends SIGTERM and answers how long the process took to exit, asserting that it
    /// exited with status 0 within the drain bound (plus the slack of exiting).
    async fn terminate(self) -> Duration {
        let pid = self.child.lock().unwrap().id().to_string();
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s TERM {pid}");
        let status = wait_until(
            BOUND + EXIT_SLACK,
            "the process to exit after SIGTERM",
            || async { self.exit_status() },
        )
        .await;
        let took = started.elapsed();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        took
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Ok(child) = self.child.get_mut() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking()
            && let Ok(logs) = self.logs.lock()
        {
            eprintln!("--- the service's log ---\n{}", logs.join("\n"));
        }
    }
}

/// Builds `package`'s binary of the same name (a no-op when it is fresh) in the target
/// directory this test was built in, and answers its path. Cargo builds a package's
/// binaries only for that package's own integration tests, so nothing else guarantees
/// that this one exists or is current.
fn build_binary(package: &str) -> PathBuf {
    // This test runs as `<target>/<profile>/deps/<test>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--package", package, "--bin", package])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let output = build.output().unwrap();
    assert!(
        output.status.success(),
        "cargo build -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    profile_dir.join(package)
}

/// The process's whole environment: its own database and broker prefix, port 0, a
/// short drain bound, four commands at a time, and no SLA sweep during the test.
fn vars_for(db: &TestDatabase, prefix: &str) -> HashMap<String, String> {
    [
        ("LOOPDESK_DATABASE__URL", db.url.clone()),
        ("LOOPDESK_DATABASE__MAX_CONNECTIONS", "8".into()),
        ("LOOPDESK_BROKER__URL", amqp_url()),
        ("LOOPDESK_BROKER__PREFIX", prefix.to_owned()),
        ("LOOPDESK_HTTP__PORT", "0".into()),
        (DRAIN_KEY, BOUND.as_secs().to_string()),
        ("LOOPDESK_CONSUMER__CONCURRENCY", "4".into()),
        ("LOOPDESK_RELAY__POLL_INTERVAL_MS", "50".into()),
        (
            "LOOPDESK_LIFECYCLE__SLA_CHECK_INTERVAL_MS",
            "3600000".into(),
        ),
        ("LOOPDESK_TELEMETRY__LOG_FORMAT", "json".into()),
        (
            "LOOPDESK_TELEMETRY__LOG_LEVEL",
            "info,lapin=warn,amq_protocol=warn".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The ids of the tickets `ticket.created` events announce from now on.
async fn tap_created_tickets(broker: &Broker) -> Arc<Mutex<HashSet<String>>> {
    let spec = ConsumerSpec::new(
        format!("tap.{}", ulid::Ulid::new().to_string().to_lowercase()),
        vec![Binding::Event("ticket.created".into())],
    );
    declare_consumer(broker, &spec).await.unwrap();
    let announced = Arc::new(Mutex::new(HashSet::new()));
    spawn_consumer(broker, spec, Arc::new(CreatedTap(announced.clone())));
    announced
}

struct CreatedTap(Arc<Mutex<HashSet<String>>>);

#[async_trait::async_trait]
impl Handler for CreatedTap {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let event: TicketEvent = delivery.json().unwrap();
        self.0
            .lock()
            .unwrap()
            .insert(event.data.ticket.id.to_string());
        Outcome::Ack
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let row: Count = sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result(&mut conn)
        .await
        .unwrap();
    row.n
}

/// Waits until at least `n` sessions of the test database wait for a lock.
async fn waiting_on_the_lock(db: &TestDatabase, n: i64) {
    let conn = tokio::sync::Mutex::new(AsyncPgConnection::establish(&db.url).await.unwrap());
    let conn = &conn;
    wait_until(
        Duration::from_secs(10),
        &format!("{n} sessions waiting on the lock"),
        || async move {
            let row: Count = sql_query(
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .get_result(&mut *conn.lock().await)
            .await
            .unwrap();
            (row.n >= n).then_some(())
        },
    )
    .await;
}
