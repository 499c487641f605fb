//! Wiring: database, broker, consumers, the dispatcher and the internal HTTP API,
//! started and stopped together.

use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_contracts::webhooks::COMMAND_NAMES;
use loopdesk_messaging::{Binding, Broker, ConsumerSpec, spawn_consumer};
use loopdesk_runtime::{Service, Startup};
use loopdesk_storage::{Durability, Pool};
use tokio_util::sync::CancellationToken;

use crate::{
    commands::CommandHandler,
    dispatch::{DispatchSettings, Dispatcher, Sender},
    events, http,
    ingest::EventHandler,
    owner::Owner,
    settings::Settings,
};

/// webhook-fanout's own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Name of the command consumer (and its queue suffix).
pub const COMMAND_CONSUMER: &str = "webhook-fanout.commands";
/// Name of the event consumer (and its queue suffix).
pub const EVENT_CONSUMER: &str = "webhook-fanout.events";

/// Margin of a delivery lease over the attempt timeout (recording the attempt).
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// A built, listening webhook-fanout.
pub struct Application {
    service: Service,
    dispatcher: Dispatcher,
}

impl Application {
    /// Checks the secrets key, migrates the database, connects to the broker (in the
    /// background), starts the consumers, the dispatcher and the HTTP server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // reqwest is built without a default TLS provider; pick ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let secrets = settings.secret_box()?;
        let schedule = settings.schedule()?;
        let allow = settings.allow_list()?;
        let startup = Startup::begin(&settings.database, &settings.broker, MIGRATIONS).await?;
        let (pool, broker, shutdown) = (startup.pool(), startup.broker(), startup.shutdown());

        let delivery = &settings.delivery;
        let timeout = Duration::from_millis(delivery.attempt_timeout_ms);
        // Leases and attempt records are repeated by the at-least-once protocol when a
        // crash forgets them (one more, duplicate, send): their commits need not wait
        // for the disk. Everything else (ingest's inbox, endpoint writes) stays durable.
        let dispatch_pool =
            loopdesk_storage::build_pool_with(&settings.database, Durability::Relaxed)?;
        let dispatcher = Dispatcher::new(
            dispatch_pool,
            Sender::new(allow, timeout, secrets.clone()),
            schedule,
            DispatchSettings {
                concurrency: delivery.concurrency,
                per_endpoint: delivery.per_endpoint_concurrency,
                lease: timeout + LEASE_MARGIN,
                poll_interval: Duration::from_millis(delivery.poll_interval_ms),
                disable_after: chrono::Duration::milliseconds(
                    i64::try_from(delivery.failure_disable_after_ms).unwrap_or(i64::MAX),
                ),
            },
        );
        let owner = Owner {
            pool: pool.clone(),
            secrets,
            allow_http: settings.outbound.allow_http,
            rotation_grace: chrono::Duration::milliseconds(
                i64::try_from(settings.secrets.rotation_grace_ms).unwrap_or(i64::MAX),
            ),
        };
        let commands = spawn_consumer(
            broker,
            ConsumerSpec {
                name: COMMAND_CONSUMER.to_owned(),
                bindings: COMMAND_NAMES
                    .iter()
                    .map(|name| Binding::Command((*name).to_owned()))
                    .collect(),
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            CommandHandler::new(owner, broker.publisher(), dispatcher.clone()),
        );
        let ingest = spawn_consumer(
            broker,
            ConsumerSpec {
                name: EVENT_CONSUMER.to_owned(),
                bindings: vec![Binding::Event("ticket.#".to_owned())],
                prefetch: None,
                concurrency: settings.events.consumer_concurrency,
            },
            EventHandler::new(pool.clone(), dispatcher.clone()),
        );
        let workers = vec![
            commands,
            ingest,
            tokio::spawn(dispatcher.clone().run(shutdown.clone())),
            tokio::spawn(purge(
                pool.clone(),
                settings.inbox.retention(),
                chrono::Duration::hours(settings.events.retention_hours),
                shutdown.clone(),
            )),
        ];

        let service =
            startup.serve_internal(&settings.http, &settings.shutdown, workers, http::configure)?;
        Ok(Self {
            service,
            dispatcher,
        })
    }

    /// The HTTP port actually bound.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The broker connection.
    pub fn broker(&self) -> &Broker {
        self.service.broker()
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        self.service.pool()
    }

    /// The delivery worker (already running; tests may step it).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.service.shutdown_token()
    }

    /// Serves until the shutdown token is cancelled, then drains: stops taking HTTP
    /// requests and messages, lets in-flight attempts finish and record, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.service.run_until_stopped().await;
        Ok(())
    }
}

async fn purge(
    pool: Pool,
    inbox_retention: chrono::Duration,
    event_retention: chrono::Duration,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match loopdesk_storage::purge_inbox(&pool, inbox_retention).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "inbox purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "inbox purge failed"),
        }
        match events::purge(&pool, event_retention).await {
            Ok(n) if n > 0 => tracing::info!(purged = n, "old events purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "event purge failed"),
        }
    }
}
