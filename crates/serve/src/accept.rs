//! The accept loop: a connection slot first (semaphore), then `accept`; transient errors
//! (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, anything unknown) back off exponentially instead of
//! spinning or ending the server; per-connection errors (`ECONNABORTED`, ...) are skipped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustix::io::Errno;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};

use crate::conn::{Driver, UnixPeer};
use crate::Stopped;

/// A listening socket the accept loop can serve: TCP or a unix-domain socket.
pub(crate) trait Listen: Send {
    /// One accepted connection with what is known about its peer.
    type Conn: Send + 'static;
    /// Accepts the next connection.
    fn accept_conn(&self) -> impl Future<Output = std::io::Result<Self::Conn>> + Send + '_;
    /// Serves one accepted connection to the end.
    fn drive(
        driver: Arc<Driver>,
        conn: Self::Conn,
        app: Router,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

impl Listen for TcpListener {
    type Conn = (TcpStream, std::net::SocketAddr);
    fn accept_conn(&self) -> impl Future<Output = std::io::Result<Self::Conn>> + Send + '_ {
        self.accept()
    }
    async fn drive(
        driver: Arc<Driver>,
        (tcp, addr): Self::Conn,
        app: Router,
        stop: watch::Receiver<bool>,
    ) {
        driver.run(tcp, addr, app, stop).await
    }
}

impl Listen for UnixListener {
    type Conn = UnixStream;
    async fn accept_conn(&self) -> std::io::Result<Self::Conn> {
        self.accept().await.map(|(s, _)| s)
    }
    async fn drive(
        driver: Arc<Driver>,
        stream: Self::Conn,
        app: Router,
        stop: watch::Receiver<bool>,
    ) {
        let peer = UnixPeer::of(&stream);
        driver.run_unix(stream, peer, app, stop).await
    }
}

/// First and longest pause after a failing `accept`.
const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Exponential backoff for a streak of failing `accept` calls.
struct Backoff {
    streak: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.streak = self.streak.saturating_add(1);
        let d = BACKOFF_MIN.saturating_mul(1u32 << self.streak.min(16).saturating_sub(1));
        d.min(BACKOFF_MAX)
    }
}

/// Errors that concern one half-open connection, not the listener.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

fn exhaustion(e: &std::io::Error) -> bool {
    matches!(
        Errno::from_io_error(e),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

pub(crate) async fn run<L: Listen>(
    listener: L,
    app: Router,
    driver: Arc<Driver>,
    cap: usize,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<Stopped> {
    let slots = Arc::new(Semaphore::new(cap));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut backoff = Backoff { streak: 0 };
    'serve: loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break 'serve,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break 'serve,
            },
        };
        let conn = loop {
            let r = tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                r = listener.accept_conn() => r,
            };
            match r {
                Ok(x) => {
                    backoff.streak = 0;
                    break x;
                }
                Err(e) if per_connection(&e) => continue,
                Err(e) => {
                    let pause = backoff.next();
                    // Log the first failure of a streak, then every 64th.
                    if backoff.streak % 64 == 1 {
                        tracing::warn!(
                            error = %e,
                            exhaustion = exhaustion(&e),
                            pause_ms = pause.as_millis() as u64,
                            "accept failed; backing off"
                        );
                    }
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break 'serve,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        };
        let (driver, app, stop) = (driver.clone(), app.clone(), stop_rx.clone());
        tokio::spawn(async move {
            L::drive(driver, conn, app, stop).await;
            drop(permit);
        });
    }
    // Stop accepting (new clients are refused instead of queueing), tell every connection to
    // finish its request and close, and wait for all slots to come back.
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(drain, slots.acquire_many(all))
        .await
        .is_ok();
    if drained {
        tracing::info!("all connections drained");
        Ok(Stopped { abandoned: 0 })
    } else {
        let abandoned = cap.saturating_sub(slots.available_permits());
        tracing::warn!(
            abandoned,
            "drain timeout: connections still open are dropped"
        );
        Ok(Stopped { abandoned })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff { streak: 0 };
        assert_eq!(b.next(), Duration::from_millis(5));
        assert_eq!(b.next(), Duration::from_millis(10));
        assert_eq!(b.next(), Duration::from_millis(20));
        for _ in 0..100 {
            assert!(b.next() <= BACKOFF_MAX);
        }
        assert_eq!(b.next(), BACKOFF_MAX);
    }

    #[test]
    fn error_classes() {
        let emfile = std::io::Error::from_raw_os_error(Errno::MFILE.raw_os_error());
        assert!(exhaustion(&emfile) && !per_connection(&emfile));
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert!(per_connection(&aborted));
    }
}
