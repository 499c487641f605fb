//! `loopdesk token ...`: API keys.

mod create;
mod inspect;

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
}

/// Runs a `token` subcommand with the signing keys from the configuration.
pub fn run(command: TokenCommand, config_file: Option<&Path>) -> anyhow::Result<()> {
    let ring = settings::key_ring(config_file)?;
    match command {
        TokenCommand::Create(args) => create::run(&ring, args),
        TokenCommand::Inspect(args) => inspect::run(&ring, &args),
    }
}
