//! A TCP proxy in front of RabbitMQ that a test can cut and restore.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

const UPSTREAM: &str = "127.0.0.1:5672";

pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    up: AtomicBool,
    accepted: AtomicUsize,
    pipes: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            up: AtomicBool::new(true),
            accepted: AtomicUsize::new(0),
            pipes: Mutex::new(Vec::new()),
        });
        let accepting = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accepting.up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                accepting.accepted.fetch_add(1, Ordering::SeqCst);
                let pipe = tokio::spawn(pipe(client));
                accepting.pipes.lock().unwrap().push(pipe.abort_handle());
            }
        });
        Proxy { addr, state }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@{}/%2f", self.addr)
    }

    /// Drops every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        for pipe in self.state.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    pub fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

async fn pipe(mut client: TcpStream) {
    if let Ok(mut server) = TcpStream::connect(UPSTREAM).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}
