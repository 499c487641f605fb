//! One delivery through the handler, and what its outcome does on the broker.

use std::{panic::AssertUnwindSafe, time::Duration};

use futures::FutureExt;
use lapin::{
    BasicProperties,
    message::Delivery as AmqpDelivery,
    options::{BasicAckOptions, BasicNackOptions},
    types::FieldTable,
};
use tracing::{Instrument, debug, info_span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    backoff,
    consumer::{ConsumerCtx, Outcome},
    envelope::Delivery,
    headers::{self, ATTEMPT, ERROR, ORIGINAL_EXCHANGE, ORIGINAL_ROUTING_KEY},
    publisher::RawMessage,
    trace,
};

const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// Runs the handler on `raw` and settles it: ack, retry, dead-letter, or hold and retry.
pub(crate) async fn process(ctx: &ConsumerCtx, raw: AmqpDelivery) {
    let envelope = match headers::from_properties(&raw.properties) {
        Ok(envelope) => envelope,
        Err(error) => {
            warn!(queue = %ctx.queue, %error, "unreadable envelope; dead-lettering");
            metrics::counter!("messages_consumed_total", "queue" => ctx.queue.clone(), "outcome" => "unreadable")
                .increment(1);
            dead_letter(ctx, &raw, &format!("unreadable envelope: {error}")).await;
            return;
        }
    };
    let delivery = Delivery {
        envelope,
        body: raw.data.clone(),
        attempt: headers::attempt_of(&raw.properties),
        redelivered: raw.redelivered,
    };
    let span = info_span!(
        "message",
        queue = %ctx.queue,
        message_id = %delivery.envelope.message_id,
        kind = %delivery.envelope.kind,
        attempt = delivery.attempt,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let _ = span.set_parent(trace::extract_parent(&delivery.envelope));
    loopdesk_telemetry::record_trace_ids(&span);
    handle(ctx, &raw, &delivery).instrument(span).await;
}

async fn handle(ctx: &ConsumerCtx, raw: &AmqpDelivery, delivery: &Delivery) {
    let mut holds = 0u32;
    loop {
        let outcome = AssertUnwindSafe(ctx.handler.handle(delivery))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Outcome::Retry {
                reason: "the handler panicked".to_owned(),
            });
        let label = match &outcome {
            Outcome::Ack => "ack",
            Outcome::Retry { .. } if delivery.attempt >= ctx.inner.settings.max_attempts => {
                "dead_letter"
            }
            Outcome::Retry { .. } => "retry",
            Outcome::DeadLetter { .. } => "dead_letter",
            Outcome::Backoff { .. } => "backoff",
        };
        metrics::counter!("messages_consumed_total", "queue" => ctx.queue.clone(), "outcome" => label)
            .increment(1);
        match outcome {
            Outcome::Ack => {
                settle(raw, true).await;
                return;
            }
            Outcome::Retry { reason } if delivery.attempt >= ctx.inner.settings.max_attempts => {
                let reason = format!("gave up after {} attempts: {reason}", delivery.attempt);
                warn!(%reason, "dead-lettering");
                dead_letter(ctx, raw, &reason).await;
                return;
            }
            Outcome::Retry { reason } => {
                debug!(%reason, "retrying later");
                retry(ctx, raw, delivery.attempt + 1).await;
                return;
            }
            Outcome::DeadLetter { reason } => {
                warn!(%reason, "dead-lettering");
                dead_letter(ctx, raw, &reason).await;
                return;
            }
            Outcome::Backoff { reason } => {
                let wait = backoff::delay(holds, BACKOFF_BASE, BACKOFF_CAP);
                holds = holds.saturating_add(1);
                warn!(%reason, ?wait, "a dependency is down; holding the message");
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => {
                        settle(raw, false).await;
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                if !raw.acker.usable() {
                    // The channel is gone, so the broker hands the message out again.
                    return;
                }
            }
        }
    }
}

/// Republishes to the retry queue with the next attempt number, then acks.
async fn retry(ctx: &ConsumerCtx, raw: &AmqpDelivery, next_attempt: u32) {
    let properties = headers::with_headers(raw.properties.clone(), |table| {
        headers::put_int(table, ATTEMPT, i64::from(next_attempt));
        keep_origin(table, raw);
    });
    move_and_ack(ctx, raw, &ctx.retry_queue, properties).await;
}

/// Republishes to the dead-letter queue with the reason, then acks.
async fn dead_letter(ctx: &ConsumerCtx, raw: &AmqpDelivery, reason: &str) {
    let properties = headers::with_headers(raw.properties.clone(), |table| {
        headers::put_str(table, ERROR, reason);
        keep_origin(table, raw);
    });
    move_and_ack(ctx, raw, &ctx.dead_letter_queue, properties).await;
}

/// Records where the message was first published, unless an earlier hop already did
/// (after a retry it arrives from the default exchange).
fn keep_origin(table: &mut FieldTable, raw: &AmqpDelivery) {
    if !table.contains_key(ORIGINAL_ROUTING_KEY) {
        headers::put_str(table, ORIGINAL_EXCHANGE, raw.exchange.as_str());
        headers::put_str(table, ORIGINAL_ROUTING_KEY, raw.routing_key.as_str());
    }
}

/// The copy is confirmed before the original is acked; if it is not, the original goes
/// back to the queue, so the message is never lost (at worst handled again).
async fn move_and_ack(
    ctx: &ConsumerCtx,
    raw: &AmqpDelivery,
    queue: &str,
    properties: BasicProperties,
) {
    let copy = RawMessage {
        exchange: String::new(),
        routing_key: queue.to_owned(),
        properties,
        body: &raw.data,
    };
    match ctx.publisher.publish_raw(std::slice::from_ref(&copy)).await {
        Ok(()) => settle(raw, true).await,
        Err(error) => {
            warn!(%queue, %error, "could not move the message; requeueing it");
            settle(raw, false).await;
        }
    }
}

/// Acks, or nacks with requeue. A failure means the channel is gone: the broker
/// redelivers the message, and consumers deduplicate by message id.
async fn settle(raw: &AmqpDelivery, ack: bool) {
    let result = if ack {
        raw.acker.ack(BasicAckOptions::default()).await
    } else {
        let requeue = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        raw.acker.nack(requeue).await
    };
    if let Err(error) = result {
        warn!(%error, ack, "could not settle the delivery; the broker will redeliver it");
    }
}
