//! Peak memory and CPU time of the services, read from `/proc`.

use serde::Serialize;

/// One service's resource use so far.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Service name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Peak resident set size (VmHWM), MiB.
    pub peak_rss_mb: f64,
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
}

/// Reads a process's peak RSS and CPU seconds; `None` if it is gone.
pub fn usage(name: &str, pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(Usage {
        name: name.to_owned(),
        pid,
        peak_rss_mb: hwm_kb / 1024.0,
        cpu_seconds: cpu_seconds(pid)?,
    })
}

/// CPU seconds used so far by each group of processes: the named services, and the
/// engines they run on (every `postgres` process, RabbitMQ's Erlang VM `beam.smp`).
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    groups: Vec<(String, f64)>,
}

/// CPU time one group spent per ticket during a run.
#[derive(Debug, Clone, Serialize)]
pub struct CpuShare {
    /// Service or engine.
    pub name: String,
    /// CPU seconds during the run.
    pub cpu_seconds: f64,
    /// Milliseconds of CPU per ticket.
    pub ms_per_ticket: f64,
}

/// Engines counted beside the services, by executable name.
const ENGINES: &[(&str, &str)] = &[("postgres", "PostgreSQL"), ("beam.smp", "RabbitMQ")];

/// CPU seconds of a process (user + system), `None` if it is gone.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

/// Executable name of a process.
fn exe_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim().to_owned())
}

impl CpuSnapshot {
    /// Reads the CPU time of `services` (name, pid), of every engine process, and of
    /// this load generator.
    pub fn take(services: &[(String, u32)]) -> Self {
        let mut groups: Vec<(String, f64)> = services
            .iter()
            .map(|(name, pid)| (name.clone(), cpu_seconds(*pid).unwrap_or(0.0)))
            .collect();
        let mut engines = vec![0.0; ENGINES.len()];
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                let Some(name) = exe_name(pid) else { continue };
                if let Some(i) = ENGINES.iter().position(|(exe, _)| name == *exe) {
                    engines[i] += cpu_seconds(pid).unwrap_or(0.0);
                }
            }
        }
        for ((_, label), seconds) in ENGINES.iter().zip(engines) {
            groups.push(((*label).to_owned(), seconds));
        }
        groups.push((
            "loadgen (client + receiver)".to_owned(),
            cpu_seconds(std::process::id()).unwrap_or(0.0),
        ));
        Self { groups }
    }

    /// What each group spent between `self` and `later`, per ticket of `tickets`. An
    /// engine process that ended meanwhile is not counted (its time is lost to us).
    pub fn shares(&self, later: &CpuSnapshot, tickets: u64) -> Vec<CpuShare> {
        let tickets = tickets.max(1) as f64;
        later
            .groups
            .iter()
            .map(|(name, after)| {
                let before = self
                    .groups
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0.0, |(_, s)| *s);
                let cpu_seconds = (after - before).max(0.0);
                CpuShare {
                    name: name.clone(),
                    cpu_seconds,
                    ms_per_ticket: 1000.0 * cpu_seconds / tickets,
                }
            })
            .collect()
    }
}
