//! `loopdesk-schemas`: `--write` regenerates `proto-schemas/`, `--check` fails (exit 1)
//! listing every stale, missing or extra file and every breaking change to a committed
//! version (`--write` refuses those too). `make schemas` and `make test` run it.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use loopdesk_schemas::{DEFAULT_DIR, Drift, check, write};

/// Writes or checks the JSON Schemas of Loopdesk's queue messages.
#[derive(Debug, Parser)]
#[command(name = "loopdesk-schemas", version, about)]
struct Cli {
    /// Regenerate the schema files.
    #[arg(long, conflicts_with = "check", required_unless_present = "check")]
    write: bool,
    /// Fail if the files differ from what the contracts generate.
    #[arg(long)]
    check: bool,
    /// The schema directory (default: the workspace's `proto-schemas/`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Canonical, so messages show `/path/to/repo/proto-schemas`, not `tools/schemas/../..`.
    let dir = cli.dir.unwrap_or_else(|| {
        std::fs::canonicalize(DEFAULT_DIR).unwrap_or_else(|_| PathBuf::from(DEFAULT_DIR))
    });
    let dir_shown = dir.display();
    if cli.write {
        return match write(&dir) {
            Ok(changes) if changes.is_empty() => {
                println!("{dir_shown}: up to date");
                ExitCode::SUCCESS
            }
            Ok(changes) if changes.iter().any(|c| matches!(c, Drift::Breaking { .. })) => {
                eprintln!("{dir_shown}: refusing to write a breaking change:");
                for change in changes {
                    eprintln!("  {change}");
                }
                eprintln!("bump the stream's schema_version (a new .vN.json file) instead");
                ExitCode::FAILURE
            }
            Ok(changes) => {
                for change in changes {
                    println!("updated {change}");
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match check(&dir) {
        Ok(drift) if drift.is_empty() => {
            println!("{dir_shown}: schemas up to date");
            ExitCode::SUCCESS
        }
        Ok(drift) => {
            eprintln!("{dir_shown} does not match the contracts:");
            for item in drift {
                eprintln!("  {item}");
            }
            eprintln!("run `make schemas` and commit the result");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
