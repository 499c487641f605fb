//! `loopdesk dlq list|replay <consumer>`: what a consumer gave up on, and sending it back.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use loopdesk_messaging::{Broker, BrokerSettings, peek_dead_letters, replay_dead_letters};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// The `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Print up to `--max` dead letters of a consumer as JSON lines (they stay queued).
    List(DlqArgs),
    /// Move up to `--max` dead letters back to the consumer's queue.
    Replay(DlqArgs),
}

/// Which consumer's dead-letter queue, on which broker.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// The consumer, e.g. `ticket-service.commands` or `webhook-fanout.events`.
    consumer: String,
    /// How many messages at most.
    #[arg(long, default_value_t = 20)]
    max: usize,
    /// The broker.
    #[arg(
        long,
        env = "LOOPDESK_BROKER__URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    broker_url: String,
    /// The name prefix of the environment's exchanges and queues.
    #[arg(long, env = "LOOPDESK_BROKER__PREFIX", default_value = "loopdesk")]
    prefix: String,
}

/// Runs a `dlq` subcommand.
pub async fn run(command: DlqCommand) -> anyhow::Result<()> {
    let (args, replay) = match &command {
        DlqCommand::List(args) => (args, false),
        DlqCommand::Replay(args) => (args, true),
    };
    let shutdown = CancellationToken::new();
    let broker = Broker::start(
        BrokerSettings {
            url: SecretString::from(args.broker_url.clone()),
            prefix: args.prefix.clone(),
            ..BrokerSettings::default()
        },
        shutdown.clone(),
    );
    broker
        .wait_connected(Duration::from_secs(10))
        .await
        .context("could not reach the broker")?;
    let result = if replay {
        replay_dead_letters(&broker, &args.consumer, args.max)
            .await
            .map(|n| {
                eprintln!(
                    "replayed {n} message(s) to {}",
                    broker.names().queue(&args.consumer)
                )
            })
    } else {
        peek_dead_letters(&broker, &args.consumer, args.max)
            .await
            .map(|letters| {
                for letter in letters {
                    let (message_id, kind, tenant) = match &letter.envelope {
                        Ok(e) => (e.message_id.clone(), e.kind.clone(), e.tenant.clone()),
                        Err(_) => (String::new(), String::new(), String::new()),
                    };
                    let line = serde_json::json!({
                        "message_id": message_id,
                        "type": kind,
                        "tenant": tenant,
                        "reason": letter.reason,
                        "attempt": letter.attempt,
                        "original_routing_key": letter.original_routing_key,
                        "body": String::from_utf8_lossy(&letter.body),
                    });
                    println!("{line}");
                }
            })
    };
    shutdown.cancel();
    result.context("reading the dead-letter queue")
}
