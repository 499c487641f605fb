//! Wiring: database, broker, consumers, the dispatcher, the outbox relay and the
//! internal HTTP API, started and stopped together.

use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_contracts::epilogs::{ALL_EPILOG_COMMANDS, INTERVENTION_SUBMITTED};
use loopdesk_messaging::{Binding, Broker, ConsumerSpec, spawn_consumer};
use loopdesk_runtime::{Service, Startup};
use loopdesk_storage::{Pool, Relay};
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
    service: Service,
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
        let startup = Startup::begin(&settings.database, &settings.broker, MIGRATIONS).await?;
        let (pool, broker, shutdown) = (startup.pool(), startup.broker(), startup.shutdown());

        let relay = Relay::new(pool.clone(), broker.publisher(), settings.relay.clone());
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
            broker,
            ConsumerSpec {
                name: SUBMISSION_CONSUMER.to_owned(),
                bindings: vec![Binding::Event(INTERVENTION_SUBMITTED.to_owned())],
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            SubmissionHandler::new(pool.clone(), dispatcher.clone()),
        );
        let commands = spawn_consumer(
            broker,
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
            submissions,
            commands,
            tokio::spawn(dispatcher.clone().run(shutdown.clone())),
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(loopdesk_runtime::purge_inbox(
                pool.clone(),
                settings.inbox.retention(),
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

    /// The epilog worker (already running; tests may step it).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.service.shutdown_token()
    }

    /// Serves until the shutdown token is cancelled, then drains: stops taking HTTP
    /// requests and messages, lets in-flight calls finish and record, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.service.run_until_stopped().await;
        Ok(())
    }
}
