//! `loopdesk webhooks recover` and `loopdesk epilogs retry`: the staff recovery actions,
//! through the gateway.

use clap::{Args, Subcommand};
use serde_json::json;

use crate::api::ApiArgs;

/// The `webhooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Re-send every failed delivery of an endpoint in a time window.
    Recover(RecoverArgs),
}

/// Arguments of `loopdesk webhooks recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The endpoint (`whe_...`).
    endpoint_id: String,
    /// Start of the window (RFC 3339).
    #[arg(long)]
    since: String,
    /// End of the window (RFC 3339); now when absent.
    #[arg(long)]
    until: Option<String>,
    #[command(flatten)]
    api: ApiArgs,
}

/// The `epilogs` subcommands.
#[derive(Debug, Subcommand)]
pub enum EpilogsCommand {
    /// Retry a failed epilog job.
    Retry(RetryArgs),
}

/// Arguments of `loopdesk epilogs retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The job (`epj_...`).
    job_id: String,
    #[command(flatten)]
    api: ApiArgs,
}

/// Runs a `webhooks` subcommand.
pub async fn webhooks(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Recover(args) => {
            let mut body = json!({"since": args.since});
            if let Some(until) = args.until {
                body["until"] = until.into();
            }
            let path = format!("/v1/webhook_endpoints/{}/recover", args.endpoint_id);
            let answer = args
                .api
                .call(reqwest::Method::POST, &path, Some(body))
                .await?;
            println!("{answer}");
            Ok(())
        }
    }
}

/// Runs an `epilogs` subcommand.
pub async fn epilogs(command: EpilogsCommand) -> anyhow::Result<()> {
    match command {
        EpilogsCommand::Retry(args) => {
            let path = format!("/v1/epilog_jobs/{}/retry", args.job_id);
            let answer = args
                .api
                .call(reqwest::Method::POST, &path, Some(json!({})))
                .await?;
            println!("{answer}");
            Ok(())
        }
    }
}
