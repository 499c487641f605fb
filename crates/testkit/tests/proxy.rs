#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The proxy forwards, cuts and restores, against a tiny echo server.

use std::{net::SocketAddr, time::Duration};

use loopdesk_testkit::TcpProxy;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};

const DEADLINE: Duration = Duration::from_secs(5);

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

async fn echoes(stream: &mut TcpStream, message: &[u8]) -> bool {
    if stream.write_all(message).await.is_err() {
        return false;
    }
    let mut buf = vec![0; message.len()];
    matches!(timeout(DEADLINE, stream.read_exact(&mut buf)).await, Ok(Ok(_)) if buf == message)
}

/// True when the peer closed the connection (EOF or reset) before the deadline.
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 16];
    match timeout(DEADLINE, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn forwards_to_the_upstream() {
    let proxy = TcpProxy::start(echo_server().await).await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut client, b"ping").await);
    assert!(echoes(&mut client, b"pong").await);
}

#[tokio::test]
async fn cut_closes_open_connections_and_refuses_new_ones_until_restored() {
    let proxy = TcpProxy::start(echo_server().await).await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut open, b"before").await);

    proxy.cut();
    assert!(
        is_closed(&mut open).await,
        "the open connection survived the cut"
    );

    // The listener still accepts, as a dead server's port might, but closes at once.
    let mut during = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(!echoes(&mut during, b"during").await);

    proxy.restore();
    let mut after = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut after, b"after").await);
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_connections() {
    let proxy = TcpProxy::start(echo_server().await).await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    assert!(echoes(&mut open, b"hello").await);
    drop(proxy);
    assert!(is_closed(&mut open).await);
}
