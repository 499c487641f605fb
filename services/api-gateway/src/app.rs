//! Wiring: keys, database, broker and routes, started and stopped together.

use std::{net::TcpListener, time::Duration};

use actix_web::{App, HttpServer, middleware, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use loopdesk_auth::RevocationList;
use loopdesk_messaging::Broker;
use loopdesk_runtime::{Service, Startup};
use loopdesk_storage::Pool;
use loopdesk_web::{BodyLimit, defaults, health, tracing_mw::trace_requests};
use tokio_util::sync::CancellationToken;

use crate::{
    caller::Gatekeeper,
    command_bus::CommandBus,
    docs, epilogs,
    idempotency::Idempotency,
    interventions, keys, openapi,
    owners::OwnerClient,
    rate_limit::{self, RateLimiter},
    settings::Settings,
    state::GatewayState,
    tickets, webhooks,
};

/// The gateway's own migrations.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A built, listening gateway.
pub struct Application {
    service: Service,
}

impl Application {
    /// Checks the keys, migrates, connects to the broker (in the background) and starts
    /// serving.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // reqwest is built without a default TLS provider; pick ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key_ring = keys::key_ring(&settings.auth)?;
        let startup = Startup::begin(&settings.database, &settings.broker, MIGRATIONS).await?;
        let (pool, broker, shutdown) = (startup.pool(), startup.broker(), startup.shutdown());

        let state = web::Data::new(GatewayState {
            commands: CommandBus::new(
                broker.clone(),
                Duration::from_millis(settings.http.reply_deadline_ms),
            ),
            idempotency: Idempotency::new(
                pool.clone(),
                &settings.database,
                Duration::from_millis(settings.idempotency.lock_timeout_ms),
                chrono::Duration::hours(settings.idempotency.retention_hours),
            )?,
            tickets: OwnerClient::new(
                "ticket",
                &settings.owners.tickets_url,
                Duration::from_millis(settings.owners.timeout_ms),
            )?,
            webhooks: OwnerClient::new(
                "webhook",
                &settings.owners.webhooks_url,
                Duration::from_millis(settings.owners.timeout_ms),
            )?,
            interventions: OwnerClient::new(
                "intervention",
                &settings.owners.interventions_url,
                Duration::from_millis(settings.owners.timeout_ms),
            )?,
            epilogs: OwnerClient::new(
                "epilog",
                &settings.owners.epilogs_url,
                Duration::from_millis(settings.owners.timeout_ms),
            )?,
            remote_token_key: settings.token_public_key()?,
        });
        let revocations = RevocationList::default();
        let gatekeeper = web::Data::new(Gatekeeper {
            keys: key_ring,
            revocations: revocations.clone(),
            rate_limiter: RateLimiter::new(
                settings.rate_limit.per_second,
                settings.rate_limit.burst,
            ),
        });

        let workers = vec![
            tokio::spawn(keys::refresh_revocations(
                pool.clone(),
                revocations,
                Duration::from_millis(settings.auth.revocation_refresh_ms),
                shutdown.clone(),
            )),
            tokio::spawn({
                let state = state.clone();
                loopdesk_runtime::every(
                    Duration::from_secs(3600),
                    shutdown.clone(),
                    "expired idempotency keys purge",
                    move || {
                        let state = state.clone();
                        async move { state.idempotency.purge().await }
                    },
                )
            }),
        ];

        let listener = TcpListener::bind(format!("{}:{}", settings.http.host, settings.http.port))?;
        let port = listener.local_addr()?.port();
        let readiness = startup.readiness();
        let body_limit = BodyLimit(settings.http.body_limit);
        let app_pool = web::Data::new(pool.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::from_fn(rate_limit::headers))
                .wrap(middleware::from_fn(trace_requests))
                .app_data(state.clone())
                .app_data(gatekeeper.clone())
                .app_data(app_pool.clone())
                .app_data(body_limit)
                .configure(defaults::configure)
                .configure(health::configure(readiness.clone()))
                .configure(routes)
                .default_service(web::to(defaults::route_not_found))
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown.drain_timeout_secs)
        .max_connections(settings.http.max_connections_per_worker);
        let server = match settings.http.workers {
            0 => server,
            n => server.workers(n),
        };
        let server = server.listen(listener)?.run();

        Ok(Self {
            service: startup.serve(port, server, workers, &settings.shutdown),
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

    /// A token that stops the gateway when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.service.shutdown_token()
    }

    /// Serves until the shutdown token is cancelled, then stops taking requests, lets
    /// in-flight ones finish, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.service.run_until_stopped().await;
        Ok(())
    }
}

/// The public routes.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/openapi.json", web::get().to(openapi::serve))
            .route("/tickets", web::post().to(tickets::create::create_ticket))
            .route("/tickets", web::get().to(tickets::read::list_tickets))
            .route("/tickets/{id}", web::get().to(tickets::read::get_ticket))
            .route(
                "/tickets/{id}",
                web::patch().to(tickets::update::update_ticket),
            )
            .route(
                "/tickets/{id}",
                web::delete().to(tickets::update::delete_ticket),
            )
            .route(
                "/tickets/{id}/responses",
                web::post().to(tickets::responses::add_response),
            )
            .route(
                "/tickets/{id}/responses",
                web::get().to(tickets::responses::list_responses),
            )
            .route(
                "/tickets/{id}/responses/{response}",
                web::get().to(tickets::responses::get_response),
            )
            .route(
                "/tickets/{id}/responses/{response}/audit",
                web::post().to(tickets::responses::add_audit),
            )
            .route(
                "/tickets/{id}/transitions",
                web::post().to(tickets::transitions::transition),
            )
            .route(
                "/tickets/{id}/history",
                web::get().to(tickets::transitions::history),
            )
            .route("/sla_policies", web::get().to(tickets::sla::list_policies))
            .route(
                "/sla_policies/{priority}",
                web::put().to(tickets::sla::put_policy),
            )
            .route("/api_keys", web::post().to(keys::create_key))
            .route("/api_keys", web::get().to(keys::list_keys))
            .route("/api_keys/{id}", web::delete().to(keys::revoke_key))
            .configure(webhooks::routes)
            .configure(interventions::routes)
            .configure(epilogs::routes),
    )
    .route(
        "/api/create_ticket",
        web::post().to(tickets::compat::create_ticket),
    )
    .route("/docs", web::get().to(docs::ui::page))
    .route("/docs/{asset}", web::get().to(docs::ui::asset));
}
