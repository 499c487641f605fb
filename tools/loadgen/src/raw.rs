//! The machine's own limits, measured the way Loopdesk uses the engines: single-row
//! PostgreSQL insert commits, and persistent confirmed publishes consumed with acks from
//! a quorum queue.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::sql_query;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use loopdesk_messaging::{
    Binding, Broker, BrokerSettings, ConsumerSpec, Delivery, Envelope, Handler, Outcome,
    OutgoingMessage, Route, declare_consumer, spawn_consumer,
};
use tokio_util::sync::CancellationToken;

/// Insert commits per second with `connections` connections for `duration`.
pub async fn postgres_commits(
    database_url: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    // In here only: its blanket `load` would shadow the atomics' elsewhere.
    use diesel_async::RunQueryDsl;

    let table = format!("bench_raw_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut admin = AsyncPgConnection::establish(database_url).await?;
    sql_query(format!(
        "CREATE UNLOGGED TABLE IF NOT EXISTS public.{table}_probe (x int)"
    ))
    .execute(&mut admin)
    .await?;
    sql_query(format!("DROP TABLE public.{table}_probe"))
        .execute(&mut admin)
        .await?;
    // A logged table with a primary key and a payload, like an outbox row.
    sql_query(format!(
        "CREATE TABLE public.{table} (id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    ))
    .execute(&mut admin)
    .await?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let url = database_url.to_owned();
        let table = table.clone();
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            let insert = format!("INSERT INTO public.{table} (payload) VALUES ('{{\"k\": 1}}')");
            while Instant::now() < deadline {
                sql_query(&insert).execute(&mut conn).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    sql_query(format!("DROP TABLE public.{table}"))
        .execute(&mut admin)
        .await?;
    Ok(AtomicU64::load(&done, Ordering::Relaxed) as f64 / elapsed)
}

struct Count(Arc<AtomicU64>);

#[async_trait::async_trait]
impl Handler for Count {
    async fn handle(&self, _: &Delivery) -> Outcome {
        self.0.fetch_add(1, Ordering::Relaxed);
        Outcome::Ack
    }
}

/// Messages per second through one quorum queue: `publishers` tasks publish persistent
/// messages with confirms (in batches of 100) while a consumer acks them, for `duration`.
pub async fn rabbitmq_throughput(
    amqp_url: &str,
    publishers: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let shutdown = CancellationToken::new();
    let prefix = format!("bench_{}", ulid::Ulid::new().to_string().to_lowercase());
    let broker = Broker::start(
        BrokerSettings {
            url: amqp_url.to_owned().into(),
            prefix,
            prefetch: 256,
            ..BrokerSettings::default()
        },
        shutdown.clone(),
    );
    broker.wait_connected(Duration::from_secs(10)).await?;
    let spec = ConsumerSpec {
        name: "raw".into(),
        bindings: vec![Binding::Command("bench.raw".into())],
        prefetch: Some(256),
        concurrency: 64,
    };
    declare_consumer(&broker, &spec).await?;
    let consumed = Arc::new(AtomicU64::new(0));
    spawn_consumer(&broker, spec, Arc::new(Count(consumed.clone())));

    let deadline = Instant::now() + duration;
    let published = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..publishers {
        let publisher = broker.publisher();
        let published = published.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let batch: Vec<OutgoingMessage> = (0..100)
                    .map(|_| OutgoingMessage {
                        route: Route::Command("bench.raw".into()),
                        envelope: Envelope::new("bench.raw", "bench", "test"),
                        body: br#"{"ticket":{"subject":"a typical command body of a few hundred bytes"}}"#.to_vec(),
                    })
                    .collect();
                publisher.publish_all(&batch).await?;
                published.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let started = Instant::now();
    for task in tasks {
        task.await??;
    }
    let target = published.load(Ordering::Relaxed);
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while consumed.load(Ordering::Relaxed) < target && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = consumed.load(Ordering::Relaxed) as f64 / elapsed;
    let _ = broker.delete_declared_topology().await;
    shutdown.cancel();
    Ok(rate)
}
