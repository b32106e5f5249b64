//! One connection: optional TLS handshake (with its timeout), then HTTP/1.1 with hyper's
//! header-read timeout and size limits, over an [`IdleTimeout`] stream; graceful close when the
//! stop signal arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio_rustls_ring::TlsAcceptor;

use crate::idle::IdleTimeout;
use crate::{Limits, TlsConfig};

/// hyper's own default (headers parsed on the stack); only another value is passed to hyper.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Resolves once the stop signal is set (or its sender is gone). The watch guard is dropped
/// here, not held across the caller's awaits.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The peer of a unix-socket connection as the kernel reports it (`SO_PEERCRED`), available
/// to handlers as `ConnectInfo<UnixPeer>` on [`crate::serve_unix`] servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnixPeer {
    /// The peer's user id, when the kernel reported it.
    pub uid: Option<u32>,
    /// The peer's group id.
    pub gid: Option<u32>,
    /// The peer's process id.
    pub pid: Option<i32>,
}

impl UnixPeer {
    pub(crate) fn of(s: &UnixStream) -> Self {
        match s.peer_cred() {
            Ok(c) => Self {
                uid: Some(c.uid()),
                gid: Some(c.gid()),
                pid: c.pid(),
            },
            Err(_) => Self::default(),
        }
    }
}

impl std::fmt::Display for UnixPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: Option<String>| v.unwrap_or_else(|| "?".into());
        write!(
            f,
            "unix:uid={},pid={}",
            show(self.uid.map(|u| u.to_string())),
            show(self.pid.map(|p| p.to_string()))
        )
    }
}

/// Drives accepted connections with one set of limits.
pub(crate) struct Driver {
    http: http1::Builder,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
}

impl Driver {
    pub(crate) fn new(limits: &Limits, tls: Option<Arc<TlsConfig>>) -> Arc<Self> {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            // The read buffer (headers, and body chunks) never grows past the header limit, so
            // a connection holds at most about this much memory for unparsed input.
            .max_buf_size(limits.max_header_bytes.max(Limits::MIN_HEADER_BYTES))
            .keep_alive(true)
            .half_close(false);
        if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
            http.max_headers(limits.max_headers);
        }
        Arc::new(Self {
            http,
            tls: tls.map(TlsAcceptor::from),
            handshake_timeout: limits.tls_handshake_timeout,
            idle_timeout: limits.idle_timeout,
        })
    }

    /// Serves one accepted connection to the end.
    pub(crate) async fn run(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        app: Router,
        mut stop: watch::Receiver<bool>,
    ) {
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.http(tcp, addr, app, stop).await,
            Some(acceptor) => {
                let hs = tokio::time::timeout(self.handshake_timeout, acceptor.accept(tcp));
                let tls = tokio::select! {
                    r = hs => match r {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(client = %addr, "TLS handshake timed out");
                            return;
                        }
                    },
                    () = stopped(&mut stop) => return,
                };
                self.http(tls, addr, app, stop).await
            }
        }
    }

    /// Serves one accepted unix-socket connection to the end (plain HTTP/1.1, no TLS).
    pub(crate) async fn run_unix(
        &self,
        stream: UnixStream,
        peer: UnixPeer,
        app: Router,
        stop: watch::Receiver<bool>,
    ) {
        self.http(stream, peer, app, stop).await
    }

    async fn http<I, P>(&self, io: I, addr: P, app: Router, mut stop: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        P: Clone + std::fmt::Display + Send + Sync + 'static,
    {
        let io = TokioIo::new(IdleTimeout::new(io, self.idle_timeout));
        let peer = addr.clone();
        let svc = tower::ServiceExt::map_request(app, move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer.clone()));
            req
        });
        let conn = self
            .http
            .serve_connection(io, TowerToHyperService::new(svc));
        tokio::pin!(conn);
        let r = tokio::select! {
            r = conn.as_mut() => r,
            () = stopped(&mut stop) => {
                // Finish the request in flight (if any), then close.
                conn.as_mut().graceful_shutdown();
                conn.as_mut().await
            }
        };
        if let Err(e) = r {
            // Timeouts, oversized heads and resets are the client's doing: debug, not warn, so
            // a flood cannot flood the logs too.
            tracing::debug!(client = %addr, error = %e, "connection closed with an error");
        }
    }
}
