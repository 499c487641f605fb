//! `loadgen`, run by `make bench`: measures Loopdesk end to end against a running system
//! and this machine's raw PostgreSQL and RabbitMQ limits, then writes a Markdown summary,
//! a JSON record and an SVG chart under `bench/results/`.

mod api;
mod load;
mod procs;
mod raw;
mod receiver;
mod report;
mod stats;

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Loopdesk load generator.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about)]
struct Args {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An API key with create-ticket and webhooks:admin, in a tenant of its own.
    #[arg(long, env = "LOADGEN_KEY", hide_env_values = true)]
    key: String,
    /// Tickets in the closed-loop run.
    #[arg(long, short = 'n', default_value_t = 10_000)]
    tickets: u64,
    /// Requests in flight in the closed-loop run (also the raw PostgreSQL connections).
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Offered rate of the open-loop run, tickets per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of the open-loop run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Endpoint counts of the fan-out runs.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    fanout: Vec<usize>,
    /// Deliveries per fan-out run (tickets = deliveries / K).
    #[arg(long, default_value_t = 10_000)]
    fanout_deliveries: u64,
    /// Seconds for each raw-limit measurement.
    #[arg(long, default_value_t = 5)]
    raw_seconds: u64,
    /// PostgreSQL for the raw measurement.
    #[arg(
        long,
        env = "LOOPDESK_DATABASE__URL",
        default_value = "postgres://postgres@127.0.0.1:5432/loopdesk"
    )]
    database_url: String,
    /// RabbitMQ for the raw measurement.
    #[arg(
        long,
        env = "LOOPDESK_BROKER__URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    /// Services to report resource use of, as `name=pid`.
    #[arg(long = "service", value_parser = parse_service)]
    services: Vec<(String, u32)>,
    /// Where results go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

fn parse_service(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected name=pid")?;
    Ok((
        name.to_owned(),
        pid.parse().map_err(|_| "pid must be a number")?,
    ))
}

fn bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{prefix:>22} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started_at = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ").to_string();
    let api = api::Api::new(&args.api, &args.key)?;
    let receiver = receiver::Receiver::start()?;

    let raw_bar = bar(2, "raw limits");
    let raw_span = Duration::from_secs(args.raw_seconds);
    let postgres = raw::postgres_commits(&args.database_url, args.concurrency, raw_span)
        .await
        .context("measuring PostgreSQL")?;
    raw_bar.inc(1);
    let rabbitmq = raw::rabbitmq_throughput(&args.amqp_url, 4, raw_span)
        .await
        .context("measuring RabbitMQ")?;
    raw_bar.inc(1);
    raw_bar.finish_with_message(format!("{postgres:.0} commits/s, {rabbitmq:.0} msgs/s"));

    let (endpoint, secret) = api
        .create_endpoint(&format!("{}/e2e", receiver.base_url))
        .await
        .context("creating the benchmark's webhook endpoint")?;
    receiver.expect("/e2e", &secret)?;
    let e2e_bar = bar(args.tickets, "end to end");
    let cpu_before = procs::CpuSnapshot::take(&args.services);
    let end_to_end =
        load::closed_loop(&api, &receiver, args.tickets, args.concurrency, &e2e_bar).await;
    let cpu_per_ticket = cpu_before.shares(
        &procs::CpuSnapshot::take(&args.services),
        end_to_end.delivered,
    );
    e2e_bar.finish_with_message(format!("{:.0} tickets/s", end_to_end.tickets_per_s));

    let open_bar = bar(args.rate * args.duration, "open loop");
    let open = load::open_loop(
        &api,
        &receiver,
        args.rate,
        Duration::from_secs(args.duration),
        &open_bar,
    )
    .await;
    open_bar.finish_with_message(format!("p99 {:.1} ms", open.api.p99_ms));
    api.delete_endpoint(&endpoint).await;

    let mut fanout = Vec::new();
    for k in &args.fanout {
        let fan_bar = bar(args.fanout_deliveries, &format!("fan-out K={k}"));
        let events = (args.fanout_deliveries / *k as u64).max(1);
        let result = load::fanout(&api, &receiver, *k, events, &fan_bar).await?;
        fan_bar.finish_with_message(format!("{:.0} deliveries/s", result.deliveries_per_s));
        fanout.push(result);
    }
    receiver.stop().await;

    let results = report::Results {
        started_at: started_at.clone(),
        machine: report::Machine::detect(),
        parameters: serde_json::json!({
            "tickets": args.tickets, "concurrency": args.concurrency, "rate": args.rate,
            "duration_s": args.duration, "fanout": args.fanout, "fanout_deliveries": args.fanout_deliveries,
            "raw_seconds": args.raw_seconds,
        }),
        raw: report::Raw {
            postgres_commits_per_s: postgres,
            rabbitmq_msgs_per_s: rabbitmq,
            concurrency: args.concurrency,
        },
        end_to_end,
        cpu_per_ticket,
        open_loop: open,
        open_loop_rate: args.rate,
        fanout,
        services: args
            .services
            .iter()
            .filter_map(|(name, pid)| procs::usage(name, *pid))
            .collect(),
    };
    std::fs::create_dir_all(&args.out)?;
    let summary = report::markdown(&results);
    let json_path = args.out.join(format!("{started_at}.json"));
    let svg_path = args.out.join(format!("{started_at}.svg"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)?;
    std::fs::write(&svg_path, report::svg(&results))?;
    std::fs::write(args.out.join("latest.md"), &summary)?;
    std::fs::write(args.out.join("latest.svg"), report::svg(&results))?;
    println!("{summary}");
    println!(
        "results: {} and {}",
        json_path.display(),
        svg_path.display()
    );
    Ok(())
}
