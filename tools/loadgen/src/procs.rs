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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(Usage {
        name: name.to_owned(),
        pid,
        peak_rss_mb: hwm_kb / 1024.0,
        // The kernel's USER_HZ is 100 on every Linux this runs on.
        cpu_seconds: ticks / 100.0,
    })
}
