//! How the server treats its connections: socket options on every accepted TCP stream
//! (`TCP_NODELAY`, TCP keepalive) and an idle timeout that closes a connection whose client has
//! gone silent. HTTP/2 keepalive pings are set on the server builder ([`ConnectionOptions::apply`]).
//!
//! The server is served from a listener the caller binds (so that tests can bind `127.0.0.1:0`),
//! and tonic's own TCP options apply only to listeners it binds itself: they are set here on each
//! accepted stream instead.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, TryStreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use crate::Config;

/// The connection settings of [`Config`], as durations (`None`: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionOptions {
    pub nodelay: bool,
    pub tcp_keepalive: Option<Duration>,
    pub http2_keepalive_interval: Option<Duration>,
    pub http2_keepalive_timeout: Duration,
    pub idle_timeout: Option<Duration>,
}

/// Zero seconds means "off" in the configuration.
fn seconds(s: u64) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s))
}

impl ConnectionOptions {
    /// The options the configuration asks for.
    pub fn from_config(config: &Config) -> Self {
        Self {
            nodelay: config.tcp_nodelay,
            tcp_keepalive: seconds(config.tcp_keepalive_seconds),
            http2_keepalive_interval: seconds(config.http2_keepalive_interval_seconds),
            http2_keepalive_timeout: Duration::from_secs(config.http2_keepalive_timeout_seconds),
            idle_timeout: seconds(config.connection_idle_timeout_seconds),
        }
    }

    /// Sets the HTTP/2 keepalive pings: a client that does not answer one within the timeout
    /// (a half-open connection, a peer that vanished) is disconnected.
    pub fn apply<L>(&self, builder: tonic::transport::Server<L>) -> tonic::transport::Server<L> {
        builder
            .http2_keepalive_interval(self.http2_keepalive_interval)
            .http2_keepalive_timeout(Some(self.http2_keepalive_timeout))
    }
}

/// The accepted connections of `listener`, each with the socket options and idle timeout of
/// `options`: what the gRPC server is served from.
pub fn incoming(
    listener: TcpListener,
    options: &ConnectionOptions,
) -> impl Stream<Item = io::Result<Connection>> + use<> {
    let idle = options.idle_timeout;
    TcpIncoming::from(listener)
        .with_nodelay(Some(options.nodelay))
        .with_keepalive(options.tcp_keepalive)
        .map_ok(move |stream| Connection::new(stream, idle))
}

/// An accepted TCP stream that fails its reads once the client has sent nothing for the idle
/// timeout, so that the HTTP/2 connection on it is dropped and its socket closed.
///
/// Only bytes from the client count: a live HTTP/2 client answers the server's keepalive pings,
/// so with pings more frequent than the idle timeout only a client that is silent (one that
/// connected and never spoke HTTP/2, or stopped answering) reaches it.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
}

impl Connection {
    fn new(stream: TcpStream, idle: Option<Duration>) -> Self {
        Self {
            stream,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
        }
    }

    /// The accepted socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let Some((idle, deadline)) = &mut this.idle else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                deadline.as_mut().reset(Instant::now() + *idle);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client sent nothing for {idle:?}"),
                ))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
