//! Wiring: database, broker, consumer, relay and the internal HTTP API, started and
//! stopped together.

use std::time::Duration;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_messaging::{Binding, Broker, ConsumerSpec, spawn_consumer};
use loopdesk_runtime::{Service, Startup};
use loopdesk_storage::{Pool, Relay};
use tokio_util::sync::CancellationToken;

use crate::{commands::CommandHandler, http, settings::Settings, sla};

/// The ticket service's own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Name of the command consumer (and its queue suffix).
pub const COMMAND_CONSUMER: &str = "ticket-service.commands";

/// A built, listening ticket service.
pub struct Application {
    service: Service,
}

impl Application {
    /// Migrates the database, connects to the broker (in the background), starts the
    /// consumer, the relay and the HTTP server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let startup = Startup::begin(&settings.database, &settings.broker, MIGRATIONS).await?;
        let (pool, broker, shutdown) = (startup.pool(), startup.broker(), startup.shutdown());

        let relay = Relay::new(pool.clone(), broker.publisher(), settings.relay.clone());
        let handler = CommandHandler::new(pool.clone(), broker.publisher(), relay.clone());
        let consumer = spawn_consumer(
            broker,
            ConsumerSpec {
                name: COMMAND_CONSUMER.to_owned(),
                bindings: loopdesk_contracts::commands::ALL_TICKET_COMMANDS
                    .iter()
                    .map(|name| Binding::Command((*name).to_owned()))
                    .collect(),
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            handler,
        );
        let workers = vec![
            consumer,
            tokio::spawn(sla::checker::run(
                pool.clone(),
                relay.clone(),
                Duration::from_millis(settings.lifecycle.sla_check_interval_ms),
                settings.lifecycle.auto_close_after(),
                shutdown.clone(),
            )),
            tokio::spawn(relay.run(shutdown.clone())),
            tokio::spawn(loopdesk_runtime::purge_inbox(
                pool.clone(),
                settings.inbox.retention(),
                shutdown.clone(),
            )),
        ];

        let service =
            startup.serve_internal(&settings.http, &settings.shutdown, workers, http::configure)?;
        Ok(Self { service })
    }

    /// The HTTP port actually bound.
    pub fn port(&self) -> u16 {
        self.service.port()
    }

    /// The broker connection (tests use it to declare their own listeners).
    pub fn broker(&self) -> &Broker {
        self.service.broker()
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        self.service.pool()
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.service.shutdown_token()
    }

    /// Serves until the shutdown token is cancelled, then drains: stops taking HTTP
    /// requests and messages, lets in-flight work finish, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.service.run_until_stopped().await;
        Ok(())
    }
}
