//! `loopdesk-openapi`: `--write` regenerates `openapi/openapi.json` from the gateway's
//! code; `--check` fails (exit 1) when the committed file differs. `make openapi` and
//! `make test` run it.

use std::{fs, io, path::PathBuf, process::ExitCode};

use clap::Parser;

/// `openapi/openapi.json` of the workspace this tool was built from.
const DEFAULT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");

/// Writes or checks the gateway's OpenAPI document.
#[derive(Debug, Parser)]
#[command(name = "loopdesk-openapi", version, about)]
struct Cli {
    /// Regenerate the file.
    #[arg(long, conflicts_with = "check", required_unless_present = "check")]
    write: bool,
    /// Fail if the file differs from what the gateway generates.
    #[arg(long)]
    check: bool,
    /// The document's path (default: the workspace's `openapi/openapi.json`).
    #[arg(long, value_name = "FILE")]
    path: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = cli.path.unwrap_or_else(|| {
        // Canonical parent, so messages show the repository path, not `tools/openapi/../..`.
        let default = PathBuf::from(DEFAULT_PATH);
        match (
            default.parent().and_then(|p| fs::canonicalize(p).ok()),
            default.file_name(),
        ) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => default,
        }
    });
    let shown = path.display();
    let expected = api_gateway::openapi::pretty();
    let current = match fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let up_to_date = current.as_deref() == Some(expected.as_str());
    if cli.write {
        if up_to_date {
            println!("{shown}: up to date");
            return ExitCode::SUCCESS;
        }
        if let Some(dir) = path.parent()
            && let Err(e) = fs::create_dir_all(dir)
        {
            eprintln!("error: {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        return match fs::write(&path, expected) {
            Ok(()) => {
                println!("updated {shown}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {shown}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if up_to_date {
        println!("{shown}: OpenAPI document up to date");
        return ExitCode::SUCCESS;
    }
    match current {
        None => eprintln!("{shown} is missing"),
        Some(_) => eprintln!("{shown} is stale: it differs from what the gateway's code generates"),
    }
    eprintln!("run `make openapi` and commit the result");
    ExitCode::FAILURE
}
