//! `loopdesk migrate`: applies a service's migrations ahead of a deploy (the services also
//! apply them at start-up, under the same advisory lock).

use clap::{Args, ValueEnum};
use diesel_migrations::EmbeddedMigrations;
use loopdesk_storage::DatabaseSettings;

/// Which service owns the schema.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Owner {
    /// The gateway's `gateway` schema.
    ApiGateway,
    /// The ticket service's `tickets` schema.
    TicketService,
    /// The intervention service's `interventions` schema.
    InterventionService,
    /// The webhook fan-out's `webhooks` schema.
    WebhookFanout,
    /// The epilog dispatcher's `epilogs` schema.
    EpilogDispatcher,
}

impl Owner {
    fn migrations(self) -> (EmbeddedMigrations, &'static str) {
        match self {
            Owner::ApiGateway => (api_gateway::app::MIGRATIONS, "gateway"),
            Owner::TicketService => (ticket_service::app::MIGRATIONS, "tickets"),
            Owner::InterventionService => (intervention_service::app::MIGRATIONS, "interventions"),
            Owner::WebhookFanout => (webhook_fanout::app::MIGRATIONS, "webhooks"),
            Owner::EpilogDispatcher => (epilog_dispatcher::app::MIGRATIONS, "epilogs"),
        }
    }
}

/// Arguments of `loopdesk migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The service whose migrations to apply; every service when absent.
    #[arg(long, value_enum)]
    service: Option<Owner>,
    /// The database (the service's `database.url`).
    #[arg(long, env = "LOOPDESK_DATABASE__URL", hide_env_values = true)]
    database_url: String,
    /// Override the schema (the service's `database.schema`).
    #[arg(long)]
    schema: Option<String>,
}

/// Applies the migrations and prints the versions applied.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let services = match args.service {
        Some(one) => vec![one],
        None => Owner::value_variants().to_vec(),
    };
    for service in services {
        let (migrations, default_schema) = service.migrations();
        let schema = args
            .schema
            .clone()
            .unwrap_or_else(|| default_schema.to_owned());
        let settings = DatabaseSettings::new(args.database_url.clone(), schema.clone());
        let applied = loopdesk_storage::migrate(&settings, migrations).await?;
        if applied.is_empty() {
            eprintln!("{schema}: up to date");
        }
        for version in applied {
            println!("{schema}: applied {version}");
        }
    }
    Ok(())
}
