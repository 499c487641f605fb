//! Wiring: database, broker, consumer, relay and the internal HTTP API, started and
//! stopped together.

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, middleware, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_messaging::{Binding, Broker, ConsumerSpec, spawn_consumer};
use loopdesk_runtime::{Dependencies, Shell};
use loopdesk_storage::{Pool, Relay, RelaySettings as StorageRelaySettings};
use loopdesk_web::{Readiness, defaults, health, tracing_mw::trace_requests};
use tokio_util::sync::CancellationToken;

use crate::{commands::CommandHandler, http, settings::Settings};

/// The intervention service's own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Name of the command consumer (and its queue suffix).
pub const COMMAND_CONSUMER: &str = crate::definitions::CONSUMER;

/// A built, listening intervention service.
pub struct Application {
    port: u16,
    shell: Shell,
    shutdown: CancellationToken,
    broker: Broker,
    pool: Pool,
}

impl Application {
    /// Checks the keys, migrates the database, connects to the broker (in the
    /// background), starts the consumer, the relay and the HTTP server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let secrets = settings.secret_box()?;
        let tokens = settings.token_opener()?;
        loopdesk_storage::migrate(&settings.database, MIGRATIONS).await?;
        let pool = loopdesk_storage::build_pool(&settings.database)?;
        let shutdown = CancellationToken::new();
        let broker = Broker::start(settings.broker.clone(), shutdown.clone());

        let relay = Relay::new(
            pool.clone(),
            broker.publisher(),
            StorageRelaySettings {
                batch_size: settings.relay.batch_size,
                poll_interval_ms: settings.relay.poll_interval_ms,
            },
        );
        let handler = CommandHandler::new(
            pool.clone(),
            secrets.clone(),
            tokens,
            broker.publisher(),
            relay.clone(),
        );
        let consumer = spawn_consumer(
            &broker,
            ConsumerSpec {
                name: COMMAND_CONSUMER.to_owned(),
                bindings: loopdesk_contracts::interventions::ALL_INTERVENTION_COMMANDS
                    .iter()
                    .map(|name| Binding::Command((*name).to_owned()))
                    .collect(),
                prefetch: None,
                concurrency: settings.consumer.concurrency,
            },
            handler,
        );
        let statuses = spawn_consumer(
            &broker,
            crate::flow::ticket_status::spec(settings.consumer.concurrency),
            crate::flow::ticket_status::StatusHandler::new(pool.clone()),
        );
        let outcomes = spawn_consumer(
            &broker,
            crate::flow::outcomes::spec(settings.consumer.concurrency),
            crate::flow::outcomes::OutcomeHandler::new(pool.clone(), relay.clone()),
        );
        let workers = vec![
            tokio::spawn(loopdesk_storage::report_pool_metrics(
                pool.clone(),
                settings.database.schema.clone(),
                shutdown.clone(),
            )),
            consumer,
            statuses,
            outcomes,
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
        let app_secrets = web::Data::new(secrets);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(trace_requests))
                .app_data(app_pool.clone())
                .app_data(app_secrets.clone())
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
        })
    }

    /// The HTTP port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker connection (tests use it to declare their own listeners).
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains: stops taking HTTP
    /// requests and messages, lets in-flight work finish, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.shell.run_until_stopped().await;
        Ok(())
    }
}
