//! The results: a Markdown summary, a JSON record and an SVG latency chart.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    load::{CURVE, Fanout, Run},
    procs::{CpuShare, Usage},
};

/// The machine the run happened on.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// CPU model.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads /proc.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: mem_kb / 1024.0 / 1024.0,
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

/// The machine's raw limits.
#[derive(Debug, Serialize)]
pub struct Raw {
    /// Single-row insert commits per second.
    pub postgres_commits_per_s: f64,
    /// Persistent confirmed publish + acked consume, messages per second.
    pub rabbitmq_msgs_per_s: f64,
    /// Connections / publishers used.
    pub concurrency: usize,
}

/// Everything one `make bench` measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// When.
    pub started_at: String,
    /// Where.
    pub machine: Machine,
    /// The flags it ran with.
    pub parameters: serde_json::Value,
    /// The engines alone.
    pub raw: Raw,
    /// Closed loop.
    pub end_to_end: Run,
    /// Where the closed loop's CPU went, per delivered ticket.
    pub cpu_per_ticket: Vec<CpuShare>,
    /// Fixed rate.
    pub open_loop: Run,
    /// Offered rate of the open loop.
    pub open_loop_rate: u64,
    /// Fan-out per K.
    pub fanout: Vec<Fanout>,
    /// Services' resource use.
    pub services: Vec<Usage>,
}

fn check(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The terminal summary.
pub fn markdown(r: &Results) -> String {
    let mut out = String::new();
    let e2e = &r.end_to_end;
    let open = &r.open_loop;
    let _ = writeln!(out, "## Loopdesk benchmark, {}", r.started_at);
    let _ = writeln!(
        out,
        "\nMachine: {} CPUs ({}), {:.1} GiB, Linux {}. Everything co-located.\n",
        r.machine.cpus, r.machine.cpu_model, r.machine.memory_gib, r.machine.kernel
    );
    let _ = writeln!(out, "| measure | result | target | |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| end to end (create → verified webhook) | **{:.0} tickets/s** ({} of {} in {:.1} s) | ≥ 1,000/s (goal 2,000) | {} |",
        e2e.tickets_per_s,
        e2e.delivered,
        e2e.requested,
        e2e.seconds,
        check(e2e.tickets_per_s >= 1000.0)
    );
    let _ = writeln!(
        out,
        "| end to end API latency p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms | | |",
        e2e.api.p50_ms, e2e.api.p90_ms, e2e.api.p99_ms, e2e.api.max_ms
    );
    let _ = writeln!(
        out,
        "| end to end webhook lag p50 / p99 | {:.1} / {:.1} ms | | |",
        e2e.webhook_lag.p50_ms, e2e.webhook_lag.p99_ms
    );
    let _ = writeln!(
        out,
        "| open loop at {}/s: API p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms | p99 ≤ 25 ms | {} |",
        r.open_loop_rate,
        open.api.p50_ms,
        open.api.p90_ms,
        open.api.p99_ms,
        open.api.max_ms,
        check(open.api.p99_ms <= 25.0)
    );
    let _ = writeln!(
        out,
        "| open loop at {}/s: webhook lag p50 / p99 | {:.1} / {:.1} ms ({} of {} delivered) | p99 ≤ 250 ms | {} |",
        r.open_loop_rate,
        open.webhook_lag.p50_ms,
        open.webhook_lag.p99_ms,
        open.delivered,
        open.requested,
        check(open.webhook_lag.p99_ms <= 250.0 && open.delivered == open.requested)
    );
    for f in &r.fanout {
        let target = if f.k == 100 { "≥ 10,000/s" } else { "" };
        let verdict = if f.k == 100 {
            check(f.deliveries_per_s >= 10_000.0)
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| fan-out K = {}: {} deliveries | **{:.0} deliveries/s**, lag p99 {:.0} ms | {target} | {verdict} |",
            f.k, f.deliveries, f.deliveries_per_s, f.webhook_lag.p99_ms
        );
    }
    let _ = writeln!(
        out,
        "| raw PostgreSQL insert commits ({} connections) | {:.0}/s | | |",
        r.raw.concurrency, r.raw.postgres_commits_per_s
    );
    let _ = writeln!(
        out,
        "| raw RabbitMQ confirmed publish + acked consume (quorum) | {:.0} msgs/s | | |",
        r.raw.rabbitmq_msgs_per_s
    );
    let _ = writeln!(
        out,
        "| end to end as a share of raw limits | {:.0}% of PostgreSQL commits, {:.0}% of RabbitMQ msgs | | |",
        100.0 * e2e.tickets_per_s / r.raw.postgres_commits_per_s.max(1.0),
        100.0 * e2e.tickets_per_s / r.raw.rabbitmq_msgs_per_s.max(1.0)
    );
    for s in &r.services {
        let _ = writeln!(
            out,
            "| {} peak RSS / CPU | {:.1} MiB / {:.1} s | < 64 MiB | {} |",
            s.name,
            s.peak_rss_mb,
            s.cpu_seconds,
            check(s.peak_rss_mb < 64.0)
        );
    }
    let _ = writeln!(
        out,
        "\nWhere the end-to-end run's CPU went ({} cores, so at most {:.2} ms of CPU per ticket at 1,000 tickets/s):\n",
        r.machine.cpus, r.machine.cpus as f64
    );
    let _ = writeln!(out, "| process | CPU s | ms per ticket |\n|---|---|---|");
    let total: f64 = r.cpu_per_ticket.iter().map(|c| c.ms_per_ticket).sum();
    for c in &r.cpu_per_ticket {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.2} |",
            c.name, c.cpu_seconds, c.ms_per_ticket
        );
    }
    let _ = writeln!(out, "| **all** | | **{total:.2}** |");
    out
}

/// One chart line: its name, colour and (quantile, ms) points.
type Series<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

/// Latency percentile curves as an SVG line chart.
pub fn svg(r: &Results) -> String {
    let series: [Series<'_>; 4] = [
        ("end to end API", "#1f77b4", &r.end_to_end.api_curve),
        ("end to end webhook lag", "#aec7e8", &r.end_to_end.lag_curve),
        ("open loop API", "#d62728", &r.open_loop.api_curve),
        ("open loop webhook lag", "#ff9896", &r.open_loop.lag_curve),
    ];
    let (width, height, left, bottom, top, right) = (720.0, 420.0, 70.0, 50.0, 40.0, 200.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let max_ms = series
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(_, ms)| *ms))
        .fold(1.0_f64, f64::max);
    // Log scale on y: latency tails span orders of magnitude.
    let y_top = max_ms.log10().ceil().max(1.0);
    let y_bottom = -1.0_f64;
    let y = |ms: f64| top + plot_h * (1.0 - (ms.max(0.1).log10() - y_bottom) / (y_top - y_bottom));
    let x = |i: usize| left + plot_w * i as f64 / (CURVE.len() - 1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{left}" y="22" font-size="15">Loopdesk latency by percentile ({}, open loop at {}/s)</text>"#,
        r.started_at, r.open_loop_rate
    );
    let mut decade = y_bottom as i32;
    while f64::from(decade) <= y_top {
        let ms = 10f64.powi(decade);
        let yy = y(ms);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{ms} ms</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0
        );
        decade += 1;
    }
    for (i, q) in CURVE.iter().enumerate() {
        let label = format!("p{}", (q * 100.0 * 100.0).round() / 100.0);
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x(i),
            top + plot_h + 18.0
        );
    }
    for (n, (name, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, (_, ms))| format!("{:.1},{:.1}", x(i), y(*ms)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = top + 10.0 + 20.0 * n as f64;
        let lx = left + plot_w + 16.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}
