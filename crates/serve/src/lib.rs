//! Hardened HTTP/1.1 serving for the remits servers (`remits-broker`, `remits-verifier serve`,
//! `remits-attester serve`): one accept loop and one connection driver, so every server gets
//! the same timeouts and limits.
//!
//! `axum::serve` is fine for examples but leaves hyper without a timer, so hyper's header-read
//! timeout never fires; it sets no header-size limit, no connection cap, and stops only on the
//! future it is given. [`serve`] replaces it:
//!
//! | threat | defence | knob ([`Limits`]) |
//! |---|---|---|
//! | idle or partial-header connections (slowloris) | hyper header-read timeout with a tokio timer; it also restarts when a keep-alive connection goes idle | `header_read_timeout` |
//! | huge headers | `431` and close past the limit; the read buffer never grows beyond it | `max_header_bytes`, `max_headers` |
//! | connection floods, fd exhaustion | a semaphore caps open connections below the fd limit; the accept loop waits for a free slot (the kernel backlog queues the rest) and backs off on `EMFILE`/`ENFILE` instead of spinning or exiting | `max_connections`, [`raise_fd_limit`] |
//! | TLS clients that never finish the handshake | handshake timeout | `tls_handshake_timeout` |
//! | connections that stall after the handshake, or never read the response | no byte moved in either direction for this long closes the connection | `idle_timeout` |
//! | slow bodies, slow handlers | [`request_timeout`]: the whole request (body read included) must finish in time, else `408` | set by each server |
//! | stop | SIGINT or SIGTERM ([`shutdown_signal`]): stop accepting, let in-flight requests finish, close idle connections, give up after a deadline | `drain_timeout` |
//!
//! [`serve_unix`] serves a unix-domain socket (bound with [`bind_unix`]: mode, owner, stale
//! socket removal) with the same limits; handlers see the peer's credentials as
//! `ConnectInfo<UnixPeer>` instead of `ConnectInfo<SocketAddr>`.
//!
//! Observability lives here too, so every server and command-line tool behaves the same:
//! [`log`] (one `--log-format text|json` switch, `REMITS_LOG` level, no colour off a terminal),
//! [`metrics`] (per-route latency histograms, process metrics, access logs via [`observe`]) and
//! [`stdout`] (printing that exits quietly on a closed pipe).
//!
//! HTTP/2 is not offered (the KBS protocol and the sidecar API are HTTP/1.1; ALPN says
//! `http/1.1`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
//! let app = remits_serve::request_timeout(app, std::time::Duration::from_secs(30));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = remits_serve::Limits::default();
//! remits_serve::serve(listener, app, None, &limits, remits_serve::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod accept;
#[cfg(feature = "clap")]
mod cli;
mod conn;
mod fdlimit;
mod idle;
mod limits;
pub mod log;
pub mod metrics;
mod signal;
pub mod stdout;
mod unix;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use tokio::net::{TcpListener, UnixListener};

#[cfg(feature = "clap")]
pub use cli::{parse_duration, parse_positive_duration, NetArgs};
pub use conn::UnixPeer;
pub use fdlimit::{fd_limit, raise_fd_limit, FD_RESERVE};
pub use idle::IdleTimeout;
pub use limits::{Limits, LimitsError};
#[cfg(feature = "clap")]
pub use log::LogArgs;
pub use log::{init_logging, LogFormat};
pub use metrics::{observe, HttpMetrics};
pub use signal::shutdown_signal;
pub use unix::{bind_unix, remove_socket, UnixSocketOptions};

/// The TLS server configuration type [`serve`] accepts (rustls with the ring provider, as the
/// broker builds it).
pub type TlsConfig = tokio_rustls_ring::rustls::ServerConfig;

/// How a [`serve`] run ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open when `drain_timeout` ran out (they are dropped when the runtime
    /// stops). 0 after a clean drain.
    pub abandoned: usize,
}

/// Serves `app` on `listener` (plain HTTP/1.1, or TLS when `tls` is given) with `limits` until
/// `shutdown` resolves, then drains: no new connections, in-flight requests finish, idle
/// keep-alive connections close; after `limits.drain_timeout` the remaining connections are
/// left to be dropped. Returns `Ok` in both cases (a stop is not an error).
///
/// # Errors
///
/// Only a `limits` value that fails [`Limits::validate`] (as
/// [`std::io::ErrorKind::InvalidInput`]). Accept errors never end the loop.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<TlsConfig>>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<Stopped> {
    run(listener, app, tls, limits, shutdown).await
}

/// [`serve`] on a unix-domain socket (plain HTTP/1.1; bind it with [`bind_unix`]): the same
/// header timeout, size limits, idle timeout, connection cap and drain. Handlers get
/// `ConnectInfo<UnixPeer>` (the peer's uid, gid and pid). The socket file is not removed when
/// the server stops (see [`remove_socket`]).
///
/// # Errors
///
/// Only a `limits` value that fails [`Limits::validate`].
pub async fn serve_unix(
    listener: UnixListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<Stopped> {
    run(listener, app, None, limits, shutdown).await
}

async fn run<L: accept::Listen>(
    listener: L,
    app: Router,
    tls: Option<Arc<TlsConfig>>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<Stopped> {
    limits
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let cap = limits.effective_max_connections(fd_limit());
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            effective = cap,
            fd_limit = fd_limit().unwrap_or(0),
            "max_connections lowered to stay below the open-file limit"
        );
    }
    let driver = conn::Driver::new(limits, tls);
    accept::run(listener, app, driver, cap, limits.drain_timeout, shutdown).await
}

/// Wraps `app` so that each request, including reading its body, must complete within
/// `timeout`; a slower one is answered `408 Request Timeout` (tower-http's `TimeoutLayer`, one
/// timer per request).
pub fn request_timeout(app: Router, timeout: Duration) -> Router {
    app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        timeout,
    ))
}
