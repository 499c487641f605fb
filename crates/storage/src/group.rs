//! Group commit: work handed in while one batch is being written goes into the next
//! batch, so N concurrent callers cost one transaction instead of N.
//!
//! A service keeps its one-by-one path and puts a [`GroupCommit`] in front of it: callers
//! submit an item and wait for its result; a single writer task takes whatever is queued
//! (up to the batch size) and writes it in one go. Under light load a batch holds one
//! item and costs what the one-by-one path did; under load it grows by itself, without a
//! timer.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// An item waiting to be written, and who waits for its result.
struct Waiting<T, R> {
    item: T,
    done: oneshot::Sender<R>,
}

/// Hands items to the writer task; cheap to clone.
pub struct GroupCommit<T, R> {
    name: &'static str,
    queue: mpsc::UnboundedSender<Waiting<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            queue: self.queue.clone(),
        }
    }
}

/// A submitted item got no result: the writer task has stopped (the runtime is shutting
/// down) or its batch returned the wrong number of results.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the group-commit writer `{0}` gave no result")]
pub struct NoResult(pub &'static str);

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the writer task `name` (on the current runtime). `write` gets up to
    /// `max_batch` items in the order they were submitted and returns one result per item,
    /// in the same order. It decides what a failure means for each item (typically: an
    /// unavailable database fails them all, any other error sends each item down the
    /// one-by-one path).
    ///
    /// The task ends when every handle is dropped.
    pub fn start<W, Fut>(name: &'static str, max_batch: usize, write: W) -> Self
    where
        W: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(name, max_batch.max(1), incoming, write));
        Self { name, queue }
    }

    /// Writes `item` with the others submitted meanwhile and returns its result.
    pub async fn submit(&self, item: T) -> Result<R, NoResult> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Waiting { item, done })
            .map_err(|_| NoResult(self.name))?;
        result.await.map_err(|_| NoResult(self.name))
    }
}

async fn write_batches<T, R, W, Fut>(
    name: &'static str,
    max_batch: usize,
    mut incoming: mpsc::UnboundedReceiver<Waiting<T, R>>,
    write: W,
) where
    T: Send + 'static,
    R: Send + 'static,
    W: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    let mut batch = Vec::with_capacity(max_batch);
    while incoming.recv_many(&mut batch, max_batch).await > 0 {
        metrics::histogram!("group_commit_batch_size", "writer" => name).record(batch.len() as f64);
        let (items, waiting): (Vec<T>, Vec<oneshot::Sender<R>>) = batch
            .drain(..)
            .map(|Waiting { item, done }| (item, done))
            .unzip();
        let expected = items.len();
        // On a task of its own, so a panicking batch fails its callers (they get
        // `NoResult`) and the writer goes on with the next.
        let results = match tokio::spawn(write(items)).await {
            Ok(results) => results,
            Err(error) => {
                tracing::error!(writer = name, %error, "a group-commit batch failed");
                continue;
            }
        };
        if results.len() != expected {
            // A bug in `write`: nobody gets a result rather than someone the wrong one.
            tracing::error!(
                writer = name,
                expected,
                got = results.len(),
                "a group-commit batch returned the wrong number of results"
            );
            continue;
        }
        for (done, result) in waiting.into_iter().zip(results) {
            // The caller may have gone (cancelled); its item was written all the same.
            let _ = done.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn each_caller_gets_its_own_result_and_concurrent_callers_share_batches() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let (release, gate) = tokio::sync::watch::channel(false);
        let doubler = GroupCommit::start("test", 8, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate.clone();
            async move {
                // The first batch waits, so the rest queue up behind it.
                gate.wait_for(|open| *open).await.unwrap();
                items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
            }
        });
        let calls: Vec<_> = (0..20u32)
            .map(|i| {
                let doubler = doubler.clone();
                tokio::spawn(async move { (i, doubler.submit(i).await.unwrap()) })
            })
            .collect();
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        for call in calls {
            let (i, doubled) = call.await.unwrap();
            assert_eq!(doubled, i * 2);
        }
        let used = batches.load(Ordering::SeqCst);
        assert!(
            (3..20).contains(&used),
            "20 items in batches of at most 8 took {used} batches"
        );
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_callers_and_the_writer_goes_on() {
        let picky = GroupCommit::start("picky", 1, |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert_eq!(picky.submit(13).await, Err(NoResult("picky")));
        assert_eq!(picky.submit(7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_writer_that_miscounts_fails_its_callers_instead_of_misanswering_them() {
        let broken = GroupCommit::start("broken", 4, |items: Vec<u32>| async move {
            items.into_iter().skip(1).collect::<Vec<_>>()
        });
        assert_eq!(broken.submit(7).await, Err(NoResult("broken")));
    }
}
