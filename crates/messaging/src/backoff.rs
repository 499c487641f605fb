//! Exponential backoff with jitter, for reconnects and for dependencies that are down.

use std::time::Duration;

use rand::Rng;

/// The wait before try number `attempt` (0-based): `base * 2^attempt`, capped at `cap`,
/// then a random point in its upper half so many clients do not retry in lockstep.
pub(crate) fn delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exponential = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    let ceiling = exponential.min(cap).max(Duration::from_millis(1));
    let floor = ceiling / 2;
    rand::rng().random_range(floor..=ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stays_under_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(10);
        for attempt in 0..40 {
            let wait = delay(attempt, base, cap);
            let ceiling = (base * 2u32.pow(attempt.min(20))).min(cap);
            assert!(wait <= ceiling, "attempt {attempt}: {wait:?} > {ceiling:?}");
            assert!(wait >= ceiling / 2, "attempt {attempt}: {wait:?} too short");
        }
        assert!(delay(30, base, cap) >= Duration::from_secs(5));
    }
}
