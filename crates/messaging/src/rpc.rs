//! Request/reply over the broker, for the gateway: send a command, wait for its answer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures::StreamExt;
use lapin::{
    message::Delivery as AmqpDelivery,
    options::{BasicConsumeOptions, QueueDeclareOptions},
    types::FieldTable,
};
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};

use crate::{
    backoff,
    broker::{Broker, Link, amqp_name},
    envelope::{Delivery, OutgoingMessage},
    error::{MessagingError, PublishError},
    headers,
};

const RESTART_BASE: Duration = Duration::from_millis(100);
const RESTART_CAP: Duration = Duration::from_secs(5);

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Nothing was sent, or the broker did not confirm it.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Sent and confirmed, but no answer within the deadline (the command may still be
    /// applied later).
    #[error("no reply within the deadline")]
    Timeout,
}

/// Sends requests and routes their replies back to the waiting callers. Cheap to clone.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<RpcInner>,
}

struct RpcInner {
    broker: Broker,
    reply_queue: String,
    waiters: Mutex<HashMap<String, oneshot::Sender<Delivery>>>,
    /// The connection generation the reply queue is consumed on, when it is.
    ready: watch::Sender<Option<u64>>,
}

impl RpcClient {
    /// Declares an exclusive, auto-delete reply queue `"{prefix}.replies.{random}"`
    /// (re-declared after reconnect) and consumes it, routing replies to waiters by
    /// correlation id. Runs until the broker's shutdown token is cancelled.
    pub fn start(broker: &Broker) -> RpcClient {
        let suffix = format!("{:016x}", rand::random::<u64>());
        let (ready, _) = watch::channel(None);
        let inner = Arc::new(RpcInner {
            broker: broker.clone(),
            reply_queue: broker.names().reply_queue(&suffix),
            waiters: Mutex::new(HashMap::new()),
            ready,
        });
        tokio::spawn(listen(inner.clone()));
        RpcClient { inner }
    }

    /// The queue replies come back to.
    pub fn reply_queue(&self) -> &str {
        &self.inner.reply_queue
    }

    /// Sets reply_to + correlation_id (= envelope.message_id unless already set) on the
    /// message, publishes with confirms, then waits up to `deadline` for the reply.
    pub async fn call(
        &self,
        mut msg: OutgoingMessage,
        deadline: Duration,
    ) -> Result<Delivery, RpcError> {
        // Without a consumed reply queue the answer would be unroutable: do not send.
        let patience = Duration::from_millis(self.inner.broker.settings().publish_timeout_ms);
        let mut ready = self.inner.ready.subscribe();
        if tokio::time::timeout(patience, ready.wait_for(Option::is_some))
            .await
            .map_or(true, |result| result.is_err())
        {
            return Err(
                PublishError::Unavailable("the reply queue is not ready".to_owned()).into(),
            );
        }

        msg.envelope.reply_to = Some(self.inner.reply_queue.clone());
        let correlation_id = msg
            .envelope
            .correlation_id
            .get_or_insert_with(|| msg.envelope.message_id.clone())
            .clone();
        let (sender, receiver) = oneshot::channel();
        let _waiter = Waiter::register(&self.inner, correlation_id, sender);
        self.inner.broker.publisher().publish(&msg).await?;
        match tokio::time::timeout(deadline, receiver).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(RpcError::Timeout),
        }
    }
}

impl RpcInner {
    fn waiters(&self) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Delivery>>> {
        // Every write is one insert or remove: a panicked holder leaves no half state.
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A registered waiter, removed when the call ends however it ends.
struct Waiter<'a> {
    inner: &'a RpcInner,
    correlation_id: String,
}

impl<'a> Waiter<'a> {
    fn register(
        inner: &'a RpcInner,
        correlation_id: String,
        sender: oneshot::Sender<Delivery>,
    ) -> Self {
        inner.waiters().insert(correlation_id.clone(), sender);
        Self {
            inner,
            correlation_id,
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.inner.waiters().remove(&self.correlation_id);
    }
}

async fn listen(inner: Arc<RpcInner>) {
    let broker = &inner.broker.inner;
    let mut links = broker.link.subscribe();
    let mut failures = 0u32;
    while let Some(link) = broker.next_link(&mut links).await {
        match consume_replies(&inner, &link).await {
            Ok(None) => break,
            Ok(Some(reason)) => {
                failures = 0;
                warn!(queue = %inner.reply_queue, %reason, "reply consumer interrupted");
            }
            Err(error) => warn!(queue = %inner.reply_queue, %error, "cannot consume replies"),
        }
        inner.ready.send_replace(None);
        let wait = backoff::delay(failures, RESTART_BASE, RESTART_CAP);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    inner.ready.send_replace(None);
}

/// Consumes the reply queue on one connection; `Ok(None)` on shutdown, else why it stopped.
async fn consume_replies(inner: &RpcInner, link: &Link) -> Result<Option<String>, MessagingError> {
    let channel = link.connection.create_channel().await?;
    let queue = amqp_name(&inner.reply_queue)?;
    inner.broker.inner.remember_queue(&inner.reply_queue);
    let exclusive = QueueDeclareOptions::exclusive().auto_delete();
    channel
        .queue_declare(queue.clone(), exclusive, FieldTable::default())
        .await?;
    // Replies are worth nothing once the caller gave up, so auto-ack is enough.
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut replies = channel
        .basic_consume(queue.clone(), queue, no_ack, FieldTable::default())
        .await?;
    inner.ready.send_replace(Some(link.generation));
    info!(queue = %inner.reply_queue, "consuming replies");
    loop {
        tokio::select! {
            _ = inner.broker.inner.shutdown.cancelled() => {
                let _ = channel.close(200, "shutting down".into()).await;
                return Ok(None);
            }
            next = replies.next() => match next {
                Some(Ok(reply)) => route(inner, reply),
                Some(Err(error)) => return Ok(Some(error.to_string())),
                None => return Ok(Some("the broker cancelled the reply consumer".to_owned())),
            },
        }
    }
}

fn route(inner: &RpcInner, raw: AmqpDelivery) {
    let envelope = match headers::from_properties(&raw.properties) {
        Ok(envelope) => envelope,
        Err(error) => {
            warn!(%error, "dropping a reply with an unreadable envelope");
            return;
        }
    };
    let Some(correlation_id) = envelope.correlation_id.clone() else {
        warn!(message_id = %envelope.message_id, "dropping a reply without correlation id");
        return;
    };
    let Some(waiter) = inner.waiters().remove(&correlation_id) else {
        debug!(%correlation_id, "reply arrived after its caller gave up");
        return;
    };
    let reply = Delivery {
        attempt: headers::attempt_of(&raw.properties),
        redelivered: raw.redelivered,
        body: raw.data,
        envelope,
    };
    let _ = waiter.send(reply);
}
