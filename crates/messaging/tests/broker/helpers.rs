//! A broker per test, a recording handler, and polling with a deadline.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use lapin::{Connection, ConnectionProperties, options::QueueDeclareOptions, types::FieldTable};
use loopdesk_messaging::{
    Broker, BrokerSettings, Delivery, Envelope, Handler, Outcome, OutgoingMessage, Route,
};
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const BROKER_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const WAIT: Duration = Duration::from_secs(15);

pub fn settings() -> BrokerSettings {
    BrokerSettings {
        url: SecretString::from(BROKER_URL),
        prefix: format!("test{:012x}", rand::random::<u64>() >> 16),
        retry_delay_ms: 200,
        max_attempts: 3,
        reconnect_max_backoff_ms: 1_000,
        ..BrokerSettings::default()
    }
}

pub struct TestBroker {
    pub broker: Broker,
    pub shutdown: CancellationToken,
}

impl TestBroker {
    pub async fn start() -> Self {
        Self::start_with(settings()).await
    }

    pub async fn start_with(settings: BrokerSettings) -> Self {
        let shutdown = CancellationToken::new();
        let broker = Broker::start(settings, shutdown.clone());
        broker
            .wait_connected(WAIT)
            .await
            .expect("broker connection");
        Self { broker, shutdown }
    }

    /// Shuts down, waits for the consumers to drain, and deletes what the test declared.
    pub async fn stop(self, consumers: Vec<JoinHandle<()>>) {
        self.shutdown.cancel();
        for consumer in consumers {
            tokio::time::timeout(WAIT, consumer)
                .await
                .expect("consumer stops in time")
                .expect("consumer task ends cleanly");
        }
        self.broker.delete_declared_topology().await.unwrap();
    }
}

/// An event in tenant `acme`/`test` with a JSON body.
pub fn event(kind: &str, body: serde_json::Value) -> OutgoingMessage {
    OutgoingMessage::json(
        Route::Event(kind.to_owned()),
        Envelope::new(kind, "acme", "test"),
        &body,
    )
    .unwrap()
}

type Decide = dyn Fn(&Delivery, usize) -> Outcome + Send + Sync;

/// Records every call and answers with `decide(delivery, calls_so_far)`.
pub struct Recorder {
    decide: Box<Decide>,
    pub calls: Mutex<Vec<(Instant, Delivery)>>,
}

impl Recorder {
    pub fn new(decide: impl Fn(&Delivery, usize) -> Outcome + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            decide: Box::new(decide),
            calls: Mutex::new(Vec::new()),
        })
    }

    pub fn acking() -> Arc<Self> {
        Self::new(|_, _| Outcome::Ack)
    }

    pub fn calls(&self) -> Vec<Delivery> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| d.clone())
            .collect()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, delivery: &Delivery) -> Outcome {
        let previous = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((Instant::now(), delivery.clone()));
            calls.len() - 1
        };
        (self.decide)(delivery, previous)
    }
}

/// Polls `probe` every 20 ms until it yields a value; panics naming `what` after `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ready messages in `queue`, read with a passive declare over a connection of our own.
pub async fn queue_depth(queue: &str) -> u32 {
    let connection = Connection::connect(BROKER_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default().passive(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    declared.message_count()
}
