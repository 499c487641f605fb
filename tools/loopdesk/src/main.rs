//! `loopdesk`, the admin CLI. Each subcommand lives in its own module; this file only
//! parses the command line and reports errors.

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
    /// Mint and inspect API keys.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Token(command) => token::run(command, cli.config.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
