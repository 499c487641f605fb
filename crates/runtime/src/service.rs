//! The wiring every service repeats around its own decisions: its database migrated and
//! pooled, the broker connecting, an HTTP server beside the service's workers, and the
//! shell that runs them and drains them together.

use std::{io, net::TcpListener, sync::Arc};

use actix_web::{dev::Server, web};
use diesel_migrations::EmbeddedMigrations;
use loopdesk_messaging::{Broker, BrokerSettings};
use loopdesk_storage::{DatabaseSettings, Pool, StorageError};
use loopdesk_web::{HttpSettings, Readiness};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Dependencies, Shell, ShutdownSettings};

/// A service being started: its database migrated and pooled, its broker connecting, and
/// the token that will stop both and everything built on them. The service builds its
/// handlers and workers on these, then serves ([`Startup::serve_internal`] or
/// [`Startup::serve`]).
pub struct Startup {
    dependencies: Dependencies,
    schema: String,
}

impl Startup {
    /// Migrates the service's schema, builds its pool (connections open on demand, so the
    /// database may go away later) and starts connecting to the broker in the background.
    pub async fn begin(
        database: &DatabaseSettings,
        broker: &BrokerSettings,
        migrations: EmbeddedMigrations,
    ) -> Result<Self, StorageError> {
        loopdesk_storage::migrate(database, migrations).await?;
        let pool = loopdesk_storage::build_pool(database)?;
        let shutdown = CancellationToken::new();
        let broker = Broker::start(broker.clone(), shutdown.clone());
        Ok(Self {
            dependencies: Dependencies {
                broker,
                pool,
                shutdown,
            },
            schema: database.schema.clone(),
        })
    }

    /// The database pool.
    pub fn pool(&self) -> &Pool {
        &self.dependencies.pool
    }

    /// The broker connection.
    pub fn broker(&self) -> &Broker {
        &self.dependencies.broker
    }

    /// Cancelled when the service is to stop: every worker watches it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.dependencies.shutdown
    }

    /// What `/readyz` asks: the broker, the database, and whether the service still takes
    /// work.
    pub fn readiness(&self) -> Arc<dyn Readiness> {
        Arc::new(self.dependencies.clone())
    }

    /// Serves the internal API on `http` ([`loopdesk_web::internal::server`]: the routes
    /// and app data `configure` registers, beside health and problem answers) and runs
    /// `workers` with it. The handlers find the pool as `web::Data<Pool>`.
    pub fn serve_internal<F>(
        self,
        http: &HttpSettings,
        shutdown: &ShutdownSettings,
        workers: Vec<JoinHandle<()>>,
        configure: F,
    ) -> io::Result<Service>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let listener = TcpListener::bind(http.address())?;
        let port = listener.local_addr()?.port();
        let pool = web::Data::new(self.pool().clone());
        let server = loopdesk_web::internal::server(
            listener,
            self.readiness(),
            shutdown.drain_timeout_secs,
            move |cfg| {
                cfg.app_data(pool.clone()).configure(&configure);
            },
        )?;
        Ok(self.serve(port, server, workers, shutdown))
    }

    /// The service, from a server it built itself (not yet polled, signals disabled, its
    /// shutdown timeout `shutdown.drain_timeout_secs`) listening on `port`, its `workers`
    /// and the pool-metrics reporter every service runs.
    pub fn serve(
        self,
        port: u16,
        server: Server,
        mut workers: Vec<JoinHandle<()>>,
        shutdown: &ShutdownSettings,
    ) -> Service {
        let Dependencies {
            broker,
            pool,
            shutdown: token,
        } = self.dependencies;
        workers.push(tokio::spawn(loopdesk_storage::report_pool_metrics(
            pool.clone(),
            self.schema,
            token.clone(),
        )));
        Service {
            port,
            shell: Shell::new(server, workers, token.clone(), shutdown.drain_timeout()),
            broker,
            pool,
            shutdown: token,
        }
    }
}

/// A built, listening service.
pub struct Service {
    port: u16,
    shell: Shell,
    broker: Broker,
    pool: Pool,
    shutdown: CancellationToken,
}

impl Service {
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

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then drains ([`Shell::run_until_stopped`]).
    pub async fn run_until_stopped(self) {
        self.shell.run_until_stopped().await;
    }
}
