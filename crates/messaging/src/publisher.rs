//! Confirmed, mandatory, persistent publishing.

use std::{sync::Arc, time::Duration};

use lapin::{
    BasicProperties, Channel, Confirmation,
    options::{BasicPublishOptions, ConfirmSelectOptions},
};

use crate::{
    broker::Inner,
    envelope::OutgoingMessage,
    error::PublishError,
    headers::{self, short},
};

/// Publishes over the broker's connection. Cheap to clone; clones share one confirm-mode
/// channel per connection.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

/// A message already in wire form (used to move received messages between queues).
pub(crate) struct RawMessage<'a> {
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    pub(crate) properties: BasicProperties,
    pub(crate) body: &'a [u8],
}

impl Publisher {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Persistent, mandatory, waits for the broker's confirm. Unroutable (basic.return) is an error.
    pub async fn publish(&self, msg: &OutgoingMessage) -> Result<(), PublishError> {
        self.publish_all(std::slice::from_ref(msg)).await
    }

    /// Same guarantees for a batch, with the confirms pipelined (publish all, then await
    /// all). Ok only if every message was confirmed and routed; otherwise the first
    /// failure (the others may have been delivered: callers retry the batch, consumers
    /// deduplicate by message id).
    pub async fn publish_all(&self, msgs: &[OutgoingMessage]) -> Result<(), PublishError> {
        let names = &self.inner.names;
        let raw = msgs
            .iter()
            .map(|msg| {
                Ok(RawMessage {
                    exchange: msg.route.exchange(names),
                    routing_key: msg.route.routing_key().to_owned(),
                    properties: headers::to_properties(&msg.envelope)
                        .map_err(|error| PublishError::Invalid(error.to_string()))?,
                    body: &msg.body,
                })
            })
            .collect::<Result<Vec<_>, PublishError>>()?;
        self.publish_raw(&raw).await
    }

    pub(crate) async fn publish_raw(&self, msgs: &[RawMessage<'_>]) -> Result<(), PublishError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let limit = Duration::from_millis(self.inner.settings.publish_timeout_ms);
        let result = tokio::time::timeout(limit, self.send_and_confirm(msgs))
            .await
            .map_err(|_| {
                PublishError::Unavailable(format!("no publisher confirm within {limit:?}"))
            })
            .and_then(|sent| sent);
        let outcome = if result.is_ok() {
            "confirmed"
        } else {
            "failed"
        };
        metrics::counter!("messages_published_total", "outcome" => outcome)
            .increment(msgs.len() as u64);
        result
    }

    async fn send_and_confirm(&self, msgs: &[RawMessage<'_>]) -> Result<(), PublishError> {
        let mut confirms = Vec::with_capacity(msgs.len());
        {
            // Held while frames are queued: lapin numbers confirms when a publish starts,
            // so two publishes racing on one channel could be confirmed under each
            // other's numbers. The confirms themselves are awaited outside the lock.
            let mut slot = self.inner.publish_channel.lock().await;
            let channel = self.channel(&mut slot).await?;
            for msg in msgs {
                let exchange = short("exchange", &msg.exchange)
                    .map_err(|error| PublishError::Invalid(error.to_string()))?;
                let routing_key = short("routing_key", &msg.routing_key)
                    .map_err(|error| PublishError::Invalid(error.to_string()))?;
                let options = BasicPublishOptions {
                    mandatory: true,
                    immediate: false,
                };
                let confirm = channel
                    .basic_publish(
                        exchange,
                        routing_key,
                        options,
                        msg.body,
                        msg.properties.clone(),
                    )
                    .await
                    .map_err(PublishError::unavailable)?;
                confirms.push(confirm);
            }
        }

        let mut first_error = None;
        for (msg, confirm) in msgs.iter().zip(confirms) {
            let outcome = match confirm.await {
                Ok(Confirmation::Ack(None)) => Ok(()),
                Ok(Confirmation::Ack(Some(_returned))) => Err(PublishError::Unroutable {
                    routing_key: msg.routing_key.clone(),
                }),
                Ok(Confirmation::Nack(_)) => Err(PublishError::Nacked),
                Ok(Confirmation::NotRequested) => Err(PublishError::Unavailable(
                    "the channel is not in confirm mode".to_owned(),
                )),
                Err(error) => Err(PublishError::unavailable(error)),
            };
            if let Err(error) = outcome {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The confirm-mode channel of the current connection, opened on first use and again
    /// after a reconnect or a channel error.
    async fn channel(&self, slot: &mut Option<(u64, Channel)>) -> Result<Channel, PublishError> {
        let link = self
            .inner
            .current_link()
            .ok_or_else(|| PublishError::Unavailable("not connected to the broker".to_owned()))?;
        if let Some((generation, channel)) = slot.as_ref()
            && *generation == link.generation
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = link
            .connection
            .create_channel()
            .await
            .map_err(PublishError::unavailable)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(PublishError::unavailable)?;
        *slot = Some((link.generation, channel.clone()));
        Ok(channel)
    }
}
