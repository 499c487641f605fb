//! Consumers: a durable quorum queue per consumer, handlers in parallel, manual acks,
//! kept alive across reconnects.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};
use tokio::{sync::Semaphore, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{info, warn};

use crate::{
    backoff,
    broker::{Broker, Inner, Link, amqp_name},
    dispatch,
    envelope::Delivery,
    error::MessagingError,
    publisher::Publisher,
    topology,
};

const RESTART_BASE: Duration = Duration::from_millis(100);
const RESTART_CAP: Duration = Duration::from_secs(10);

/// What a consumer listens to and how much it does at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The consumer's name; its queue is `"{prefix}.{name}"`.
    pub name: String,
    /// What is routed to the queue.
    pub bindings: Vec<Binding>,
    /// Overrides the broker settings' prefetch.
    pub prefetch: Option<u16>,
    /// Handler invocations in flight at once (clamped to 1..=prefetch).
    pub concurrency: usize,
}

impl ConsumerSpec {
    /// Default concurrency of [`ConsumerSpec::new`]: parallel, but a small share of the prefetch.
    pub const DEFAULT_CONCURRENCY: usize = 4;

    /// A consumer named `name` with these bindings, the settings' prefetch and
    /// [`Self::DEFAULT_CONCURRENCY`] handlers in flight.
    pub fn new(name: impl Into<String>, bindings: Vec<Binding>) -> Self {
        Self {
            name: name.into(),
            bindings,
            prefetch: None,
            concurrency: Self::DEFAULT_CONCURRENCY,
        }
    }
}

/// A route into a consumer's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// A command name (direct routing key on the commands exchange).
    Command(String),
    /// An event pattern on the events exchange (topic, e.g. `ticket.#`).
    Event(String),
}

/// What a handler decided about a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: ack.
    Ack,
    /// A transient failure of this message: try it again after the retry delay, until
    /// `max_attempts`, then dead-letter it.
    Retry {
        /// Why (logged, and kept on the message if it ends in the DLQ).
        reason: String,
    },
    /// Poison: straight to the dead-letter queue.
    DeadLetter {
        /// Why (kept on the message as header `x-loopdesk-error`).
        reason: String,
    },
    /// A dependency (the DB) is down: keep the message un-acked, wait with exponential
    /// backoff (cap 10 s) and hand the same delivery to the handler again. Never counts
    /// as an attempt; on shutdown the message is requeued.
    Backoff {
        /// Why (logged).
        reason: String,
    },
}

/// Handles one message at a time (several calls may run concurrently).
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Decides what happens to `delivery`. A panic counts as [`Outcome::Retry`].
    async fn handle(&self, delivery: &Delivery) -> Outcome;
}

/// What one consumer's tasks share.
pub(crate) struct ConsumerCtx {
    pub(crate) inner: Arc<Inner>,
    pub(crate) spec: ConsumerSpec,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) publisher: Publisher,
    pub(crate) shutdown: CancellationToken,
    pub(crate) queue: String,
    pub(crate) retry_queue: String,
    pub(crate) dead_letter_queue: String,
    permits: Arc<Semaphore>,
    in_flight: TaskTracker,
}

enum SessionEnd {
    Shutdown,
    Interrupted(String),
}

/// Declares the queue (durable, quorum), its retry queue and DLQ (both quorum), the
/// bindings, sets basic.qos, consumes with manual ack, and keeps doing so across
/// reconnects (re-declare, re-consume). Republish to retry/DLQ is confirmed before the
/// original is acked (no loss). Returns when the broker's shutdown token is cancelled
/// and in-flight handlers have finished (their messages acked or requeued).
pub fn spawn_consumer(
    broker: &Broker,
    spec: ConsumerSpec,
    handler: Arc<dyn Handler>,
) -> JoinHandle<()> {
    let inner = broker.inner.clone();
    let prefetch = spec.prefetch.unwrap_or(inner.settings.prefetch).max(1);
    let concurrency = spec.concurrency.clamp(1, usize::from(prefetch));
    let names = &inner.names;
    let ctx = Arc::new(ConsumerCtx {
        queue: names.queue(&spec.name),
        retry_queue: names.retry_queue(&spec.name),
        dead_letter_queue: names.dead_letter_queue(&spec.name),
        publisher: broker.publisher(),
        shutdown: inner.shutdown.clone(),
        inner: inner.clone(),
        spec,
        handler,
        permits: Arc::new(Semaphore::new(concurrency)),
        in_flight: TaskTracker::new(),
    });
    // Tracked by the broker so it keeps the connection open while this drains.
    inner.workers.spawn(run(ctx))
}

async fn run(ctx: Arc<ConsumerCtx>) {
    let mut links = ctx.inner.link.subscribe();
    let mut failures = 0u32;
    while let Some(link) = ctx.inner.next_link(&mut links).await {
        match session(&ctx, &link).await {
            Ok(SessionEnd::Shutdown) => break,
            Ok(SessionEnd::Interrupted(reason)) => {
                failures = 0;
                warn!(queue = %ctx.queue, %reason, "consumer interrupted; consuming again");
            }
            Err(error) => {
                warn!(queue = %ctx.queue, %error, failures, "cannot start consuming");
            }
        }
        let wait = backoff::delay(failures, RESTART_BASE, RESTART_CAP);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    ctx.in_flight.close();
    ctx.in_flight.wait().await;
    info!(queue = %ctx.queue, "consumer stopped");
}

/// Consumes over one channel until it breaks or shutdown.
async fn session(ctx: &Arc<ConsumerCtx>, link: &Link) -> Result<SessionEnd, MessagingError> {
    let channel = link.connection.create_channel().await?;
    topology::declare_consumer_queues(&ctx.inner, &channel, &ctx.spec).await?;
    let prefetch = ctx
        .spec
        .prefetch
        .unwrap_or(ctx.inner.settings.prefetch)
        .max(1);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{}.{:016x}", ctx.queue, rand::random::<u64>());
    let mut deliveries = channel
        .basic_consume(
            amqp_name(&ctx.queue)?,
            amqp_name(&tag)?,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    info!(queue = %ctx.queue, generation = link.generation, "consuming");

    loop {
        let permit = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            permit = ctx.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let next = tokio::select! {
            biased;
            _ = ctx.shutdown.cancelled() => break,
            next = deliveries.next() => next,
        };
        match next {
            Some(Ok(delivery)) => {
                let task_ctx = ctx.clone();
                ctx.in_flight.spawn(async move {
                    dispatch::process(&task_ctx, delivery).await;
                    drop(permit);
                });
            }
            Some(Err(error)) => return Ok(SessionEnd::Interrupted(error.to_string())),
            None => {
                return Ok(SessionEnd::Interrupted(
                    "the broker cancelled the consumer".into(),
                ));
            }
        }
    }

    // Shutdown: no new deliveries, let the handlers settle theirs, then close the channel
    // so prefetched messages nobody started go back to the queue.
    if let Err(error) = channel
        .basic_cancel(amqp_name(&tag)?, BasicCancelOptions::default())
        .await
    {
        warn!(queue = %ctx.queue, %error, "could not cancel the consumer");
    }
    ctx.in_flight.close();
    ctx.in_flight.wait().await;
    let _ = channel.close(200, "consumer stopped".into()).await;
    Ok(SessionEnd::Shutdown)
}

/// Declares a consumer's queues and bindings now, on the current connection, without
/// consuming: for a service that must know its queue exists before it reports ready,
/// and for tests that bind a listener before causing the events it listens for.
pub async fn declare_consumer(broker: &Broker, spec: &ConsumerSpec) -> Result<(), MessagingError> {
    let link = broker
        .current_link()
        .ok_or(MessagingError::NotConnected(std::time::Duration::ZERO))?;
    let channel = link.connection.create_channel().await?;
    let declared = topology::declare_consumer_queues(&broker.inner, &channel, spec).await;
    let _ = channel.close(200, "declared".into()).await;
    declared
}
