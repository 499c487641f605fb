#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `wait_until` returns the first `Some` and gives up at its deadline.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use loopdesk_testkit::wait_until;

#[tokio::test]
async fn returns_the_first_some() {
    let calls = Arc::new(AtomicU32::new(0));
    let value = wait_until(Duration::from_secs(5), "the third call", || {
        let calls = Arc::clone(&calls);
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            (n >= 3).then_some(n * 10)
        }
    })
    .await;
    assert_eq!(value, 30);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
#[should_panic(expected = "waiting for the impossible")]
async fn panics_naming_what_it_waited_for() {
    wait_until(Duration::from_millis(100), "the impossible", || async {
        None::<()>
    })
    .await;
}
