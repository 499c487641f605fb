//! Wiring: database, broker, consumers, the dispatcher, the outbox relay and the
//! internal HTTP API, started and stopped together.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, middleware, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_contracts::epilogs::{ALL_EPILOG_COMMANDS, INTERVENTION_SUBMITTED};
use loopdesk_messaging::{Binding, Broker, ConsumerSpec, spawn_consumer};
use loopdesk_runtime::{Dependencies, Shell};
use loopdesk_storage::{Pool, Relay, RelaySettings};
use loopdesk_web::{Readiness, defaults, health, tracing_mw::trace_requests};
use tokio_util::sync::CancellationToken;

use crate::{
    commands::{COMMAND_CONSUMER, CommandHandler},
    dispatch::{DispatchSettings, Dispatcher, Sender},
    http,
    ingest::{SUBMISSION_CONSUMER, SubmissionHandler},
    remote::RemoteLookup,
    settings::Settings,
};

/// epilog-dispatcher's own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Lease beyond the longest remote timeout: the settings lookup and recording.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// A built, listening epilog-dispatcher.
pub struct Application {
    port: u16,
    shell: Shell,
    shutdown: CancellationToken,
    broker: Broker,
    pool: Pool,
    dispatcher: Dispatcher,
}

impl Application {
    /// Migrates the database, connects to the broker (in the background), starts the
    /// consumers, the dispatcher, the relay and the HTTP server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // reqwest is built without a default TLS provider; pick ring once per process
        // (before any client is built: the remote-token lookup builds one right away).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let schedule = settings.schedule()?;
        let allow = settings.allow_list()?;
        loopdesk_storage::migrate(&settings.database, MIGRATIONS).await?;
        let pool = loopdesk_storage::build_pool(&settings.database)?;
        let shutdown = CancellationToken::new();
        let broker = Broker::start(settings.broker.clone(), shutdown.clone());

        let relay = Relay::new(
            pool.clone(),
            broker.publisher(),
            RelaySettings {
                batch_size: settings.relay.batch_size,
                poll_interval_ms: settings.relay.poll_interval_ms,
            },
        );
        let lookup = RemoteLookup::new(
            &settings.owners.interventions_url,
            Duration::from_millis(settings.owners.timeout_ms),
        )?;
        let dispatcher = Dispatcher::new(
            pool.clone(),
            Sender::new(allow, settings.outbound.allow_http, lookup),
            schedule,
            relay.clone(),
            DispatchSettings {
                concurrency: settings.dispatch.concurrency,
                poll_interval: Duration::from_millis(settings.dispatch.poll_interval_ms),
                lease_margin: LEASE_MARGIN,
            },
        );
        let submissions = spawn_consumer(
            &broker,
            ConsumerSpec {
                name: SUBMISSION_CONSUMER.to_owned(),
                bindings: vec![Binding::Event(INTERVENTION_SUBMITTED.to_owned())],
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            SubmissionHandler::new(pool.clone(), dispatcher.clone()),
        );
        let commands = spawn_consumer(
            &broker,
            ConsumerSpec {
                name: COMMAND_CONSUMER.to_owned(),
                bindings: ALL_EPILOG_COMMANDS
                    .iter()
                    .map(|name| Binding::Command((*name).to_owned()))
                    .collect(),
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            CommandHandler::new(pool.clone(), broker.publisher(), dispatcher.clone()),
        );
        let workers = vec![
            tokio::spawn(loopdesk_storage::report_pool_metrics(
                pool.clone(),
                settings.database.schema.clone(),
                shutdown.clone(),
            )),
            submissions,
            commands,
            tokio::spawn(dispatcher.clone().run(shutdown.clone())),
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(loopdesk_runtime::purge_inbox(
                pool.clone(),
                chrono::Duration::hours(settings.inbox.retention_hours),
                shutdown.clone(),
            )),
        ];

        let listener = TcpListener::bind(settings.http.address())?;
        let port = listener.local_addr()?.port();
        let readiness: Arc<dyn Readiness> = Arc::new(Dependencies {
            broker: broker.clone(),
            pool: pool.clone(),
            shutdown: shutdown.clone(),
        });
        let app_pool = web::Data::new(pool.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(trace_requests))
                .app_data(app_pool.clone())
                .configure(defaults::configure)
                .configure(health::configure(readiness.clone()))
                .configure(http::configure)
                .default_service(web::to(defaults::route_not_found))
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown.drain_timeout_secs)
        .listen(listener)?
        .run();

        Ok(Self {
            port,
            shell: Shell::new(
                server,
                workers,
                shutdown.clone(),
                settings.shutdown.drain_timeout(),
            ),
            shutdown,
            broker,
            pool,
            dispatcher,
        })
    }

    /// The HTTP port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker connection.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The epilog worker (already running; tests may step it).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains: stops taking HTTP
    /// requests and messages, lets in-flight calls finish and record, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.shell.run_until_stopped().await;
        Ok(())
    }
}
