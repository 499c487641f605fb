//! Polling with a deadline: how tests wait for asynchronous effects without sleeping
//! a guessed amount of time.

use std::time::Duration;

use tokio::time::Instant;

/// How often `check` runs: short enough to keep tests fast, long enough not to hammer
/// the database or broker being polled.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Runs `check` every ~20 ms until it returns `Some(value)`, and returns that value.
///
/// # Panics
///
/// When `deadline` passes first; the message names `what` was awaited.
pub async fn wait_until<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up_at = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= give_up_at {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
