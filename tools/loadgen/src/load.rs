//! The Loopdesk measurements: closed-loop end to end, open-loop at a fixed rate, and
//! fan-out to K endpoints. Every ticket counts only once its signed `ticket.created`
//! webhook has arrived and verified.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::{
    api::Api,
    receiver::{Arrival, Receiver},
    stats::{Latencies, Percentiles},
};

/// Percentiles plotted in the chart.
pub const CURVE: &[f64] = &[0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999];

/// Outcome of a run that creates tickets and waits for their webhooks.
#[derive(Debug, Serialize)]
pub struct Run {
    /// Tickets requested.
    pub requested: u64,
    /// Requests answered 201/202.
    pub accepted: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Verified webhooks received.
    pub delivered: u64,
    /// Deliveries whose signature did not verify.
    pub rejected: u64,
    /// Accepted tickets per second, first send to last webhook.
    pub tickets_per_s: f64,
    /// API latency.
    pub api: Percentiles,
    /// Commit to receipt.
    pub webhook_lag: Percentiles,
    /// Seconds from first send to last webhook.
    pub seconds: f64,
    /// Latency curves for the chart: (quantile, ms).
    #[serde(skip)]
    pub api_curve: Vec<(f64, f64)>,
    /// Webhook lag curve for the chart.
    #[serde(skip)]
    pub lag_curve: Vec<(f64, f64)>,
}

fn lag_of(arrivals: &[Arrival]) -> Latencies {
    let mut lag = Latencies::new();
    for a in arrivals {
        lag.record(
            (a.received_at - a.committed_at)
                .to_std()
                .unwrap_or_default(),
        );
    }
    lag
}

/// Closed loop: `n` tickets with `concurrency` requests in flight.
pub async fn closed_loop(
    api: &Api,
    receiver: &Receiver,
    n: u64,
    concurrency: usize,
    bar: &ProgressBar,
) -> Run {
    receiver.take();
    let latencies = Arc::new(Mutex::new(Latencies::new()));
    let started = Instant::now();
    let results: Vec<bool> = stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let latencies = latencies.clone();
            async move {
                let sent = Instant::now();
                let ok = api.create_ticket(i).await.is_ok();
                if ok {
                    latencies
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(sent.elapsed());
                }
                ok
            }
        })
        .buffer_unordered(concurrency)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    let accepted = results.iter().filter(|ok| **ok).count() as u64;
    finish(receiver, n, accepted, started, &latencies, bar).await
}

/// Open loop: `rate` tickets per second for `duration`, each request sent at its
/// scheduled instant whatever the others are doing; latency counts from that instant,
/// so a stall shows up in the numbers (no coordinated omission).
pub async fn open_loop(
    api: &Api,
    receiver: &Receiver,
    rate: u64,
    duration: Duration,
    bar: &ProgressBar,
) -> Run {
    receiver.take();
    let n = rate * duration.as_secs().max(1);
    let latencies = Arc::new(Mutex::new(Latencies::new()));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let scheduled = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let api = api.clone();
        let latencies = latencies.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let ok = api.create_ticket(i).await.is_ok();
            if ok {
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record(scheduled.elapsed());
            }
            bar.inc(1);
            ok
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap_or(false) {
            accepted += 1;
        }
    }
    finish(receiver, n, accepted, started, &latencies, bar).await
}

async fn finish(
    receiver: &Receiver,
    requested: u64,
    accepted: u64,
    started: Instant,
    latencies: &Mutex<Latencies>,
    bar: &ProgressBar,
) -> Run {
    bar.set_message("waiting for webhooks");
    let deadline = Instant::now() + Duration::from_secs(120);
    receiver
        .wait_for(accepted as usize, deadline, |c| {
            bar.set_message(format!("{c}/{accepted} webhooks"))
        })
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let arrivals = receiver.take();
    let lag = lag_of(&arrivals);
    // At least once: a ticket counts once however many copies of its webhook arrived.
    let delivered = arrivals
        .iter()
        .map(|a| a.ticket_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len() as u64;
    let api = latencies.lock().unwrap_or_else(|p| p.into_inner());
    Run {
        requested,
        accepted,
        failed: requested - accepted,
        delivered,
        rejected: receiver.rejected(),
        tickets_per_s: delivered as f64 / seconds,
        api: api.percentiles(),
        webhook_lag: lag.percentiles(),
        seconds,
        api_curve: api.curve(CURVE),
        lag_curve: lag.curve(CURVE),
    }
}

/// Fan-out of one event stream to `k` endpoints.
#[derive(Debug, Serialize)]
pub struct Fanout {
    /// Endpoints.
    pub k: usize,
    /// Tickets created.
    pub events: u64,
    /// Verified deliveries received.
    pub deliveries: u64,
    /// Deliveries per second, first create to last delivery.
    pub deliveries_per_s: f64,
    /// Commit to receipt.
    pub webhook_lag: Percentiles,
}

/// Creates `k` endpoints, then `events` tickets, and waits for `k * events` deliveries.
pub async fn fanout(
    api: &Api,
    receiver: &Receiver,
    k: usize,
    events: u64,
    bar: &ProgressBar,
) -> anyhow::Result<Fanout> {
    let mut endpoints = Vec::with_capacity(k);
    for i in 0..k {
        let path = format!("/fanout/{k}/{i}");
        let (id, secret) = api
            .create_endpoint(&format!("{}{path}", receiver.base_url))
            .await?;
        receiver.expect(&path, &secret)?;
        endpoints.push(id);
    }
    receiver.take();
    let expected = events * k as u64;
    bar.set_length(expected);
    let started = Instant::now();
    let _: Vec<bool> = stream::iter(0..events)
        .map(|i| {
            let api = api.clone();
            async move { api.create_ticket(i).await.is_ok() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let deadline = Instant::now() + Duration::from_secs(180);
    receiver
        .wait_for(expected as usize, deadline, |c| bar.set_position(c as u64))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let arrivals: Vec<Arrival> = receiver
        .take()
        .into_iter()
        .filter(|a| a.path.starts_with(&format!("/fanout/{k}/")))
        .collect();
    for id in &endpoints {
        api.delete_endpoint(id).await;
    }
    Ok(Fanout {
        k,
        events,
        deliveries: arrivals.len() as u64,
        deliveries_per_s: arrivals.len() as f64 / seconds,
        webhook_lag: lag_of(&arrivals).percentiles(),
    })
}
