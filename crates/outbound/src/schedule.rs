//! The retry schedule (DESIGN.md §6): a fixed list of delays, each moved by a random
//! jitter so endpoints that failed together are not retried together.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// Delays before each attempt, jitter, and the bounds of `Retry-After`.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
    retry_after_max: Duration,
}

impl RetrySchedule {
    /// Parses comma-separated milliseconds: the delay before the first attempt, then
    /// before each retry. The number of delays is the number of attempts.
    pub fn parse(
        text: &str,
        jitter_percent: u32,
        retry_after_max: Duration,
    ) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .map(|d| {
                d.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("`{d}` is not a number of milliseconds"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 50 {
            return Err("must list between 1 and 50 delays".into());
        }
        Ok(Self {
            delays,
            jitter: f64::from(jitter_percent) / 100.0,
            retry_after_max,
        })
    }

    /// How many attempts a delivery gets.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// Delay before the first attempt.
    pub fn first(&self) -> Duration {
        self.jittered(self.delays.first().copied().unwrap_or_default())
    }

    /// Delay before the next attempt after `made` attempts failed, or `None` when the
    /// schedule is exhausted. A `Retry-After` may push the attempt later than the
    /// schedule says, never earlier, and never past the configured maximum.
    pub fn after_failure(&self, made: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let planned = self.jittered(*self.delays.get(usize::try_from(made).ok()?)?);
        Some(match retry_after {
            Some(asked) => planned.max(asked.min(self.retry_after_max)),
            None => planned,
        })
    }

    fn jittered(&self, delay: Duration) -> Duration {
        if self.jitter == 0.0 || delay.is_zero() {
            return delay;
        }
        let factor = rand::rng().random_range(1.0 - self.jitter..=1.0 + self.jitter);
        delay.mul_f64(factor)
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_default_schedule_has_eight_attempts_with_bounded_jitter() {
        let schedule = RetrySchedule::parse(
            "0,5000,300000,1800000,7200000,18000000,36000000,36000000",
            20,
            HOUR,
        )
        .unwrap();
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(schedule.first(), Duration::ZERO);
        for _ in 0..100 {
            let second = schedule.after_failure(1, None).unwrap();
            assert!(second >= Duration::from_millis(4000) && second <= Duration::from_millis(6000));
        }
        assert!(schedule.after_failure(7, None).is_some());
        assert_eq!(schedule.after_failure(8, None), None);
    }

    #[test]
    fn retry_after_delays_within_bounds_only() {
        let schedule = RetrySchedule::parse("0,1000,2000", 0, HOUR).unwrap();
        let secs = Duration::from_secs;
        assert_eq!(schedule.after_failure(1, Some(secs(30))), Some(secs(30)));
        // Never earlier than the schedule, never later than the maximum.
        assert_eq!(
            schedule.after_failure(1, Some(Duration::ZERO)),
            Some(secs(1))
        );
        assert_eq!(schedule.after_failure(2, Some(secs(86_400))), Some(HOUR));
    }

    #[test]
    fn refuses_malformed_schedules() {
        assert!(RetrySchedule::parse("", 0, HOUR).is_err());
        assert!(RetrySchedule::parse("0,5s", 0, HOUR).is_err());
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap_or_default();
        assert!(parsed > Duration::from_secs(80) && parsed <= Duration::from_secs(90));
    }
}
