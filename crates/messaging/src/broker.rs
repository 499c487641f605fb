//! One supervised broker connection per process, shared by publishers and consumers.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use lapin::{
    Channel, Connection, ConnectionProperties, ExchangeKind,
    options::{ExchangeDeclareOptions, ExchangeDeleteOptions, QueueDeleteOptions},
    types::FieldTable,
    uri::AMQPUri,
};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{debug, info, warn};

use crate::{
    config::BrokerSettings, error::MessagingError, headers::short, names::Names,
    publisher::Publisher, supervisor,
};

/// The live connection, tagged so its users can tell a new one from the one that died.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) connection: Arc<Connection>,
    pub(crate) generation: u64,
}

/// The state shared by every clone of a [`Broker`] and the tasks it feeds.
pub(crate) struct Inner {
    pub(crate) settings: BrokerSettings,
    pub(crate) names: Names,
    pub(crate) shutdown: CancellationToken,
    pub(crate) link: watch::Sender<Option<Link>>,
    /// The publishing channel (confirm mode) of the current connection generation.
    pub(crate) publish_channel: tokio::sync::Mutex<Option<(u64, Channel)>>,
    /// Consumers and their in-flight handlers: the connection stays open until they finish.
    pub(crate) workers: TaskTracker,
    declared: Mutex<Declared>,
}

#[derive(Default)]
struct Declared {
    exchanges: BTreeSet<String>,
    queues: BTreeSet<String>,
}

/// A handle on the process's broker connection. Clones share the connection.
///
/// The connection is supervised: it is (re)established with exponential backoff and
/// jitter, the exchanges are re-declared after every reconnect, and consumers started
/// with [`crate::spawn_consumer`] re-declare their queues and consume again.
#[derive(Clone)]
pub struct Broker {
    pub(crate) inner: Arc<Inner>,
}

impl Broker {
    /// Spawns the connection supervisor (connects with exponential backoff + jitter,
    /// re-declares the topology after every reconnect, reconnects when the connection
    /// drops). Does not block. Must be called inside a Tokio runtime.
    ///
    /// When `shutdown` is cancelled, the supervisor waits (up to 30 s) for the consumers
    /// to finish their in-flight messages, then closes the connection.
    pub fn start(settings: BrokerSettings, shutdown: CancellationToken) -> Broker {
        let (link, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            names: Names::new(settings.prefix.clone()),
            settings,
            shutdown,
            link,
            publish_channel: tokio::sync::Mutex::new(None),
            workers: TaskTracker::new(),
            declared: Mutex::new(Declared::default()),
        });
        tokio::spawn(supervisor::run(inner.clone()));
        Broker { inner }
    }

    /// Waits until the connection is up (and the exchanges declared), at most `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), MessagingError> {
        let mut link = self.inner.link.subscribe();
        let connected = tokio::time::timeout(timeout, link.wait_for(is_live)).await;
        match connected {
            Ok(Ok(_)) => Ok(()),
            _ => Err(MessagingError::NotConnected(timeout)),
        }
    }

    /// True while the connection is up (used by `/readyz`).
    pub fn is_connected(&self) -> bool {
        is_live(&self.inner.link.borrow())
    }

    /// The exchange and queue names under this broker's prefix.
    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    /// The settings this broker was started with.
    pub fn settings(&self) -> &BrokerSettings {
        &self.inner.settings
    }

    /// The token that stops this broker and its consumers.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// A publisher on this connection (cheap, clonable).
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.inner.clone())
    }

    /// Test/ops helper: deletes every exchange and queue this Broker declared (per-test
    /// teardown). Works after shutdown too, over a short-lived connection of its own.
    pub async fn delete_declared_topology(&self) -> Result<(), MessagingError> {
        let (exchanges, queues) = {
            let declared = self.inner.declared_guard();
            (declared.exchanges.clone(), declared.queues.clone())
        };
        // After shutdown the supervisor closes its connection at any moment: use our own.
        let shared = self
            .current_link()
            .filter(|_| !self.inner.shutdown.is_cancelled());
        let (connection, own_connection) = match shared {
            Some(link) => (link.connection, false),
            None => (Arc::new(self.connect_once().await?), true),
        };
        let result = delete_all(&connection, &exchanges, &queues).await;
        if own_connection {
            let _ = connection.close(200, "teardown done".into()).await;
        }
        result?;
        let mut declared = self.inner.declared_guard();
        declared.exchanges.retain(|name| !exchanges.contains(name));
        declared.queues.retain(|name| !queues.contains(name));
        Ok(())
    }

    /// The current connection when it is up.
    pub(crate) fn current_link(&self) -> Option<Link> {
        self.inner.current_link()
    }

    /// A plain connection outside supervision, for one-off work.
    async fn connect_once(&self) -> Result<Connection, MessagingError> {
        let uri = self.inner.parse_url()?;
        Ok(Connection::connect_uri(uri, self.inner.connection_properties()).await?)
    }
}

impl Inner {
    pub(crate) fn current_link(&self) -> Option<Link> {
        self.link
            .borrow()
            .clone()
            .filter(|link| link.connection.status().connected())
    }

    /// Waits for a live connection other than one already seen dead; `None` on shutdown.
    pub(crate) async fn next_link(&self, rx: &mut watch::Receiver<Option<Link>>) -> Option<Link> {
        tokio::select! {
            _ = self.shutdown.cancelled() => None,
            link = rx.wait_for(is_live) => link.ok().and_then(|link| link.clone()),
        }
    }

    pub(crate) fn parse_url(&self) -> Result<AMQPUri, MessagingError> {
        self.settings
            .url
            .expose_secret()
            .parse::<AMQPUri>()
            .map_err(|_| MessagingError::InvalidUrl)
    }

    pub(crate) fn connection_properties(&self) -> ConnectionProperties {
        ConnectionProperties::default()
            .with_connection_name(format!("loopdesk:{}", self.settings.prefix).into())
    }

    /// Declares the two exchanges (durable; commands direct, events topic).
    pub(crate) async fn declare_exchanges(&self, channel: &Channel) -> Result<(), MessagingError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for (name, kind) in [
            (self.names.commands_exchange(), ExchangeKind::Direct),
            (self.names.events_exchange(), ExchangeKind::Topic),
        ] {
            let amqp_name = amqp_name(&name)?;
            self.remember_exchange(&name);
            channel
                .exchange_declare(amqp_name, kind, durable, FieldTable::default())
                .await?;
        }
        Ok(())
    }

    pub(crate) fn remember_exchange(&self, name: &str) {
        self.declared_guard().exchanges.insert(name.to_owned());
    }

    pub(crate) fn remember_queue(&self, name: &str) {
        self.declared_guard().queues.insert(name.to_owned());
    }

    fn declared_guard(&self) -> std::sync::MutexGuard<'_, Declared> {
        // The sets stay consistent even if a holder panicked: every write is one insert.
        self.declared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn is_live(link: &Option<Link>) -> bool {
    link.as_ref()
        .is_some_and(|link| link.connection.status().connected())
}

/// A queue or exchange name as AMQP wants it.
pub(crate) fn amqp_name(name: &str) -> Result<lapin::types::ShortString, MessagingError> {
    short("name", name)
        .map_err(|error| MessagingError::InvalidName(name.to_owned(), error.to_string()))
}

async fn delete_all(
    connection: &Connection,
    exchanges: &BTreeSet<String>,
    queues: &BTreeSet<String>,
) -> Result<(), MessagingError> {
    let mut channel = connection.create_channel().await?;
    let mut first_error = None;
    for queue in queues {
        let result = channel
            .queue_delete(amqp_name(queue)?, QueueDeleteOptions::default())
            .await;
        if let Err(error) = result {
            debug!(%queue, %error, "could not delete queue");
            first_error.get_or_insert(error);
            // A failed operation closes the channel; carry on with a fresh one.
            channel = connection.create_channel().await?;
        }
    }
    for exchange in exchanges {
        let result = channel
            .exchange_delete(amqp_name(exchange)?, ExchangeDeleteOptions::default())
            .await;
        if let Err(error) = result {
            debug!(%exchange, %error, "could not delete exchange");
            first_error.get_or_insert(error);
            channel = connection.create_channel().await?;
        }
    }
    let _ = channel.close(200, "teardown done".into()).await;
    match first_error {
        None => {
            info!(
                queues = queues.len(),
                exchanges = exchanges.len(),
                "deleted declared topology"
            );
            Ok(())
        }
        Some(error) => {
            warn!(%error, "teardown left some topology behind");
            Err(error.into())
        }
    }
}
