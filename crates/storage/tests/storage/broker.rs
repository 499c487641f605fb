//! A broker under a fresh prefix, with a consumer that records what it receives.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use loopdesk_messaging::{
    Binding, Broker, BrokerSettings, ConsumerSpec, Delivery, Envelope, Handler, Outcome,
    OutgoingMessage, Route, spawn_consumer,
};
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, unique};

/// Kind of the messages sent to check that the consumer's queue is bound.
const PROBE: &str = "probe.ping";

/// Records deliveries, probes excepted.
#[derive(Default)]
pub struct Collector {
    received: Mutex<Vec<Delivery>>,
}

#[async_trait::async_trait]
impl Handler for Collector {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        if delivery.envelope.kind != PROBE {
            self.received.lock().unwrap().push(delivery.clone());
        }
        Outcome::Ack
    }
}

impl Collector {
    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().unwrap().clone()
    }

    /// How many times each message id arrived.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for delivery in self.received.lock().unwrap().iter() {
            *counts
                .entry(delivery.envelope.message_id.clone())
                .or_default() += 1;
        }
        counts
    }
}

pub struct TestBroker {
    pub broker: Broker,
    pub collector: Arc<Collector>,
    shutdown: CancellationToken,
}

impl TestBroker {
    /// A connected broker and a consumer bound to the events matching `pattern`, ready
    /// (a probe event has been routed to it).
    pub async fn start(pattern: &str) -> TestBroker {
        let shutdown = CancellationToken::new();
        let settings = BrokerSettings {
            prefix: format!("ld_storage_{}", unique()),
            publish_timeout_ms: 10_000,
            ..BrokerSettings::default()
        };
        let broker = Broker::start(settings, shutdown.clone());
        broker
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        let collector = Arc::new(Collector::default());
        let spec = ConsumerSpec {
            prefetch: Some(200),
            concurrency: 16,
            ..ConsumerSpec::new("collector", vec![Binding::Event(pattern.to_owned())])
        };
        spawn_consumer(&broker, spec, collector.clone());

        let publisher = broker.publisher();
        let probe_key = pattern.replace(['#', '*'], "probe");
        eventually(
            Duration::from_secs(10),
            "the consumer's queue to be bound",
            || {
                let publisher = publisher.clone();
                let probe = OutgoingMessage {
                    route: Route::Event(probe_key.clone()),
                    envelope: Envelope::new(PROBE, "acme", "test"),
                    body: b"{}".to_vec(),
                };
                async move { publisher.publish(&probe).await.ok() }
            },
        )
        .await;
        TestBroker {
            broker,
            collector,
            shutdown,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        // Deleting while the consumer still runs would have it re-declare its queue; a
        // closing connection refuses the deletes: wait until it is closed.
        let broker = self.broker.clone();
        eventually(Duration::from_secs(30), "the broker to disconnect", || {
            let connected = broker.is_connected();
            async move { (!connected).then_some(()) }
        })
        .await;
        self.broker.delete_declared_topology().await.unwrap();
    }
}

/// An event with every envelope field set, stamped in the past (to see it is kept).
pub fn event(routing_key: &str, n: usize) -> OutgoingMessage {
    let timestamp: DateTime<Utc> = "2024-05-06T07:08:09.123Z".parse().unwrap();
    let mut envelope = Envelope::new(routing_key, "acme", "test");
    envelope.correlation_id = Some(format!("corr-{n}"));
    envelope.timestamp = timestamp;
    envelope.schema_version = 3;
    envelope.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
    envelope.tracestate = Some("vendor=x".into());
    OutgoingMessage {
        route: Route::Event(routing_key.to_owned()),
        envelope,
        body: format!("{{\"n\":{n}}}").into_bytes(),
    }
}
