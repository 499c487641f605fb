//! `loopdesk token ...`: API keys.

mod create;
mod inspect;
mod revoke;

use std::path::Path;

use clap::Subcommand;

use crate::settings;

/// The `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a key: prints it on stdout (and nothing else), its id on stderr.
    Create(create::CreateArgs),
    /// Verify a key and print its claims as JSON.
    Inspect(inspect::InspectArgs),
    /// Revoke a key through the gateway (needs `keys:admin`).
    Revoke(revoke::RevokeArgs),
}

/// Runs a `token` subcommand with the signing keys from the configuration.
pub async fn run(command: TokenCommand, config_file: Option<&Path>) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => create::run(&settings::key_ring(config_file)?, args),
        TokenCommand::Inspect(args) => inspect::run(&settings::key_ring(config_file)?, &args),
        TokenCommand::Revoke(args) => revoke::run(&args).await,
    }
}
