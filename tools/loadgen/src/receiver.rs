//! The webhook receiver: a local HTTP server that verifies each delivery's Standard
//! Webhooks signature and records when each event arrived.

use std::{
    collections::HashMap,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Instant,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

/// One verified delivery.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// The ticket the event is about.
    pub ticket_id: String,
    /// When the event was committed (its `created_at`).
    pub committed_at: chrono::DateTime<chrono::Utc>,
    /// When it arrived here.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// Which endpoint path received it.
    pub path: String,
}

#[derive(Default)]
struct Inner {
    /// Secret (decoded) per endpoint path.
    secrets: HashMap<String, Vec<u8>>,
    arrivals: Vec<Arrival>,
    rejected: u64,
}

/// Shared view of the receiver.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub base_url: String,
    handle: ServerHandle,
}

impl Receiver {
    /// Starts listening on a free local port.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner::default()));
        let notify = Arc::new(Notify::new());
        let state = web::Data::new((inner.clone(), notify.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                .default_service(web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            inner,
            notify,
            base_url,
            handle,
        })
    }

    /// Registers the secret (`whsec_...`) deliveries to `path` are signed with.
    pub fn expect(&self, path: &str, secret: &str) -> anyhow::Result<()> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD.decode(encoded)?;
        self.lock().secrets.insert(path.to_owned(), key);
        Ok(())
    }

    /// Verified arrivals so far.
    pub fn count(&self) -> usize {
        self.lock().arrivals.len()
    }

    /// Deliveries whose signature did not verify.
    pub fn rejected(&self) -> u64 {
        self.lock().rejected
    }

    /// Every arrival so far (and forgets them).
    pub fn take(&self) -> Vec<Arrival> {
        std::mem::take(&mut self.lock().arrivals)
    }

    /// Waits until at least `n` arrivals or the deadline; returns the count.
    pub async fn wait_for(
        &self,
        n: usize,
        deadline: Instant,
        mut progress: impl FnMut(usize),
    ) -> usize {
        loop {
            let count = self.count();
            progress(count);
            if count >= n || Instant::now() >= deadline {
                return count;
            }
            let wait = self.notify.notified();
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), wait).await;
        }
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type State = (Arc<Mutex<Inner>>, Arc<Notify>);

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let received_at = chrono::Utc::now();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, timestamp, signatures) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let path = req.path().to_owned();
    let (inner, notify) = state.get_ref();
    let key = inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .secrets
        .get(&path)
        .cloned();
    let verified = key.is_some_and(|key| verify(&key, id, timestamp, &body, signatures));
    let event: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let arrival = event.filter(|_| verified).and_then(|e| {
        Some(Arrival {
            ticket_id: e["data"]["ticket"]["id"]
                .as_str()
                .or(e["data"]["ticket_id"].as_str())?
                .to_owned(),
            committed_at: e["created_at"].as_str()?.parse().ok()?,
            received_at,
            path: path.clone(),
        })
    });
    let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
    match arrival {
        Some(arrival) => {
            guard.arrivals.push(arrival);
            drop(guard);
            notify.notify_waiters();
            HttpResponse::NoContent().finish()
        }
        None => {
            guard.rejected += 1;
            HttpResponse::BadRequest().finish()
        }
    }
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, any of
/// the space-separated signatures may match.
fn verify(key: &[u8], id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_vector_verifies() {
        let key = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_default();
        let body = br#"{"test": 2432232314}"#;
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            good
        ));
        assert!(verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            &format!("v1,bad {good}")
        ));
        assert!(!verify(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265331",
            body,
            good
        ));
    }
}
