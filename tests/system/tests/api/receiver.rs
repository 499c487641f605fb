//! A real HTTP server standing in for a subscriber's webhook endpoint or a remote's
//! epilog endpoint: it answers from a script (status, delay, headers) or computes the
//! answer from the request, records every request, and verifies signatures with the
//! independent `standardwebhooks` implementation.

use std::{
    collections::{HashMap, VecDeque},
    net::TcpListener,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use loopdesk_testkit::wait_until;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Mutex;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Extra response headers.
    pub headers: Vec<(&'static str, String)>,
    /// A JSON body instead of the default text.
    pub body: Option<Value>,
}

impl Reply {
    /// An immediate answer with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: None,
        }
    }

    /// An immediate answer with `status` and a JSON `body`.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            body: Some(body),
            ..Self::status(status)
        }
    }

    /// This answer, after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// This answer with a response header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The path.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Asserts the request verifies under `secret` with the reference implementation.
    pub fn assert_signed_by(&self, secret: &str) {
        let webhook = standardwebhooks::Webhook::new(secret).unwrap();
        webhook
            .verify(&self.body, &self.headers)
            .unwrap_or_else(|e| panic!("signature does not verify under {secret}: {e:?}"));
    }
}

/// Computes an answer from the request it answers.
type Responder = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Responder>,
    seen: Vec<Received>,
    // Requests being answered right now, per webhook-id, and the most ever seen.
    in_flight: HashMap<String, usize>,
    max_in_flight_per_id: usize,
}

/// The running receiver.
pub struct Receiver {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl Receiver {
    /// Starts a receiver answering 200 until scripted otherwise.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(answer))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests with `replies`, in order, then with the default.
    pub async fn script(&self, replies: Vec<Reply>) {
        self.state.lock().await.script.extend(replies);
    }

    /// Answers with `reply` once the script is used up (200 before this is called).
    pub async fn always(&self, reply: Reply) {
        self.always_from(move |_| reply.clone()).await;
    }

    /// Answers with what `respond` computes from each request once the script is used
    /// up: for answers that echo what only the request knows (e.g. an id the caller
    /// made up after the test started).
    pub async fn always_from(&self, respond: impl Fn(&Received) -> Reply + Send + Sync + 'static) {
        let mut state = self.state.lock().await;
        state.script.clear();
        state.default = Some(Arc::new(respond));
    }

    /// Everything received so far.
    pub async fn received(&self) -> Vec<Received> {
        self.state.lock().await.seen.clone()
    }

    /// The most requests with one `webhook-id` ever answered at the same time.
    pub async fn max_in_flight_per_id(&self) -> usize {
        self.state.lock().await.max_in_flight_per_id
    }

    /// Waits until at least `n` requests arrived; answers them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        wait_until(
            Duration::from_secs(20),
            &format!("{n} webhook requests"),
            || async {
                let seen = self.received().await;
                (seen.len() >= n).then_some(seen)
            },
        )
        .await
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let reply = {
        let mut state = state.lock().await;
        let received = Received {
            at: Instant::now(),
            path: req.path().to_owned(),
            headers,
            body: body.to_vec(),
        };
        let count = state.in_flight.entry(id.clone()).or_default();
        *count += 1;
        let now = *count;
        state.max_in_flight_per_id = state.max_in_flight_per_id.max(now);
        let reply = match (state.script.pop_front(), &state.default) {
            (Some(scripted), _) => scripted,
            (None, Some(respond)) => respond(&received),
            (None, None) => Reply::status(200),
        };
        state.seen.push(received);
        reply
    };
    tokio::time::sleep(reply.delay).await;
    if let Some(count) = state.lock().await.in_flight.get_mut(&id) {
        *count -= 1;
    }
    let mut response =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in reply.headers {
        response.insert_header((name, value));
    }
    match reply.body {
        Some(body) => response.json(body),
        None => response.body(format!("answered {}", reply.status)),
    }
}
