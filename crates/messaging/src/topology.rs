//! A consumer's queues: main, retry and dead-letter, all durable quorum queues.

use lapin::{
    Channel,
    options::{QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString},
};

use crate::{
    broker::{Inner, amqp_name},
    consumer::{Binding, ConsumerSpec},
    error::MessagingError,
};

fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

fn quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), string("quorum"));
    arguments
}

/// Declares the main queue, its retry queue and dead-letter queue, and the bindings.
/// Idempotent: run again after every reconnect.
pub(crate) async fn declare_consumer_queues(
    inner: &Inner,
    channel: &Channel,
    spec: &ConsumerSpec,
) -> Result<(), MessagingError> {
    let names = &inner.names;
    let queue = names.queue(&spec.name);
    let retry_queue = names.retry_queue(&spec.name);
    let dead_letter_queue = names.dead_letter_queue(&spec.name);
    let durable = QueueDeclareOptions::durable();

    inner.remember_queue(&dead_letter_queue);
    channel
        .queue_declare(amqp_name(&dead_letter_queue)?, durable, quorum())
        .await?;

    // A message the broker itself dead-letters (e.g. a delivery limit set by an operator
    // policy) lands in the DLQ too: never a silent drop.
    let mut main_arguments = quorum();
    main_arguments.insert("x-dead-letter-exchange".into(), string(""));
    main_arguments.insert(
        "x-dead-letter-routing-key".into(),
        string(&dead_letter_queue),
    );
    inner.remember_queue(&queue);
    channel
        .queue_declare(amqp_name(&queue)?, durable, main_arguments)
        .await?;

    // Delayed retry without plugins: messages expire after the delay and are
    // dead-lettered back to the main queue. At-least-once dead-lettering keeps a message
    // in the retry queue until the main queue has confirmed it.
    let mut retry_arguments = quorum();
    let delay = i64::try_from(inner.settings.retry_delay_ms).unwrap_or(i64::MAX);
    retry_arguments.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay));
    retry_arguments.insert("x-dead-letter-exchange".into(), string(""));
    retry_arguments.insert("x-dead-letter-routing-key".into(), string(&queue));
    retry_arguments.insert("x-dead-letter-strategy".into(), string("at-least-once"));
    retry_arguments.insert("x-overflow".into(), string("reject-publish"));
    inner.remember_queue(&retry_queue);
    channel
        .queue_declare(amqp_name(&retry_queue)?, durable, retry_arguments)
        .await?;

    for binding in &spec.bindings {
        let (exchange, key) = match binding {
            Binding::Command(name) => (names.commands_exchange(), name),
            Binding::Event(pattern) => (names.events_exchange(), pattern),
        };
        channel
            .queue_bind(
                amqp_name(&queue)?,
                amqp_name(&exchange)?,
                amqp_name(key)?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
