//! Connections: accepted sockets get `TCP_NODELAY` and TCP keepalive; a client that connects and
//! says nothing is disconnected after the idle timeout; an HTTP/2 client that stops answering the
//! server's pings is disconnected after the keepalive timeout.

use std::time::Duration;

use futures::StreamExt as _;
use kcn_ledger::Config;
use kcn_ledger::connections::{self, ConnectionOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::TestServer;

/// Starts a server on a fresh SQLite file with its configuration changed by `configure`.
async fn start(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_configured(tempfile::tempdir().unwrap(), None, configure).await
}

#[tokio::test]
async fn accepted_sockets_get_nodelay_and_tcp_keepalive() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ConnectionOptions::from_config(&Config::default());
    let mut incoming = Box::pin(connections::incoming(listener, &options));
    let _client = TcpStream::connect(addr).await.unwrap();
    let accepted = incoming.next().await.unwrap().unwrap();
    assert!(accepted.get_ref().nodelay().unwrap(), "TCP_NODELAY is set");
    let socket = socket2::SockRef::from(accepted.get_ref());
    assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE is set");
    #[cfg(target_os = "linux")]
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(60)
    );

    // Turned off, the options are left as the system has them.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ConnectionOptions::from_config(&Config {
        tcp_nodelay: false,
        tcp_keepalive_seconds: 0,
        ..Config::default()
    });
    let mut incoming = Box::pin(connections::incoming(listener, &options));
    let _client = TcpStream::connect(addr).await.unwrap();
    let accepted = incoming.next().await.unwrap().unwrap();
    assert!(!accepted.get_ref().nodelay().unwrap());
    assert!(
        !socket2::SockRef::from(accepted.get_ref())
            .keepalive()
            .unwrap()
    );
}

/// Reads until the server closes the connection (end of file or a reset), and returns what it
/// sent; `None` when it is still open at the deadline.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let reading = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(deadline, reading).await.ok()?;
    Some(received)
}

#[tokio::test]
async fn a_client_that_connects_and_says_nothing_is_disconnected_after_the_idle_timeout() {
    let server = start(|c| c.connection_idle_timeout_seconds = 1).await;
    let mut silent = TcpStream::connect(server.running.as_ref().unwrap().addr)
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(15))
            .await
            .is_some(),
        "the silent connection is still open"
    );
    server.stop().await;
}

/// An HTTP/2 frame header: length, type, flags, stream id.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 0];
    out.extend_from_slice(payload);
    out
}

const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// The types of the frames in `bytes` (whole frames only).
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        types.push(rest[3]);
        rest = &rest[(9 + len).min(rest.len())..];
    }
    types
}

#[tokio::test]
async fn an_http2_client_that_stops_answering_pings_is_disconnected() {
    // The idle timeout is far away: only the unanswered ping can close this connection.
    let server = start(|c| {
        c.http2_keepalive_interval_seconds = 1;
        c.http2_keepalive_timeout_seconds = 1;
        c.connection_idle_timeout_seconds = 600;
    })
    .await;
    let mut client = TcpStream::connect(server.running.as_ref().unwrap().addr)
        .await
        .unwrap();
    // A well-formed start: the preface and empty settings, then the server's settings
    // acknowledged. After that the client never answers anything.
    client
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    client.write_all(&frame(SETTINGS, 0, &[])).await.unwrap();
    client.write_all(&frame(SETTINGS, ACK, &[])).await.unwrap();
    let received = read_until_closed(&mut client, Duration::from_secs(15))
        .await
        .expect("the server keeps a connection whose pings go unanswered");
    let types = frame_types(&received);
    assert!(
        types.contains(&PING),
        "the server pinged before closing: {types:?}"
    );
    server.stop().await;
}
