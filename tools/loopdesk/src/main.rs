//! `loopdesk`, the admin CLI. Each subcommand lives in its own module; this file only
//! parses the command line and reports errors.

mod api;
mod dlq;
mod keys;
mod migrate;
mod recovery;
mod settings;
mod token;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Loopdesk administration.
#[derive(Debug, Parser)]
#[command(name = "loopdesk", version, about)]
struct Cli {
    /// A TOML file with the same tables the services read (e.g. `[auth]`); environment
    /// variables (`LOOPDESK_AUTH__ACTIVE_KID`, `LOOPDESK_AUTH__KEYS__<kid>`) override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint, inspect and revoke API keys.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Generate key material for the services' settings.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Apply database migrations.
    Migrate(migrate::MigrateArgs),
    /// Inspect and replay a consumer's dead letters.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Webhook recovery.
    #[command(subcommand)]
    Webhooks(recovery::WebhooksCommand),
    /// Epilog recovery.
    #[command(subcommand)]
    Epilogs(recovery::EpilogsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                match cli.command {
                    Command::Token(command) => token::run(command, cli.config.as_deref()).await,
                    Command::Keys(command) => {
                        keys::run(command);
                        Ok(())
                    }
                    Command::Migrate(args) => migrate::run(args).await,
                    Command::Dlq(command) => dlq::run(command).await,
                    Command::Webhooks(command) => recovery::webhooks(command).await,
                    Command::Epilogs(command) => recovery::epilogs(command).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
