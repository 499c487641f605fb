//! Reading and replaying a consumer's dead-letter queue (ops and tests).

use std::time::Duration;

use lapin::{
    Channel,
    message::BasicGetMessage,
    options::{BasicAckOptions, BasicGetOptions},
};

use crate::{
    broker::{Broker, amqp_name},
    envelope::Envelope,
    error::MessagingError,
    headers::{self, ATTEMPT, ERROR, ORIGINAL_EXCHANGE, ORIGINAL_ROUTING_KEY},
    publisher::RawMessage,
};

/// A message in a consumer's dead-letter queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The envelope, or why it could not be read (such messages are dead-lettered too).
    pub envelope: Result<Envelope, headers::EnvelopeError>,
    /// The body as received.
    pub body: Vec<u8>,
    /// Why it was dead-lettered (header `x-loopdesk-error`).
    pub reason: Option<String>,
    /// The attempt it was on.
    pub attempt: u32,
    /// The exchange it was first published to.
    pub original_exchange: Option<String>,
    /// The routing key it was first published with.
    pub original_routing_key: Option<String>,
}

impl DeadLetter {
    fn from_amqp(message: &BasicGetMessage) -> Self {
        let properties = &message.delivery.properties;
        let header = |key| {
            properties
                .headers()
                .as_ref()
                .and_then(|table| headers::get_str(table, key))
        };
        Self {
            envelope: headers::from_properties(properties),
            body: message.delivery.data.clone(),
            reason: header(ERROR),
            attempt: headers::attempt_of(properties),
            original_exchange: header(ORIGINAL_EXCHANGE),
            original_routing_key: header(ORIGINAL_ROUTING_KEY),
        }
    }
}

/// Up to `max` messages from the head of `consumer`'s dead-letter queue, left in place.
pub async fn peek_dead_letters(
    broker: &Broker,
    consumer: &str,
    max: usize,
) -> Result<Vec<DeadLetter>, MessagingError> {
    let channel = open_channel(broker).await?;
    let queue = broker.names().dead_letter_queue(consumer);
    let mut letters = Vec::new();
    while letters.len() < max {
        match channel
            .basic_get(amqp_name(&queue)?, BasicGetOptions::default())
            .await?
        {
            Some(message) => letters.push(DeadLetter::from_amqp(&message)),
            None => break,
        }
    }
    // Closing the channel returns every un-acked message to the queue.
    let _ = channel.close(200, "peek done".into()).await;
    Ok(letters)
}

/// Moves up to `max` messages from `consumer`'s dead-letter queue back to its main
/// queue (not the original exchange, which may also feed other consumers), with a fresh
/// attempt count. Each is acked only after its copy is confirmed. Returns how many moved.
pub async fn replay_dead_letters(
    broker: &Broker,
    consumer: &str,
    max: usize,
) -> Result<usize, MessagingError> {
    let channel = open_channel(broker).await?;
    let names = broker.names();
    let dead_letter_queue = names.dead_letter_queue(consumer);
    let queue = names.queue(consumer);
    let publisher = broker.publisher();
    let mut moved = 0;
    let result = async {
        while moved < max {
            let Some(message) = channel
                .basic_get(amqp_name(&dead_letter_queue)?, BasicGetOptions::default())
                .await?
            else {
                break;
            };
            let delivery = &message.delivery;
            let properties = headers::without_header(delivery.properties.clone(), ERROR);
            let copy = RawMessage {
                exchange: String::new(),
                routing_key: queue.clone(),
                properties: headers::without_header(properties, ATTEMPT),
                body: &delivery.data,
            };
            publisher.publish_raw(std::slice::from_ref(&copy)).await?;
            delivery.acker.ack(BasicAckOptions::default()).await?;
            moved += 1;
        }
        Ok::<_, MessagingError>(())
    }
    .await;
    let _ = channel.close(200, "replay done".into()).await;
    result.map(|()| moved)
}

async fn open_channel(broker: &Broker) -> Result<Channel, MessagingError> {
    let link = broker
        .current_link()
        .ok_or(MessagingError::NotConnected(Duration::ZERO))?;
    Ok(link.connection.create_channel().await?)
}
