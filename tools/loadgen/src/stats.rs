//! Latency recording: microsecond histograms and the percentiles the report prints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram, 1 µs to 60 s at 3 significant digits.
pub struct Latencies(Histogram<u64>);

/// The percentiles of one series, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Percentiles {
    /// How many samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latencies {
    /// An empty histogram.
    #[allow(clippy::expect_used)] // constant bounds that hdrhistogram accepts
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"))
    }

    /// Adds one sample (saturating at the upper bound).
    pub fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 60_000_000);
        let _ = self.0.record(micros);
    }

    /// p50/p90/p99/max.
    pub fn percentiles(&self) -> Percentiles {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }

    /// The latency at each of `quantiles`, in ms, for the chart.
    pub fn curve(&self, quantiles: &[f64]) -> Vec<(f64, f64)> {
        quantiles
            .iter()
            .map(|q| (*q, self.0.value_at_quantile(*q) as f64 / 1000.0))
            .collect()
    }
}
