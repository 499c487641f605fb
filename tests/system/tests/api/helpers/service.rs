//! Starting one service in-process, and keeping what it takes to stop it again.

use std::{collections::HashMap, time::Duration};

use loopdesk_messaging::Broker;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Environment variables a service's settings are loaded from.
pub(super) type Vars = HashMap<String, String>;

/// Everything a test started, for its teardown.
#[derive(Default)]
pub(super) struct Running {
    /// Broker connections, whose declared topology is deleted at the end.
    pub(super) brokers: Vec<Broker>,
    /// What stops each service (and the test's own broker connection).
    pub(super) stops: Vec<CancellationToken>,
    /// The services' tasks.
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts an `S` from `vars` and waits until it reaches the broker; answers its base
    /// URL and its shutdown token.
    pub(super) async fn start<S: Service>(&mut self, vars: &Vars) -> (String, CancellationToken) {
        let service = S::build(vars.clone()).await;
        service
            .broker()
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{} reaches the broker: {e:?}", S::NAME));
        let url = format!("http://127.0.0.1:{}", service.port());
        let stop = service.shutdown_token();
        self.keep(service.broker().clone(), stop.clone());
        self.tasks.push(tokio::spawn(service.run()));
        (url, stop)
    }

    /// Keeps a broker connection to clean up after, and the token that stops its owner.
    pub(super) fn keep(&mut self, broker: Broker, stop: CancellationToken) {
        self.brokers.push(broker);
        self.stops.push(stop);
    }
}

/// A test that panics never reaches its teardown: its queues would stay on the broker,
/// each holding file handles, until a few hundred of them exhaust it. Whatever the
/// teardown did not take is stopped and its queues deleted here, on a thread of its own
/// (this runs while the test's runtime unwinds, where nothing can be awaited).
impl Drop for Running {
    fn drop(&mut self) {
        if self.brokers.is_empty() {
            return;
        }
        for stop in &self.stops {
            stop.cancel();
        }
        let brokers = std::mem::take(&mut self.brokers);
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                for broker in &brokers {
                    let deleted = broker.delete_declared_topology();
                    let _ = tokio::time::timeout(Duration::from_secs(10), deleted).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A service crate's `Application`: the five are alike, but share no type.
pub(super) trait Service: Sized {
    /// The service, in failure messages.
    const NAME: &'static str;

    /// Loads the settings from `vars` and builds the service.
    async fn build(vars: Vars) -> Self;

    /// The HTTP port it listens on.
    fn port(&self) -> u16;

    /// Its broker connection.
    fn broker(&self) -> &Broker;

    /// Cancelling it is what SIGTERM does.
    fn shutdown_token(&self) -> CancellationToken;

    /// Serves until the shutdown token is cancelled.
    fn run(self) -> impl Future<Output = ()> + Send + 'static;
}

macro_rules! service {
    ($krate:ident, $name:literal) => {
        impl Service for $krate::Application {
            const NAME: &'static str = $name;

            async fn build(vars: Vars) -> Self {
                let settings =
                    $krate::Settings::load_with_vars(vars).expect(concat!($name, " settings"));
                $krate::Application::build(settings)
                    .await
                    .expect(concat!($name, " starts"))
            }

            fn port(&self) -> u16 {
                $krate::Application::port(self)
            }

            fn broker(&self) -> &Broker {
                $krate::Application::broker(self)
            }

            fn shutdown_token(&self) -> CancellationToken {
                $krate::Application::shutdown_token(self)
            }

            fn run(self) -> impl Future<Output = ()> + Send + 'static {
                async move {
                    let _ = self.run_until_stopped().await;
                }
            }
        }
    };
}

service!(ticket_service, "ticket service");
service!(intervention_service, "intervention-service");
service!(epilog_dispatcher, "epilog-dispatcher");
service!(webhook_fanout, "webhook-fanout");
service!(api_gateway, "gateway");
