//! A TCP proxy the test controls, to simulate broker or database outages without
//! touching the real servers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// Forwards connections from [`TcpProxy::addr`] to an upstream server until told to
/// [`cut`](TcpProxy::cut). Dropping the proxy stops it and closes its connections.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept_task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    cut: AtomicBool,
    /// Bumped on every cut; each connection task ends when it changes.
    cuts: watch::Sender<u64>,
}

impl TcpProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream`.
    ///
    /// # Panics
    ///
    /// When no local port can be bound.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot bind the test proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the test proxy has no local address: {e}"));
        let state = Arc::new(State {
            cut: AtomicBool::new(false),
            cuts: watch::Sender::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&state)));
        TcpProxy {
            addr,
            state,
            accept_task,
        }
    }

    /// Where clients should connect instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every open connection and closes new ones as soon as they are accepted.
    pub fn cut(&self) {
        // The flag first: a connection accepted concurrently either sees it, or
        // subscribed before the bump and is closed by it.
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.cuts.send_modify(|n| *n += 1);
    }

    /// Accepts and forwards new connections again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Accept errors (e.g. too many open files) are transient; keep serving.
            tokio::task::yield_now().await;
            continue;
        };
        let cut_signal = state.cuts.subscribe();
        if state.cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, cut_signal));
    }
}

async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut_signal: watch::Receiver<u64>,
) {
    let relay = async {
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return;
        };
        // Either side closing or failing ends the relay; the error itself is irrelevant
        // to a test proxy.
        let _ = copy_bidirectional(&mut client, &mut server).await;
    };
    tokio::select! {
        () = relay => {}
        // A cut, or the proxy going away (sender dropped), ends the connection.
        _ = cut_signal.changed() => {}
    }
}
