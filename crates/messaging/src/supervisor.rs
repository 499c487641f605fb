//! The task that keeps one broker connection alive.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use lapin::{Connection, Event, uri::AMQPUri};
use tracing::{error, info, warn};

use crate::{
    backoff,
    broker::{Inner, Link},
    error::MessagingError,
};

const RECONNECT_BASE: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the connection status is checked besides lapin's error events.
const STATUS_POLL: Duration = Duration::from_millis(200);
/// How long shutdown waits for consumers to finish their in-flight messages.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

enum Ended {
    Lost,
    Shutdown,
}

/// Connects, publishes the connection to the broker's users, waits for it to drop,
/// and starts over with backoff, until shutdown.
pub(crate) async fn run(inner: Arc<Inner>) {
    let uri = match inner.parse_url() {
        Ok(uri) => uri,
        Err(error) => {
            error!(%error, "the broker supervisor cannot start");
            return;
        }
    };
    // The URL holds a password: logs only ever name host, port and vhost.
    let target = format!(
        "{}:{}/{}",
        uri.authority.host, uri.authority.port, uri.vhost
    );
    let cap = Duration::from_millis(inner.settings.reconnect_max_backoff_ms);
    let mut failures = 0u32;
    let mut generation = 0u64;

    while !inner.shutdown.is_cancelled() {
        match connect(&inner, uri.clone()).await {
            Ok(connection) => {
                failures = 0;
                generation += 1;
                let connection = Arc::new(connection);
                info!(broker = %target, generation, "connected to the broker");
                inner.link.send_replace(Some(Link {
                    connection: connection.clone(),
                    generation,
                }));
                match watch(&inner, &connection).await {
                    Ended::Shutdown => {
                        drain(&inner).await;
                        inner.link.send_replace(None);
                        inner.publish_channel.lock().await.take();
                        let _ = connection.close(200, "shutting down".into()).await;
                        info!(broker = %target, "closed the broker connection");
                        return;
                    }
                    Ended::Lost => {
                        inner.link.send_replace(None);
                        warn!(broker = %target, generation, "lost the broker connection; reconnecting");
                    }
                }
            }
            Err(error) => {
                warn!(broker = %target, %error, failures, "cannot connect to the broker");
            }
        }
        let wait = backoff::delay(failures, RECONNECT_BASE, cap);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = inner.shutdown.cancelled() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    inner.link.send_replace(None);
}

async fn connect(inner: &Inner, uri: AMQPUri) -> Result<Connection, MessagingError> {
    let connecting = Connection::connect_uri(uri, inner.connection_properties());
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| MessagingError::NotConnected(CONNECT_TIMEOUT))??;
    let declared = async {
        let channel = connection.create_channel().await?;
        inner.declare_exchanges(&channel).await?;
        let _ = channel.close(200, "exchanges declared".into()).await;
        Ok::<_, MessagingError>(())
    };
    if let Err(error) = declared.await {
        let _ = connection.close(320, "topology failed".into()).await;
        return Err(error);
    }
    Ok(connection)
}

/// Returns when the connection drops or shutdown is asked for.
async fn watch(inner: &Inner, connection: &Connection) -> Ended {
    let mut events = connection.events_listener();
    let mut poll = tokio::time::interval(STATUS_POLL);
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return Ended::Shutdown,
            event = events.next() => match event {
                Some(Event::Error(error)) => {
                    warn!(%error, "broker connection error");
                    return Ended::Lost;
                }
                Some(Event::ConnectionBlocked(reason)) => warn!(%reason, "the broker blocked publishing"),
                Some(Event::ConnectionUnblocked) => info!("the broker unblocked publishing"),
                Some(_) => {}
                None => return Ended::Lost,
            },
            _ = poll.tick() => {
                if !connection.status().connected() {
                    return Ended::Lost;
                }
            }
        }
    }
}

/// Lets consumers finish their in-flight messages (they ack over this connection).
async fn drain(inner: &Inner) {
    inner.workers.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, inner.workers.wait())
        .await
        .is_err()
    {
        warn!(
            still_running = inner.workers.len(),
            "consumers did not finish in time; closing the connection anyway"
        );
    }
}
