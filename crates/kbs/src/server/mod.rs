//! The KBS server core: an axum [`Router`] over [`KbsState`] (store, sessions, attestation
//! backend, admin keys, clock and randomness). The broker binary only loads configuration,
//! builds the state and binds a listener ([`serve_with`]: `remits-serve`'s hardened loop).

mod handlers;
mod metrics;
pub mod pending;
pub mod sev;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use remits_evidence::clock::Clock;
use remits_store::Store;

use crate::admin::AdminVerifier;
use crate::backend::AttestationBackend;
use crate::error::Compat;
use crate::rng::RandomSource;

pub use metrics::{MeteredStore, Metrics, StoreErrors};
pub use pending::PendingChallenges;
pub use remits_serve::Limits;

/// Default cap on outstanding `/auth` challenges per broker (about 15 MiB of session records
/// in the memory store at the cap; measured in docs/broker.md).
pub const DEFAULT_MAX_PENDING_SESSIONS: usize = 100_000;

/// Behaviour switches of the server.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Lifetime of a session from `/auth` (default 5 minutes, as trustee).
    pub session_ttl: Duration,
    /// Status mapping and accepted message forms.
    pub compat: Compat,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Time limit for handling one request.
    pub request_timeout: Duration,
    /// Mark the session cookie `Secure` (set when serving TLS).
    pub secure_cookie: bool,
    /// Most `/auth` challenges outstanding at once; beyond it `/auth` answers 503 with
    /// `Retry-After` (see [`PendingChallenges`]).
    pub max_pending_sessions: usize,
    /// SEV pre-launch endpoints.
    pub sev: sev::SevSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(300),
            compat: Compat::Remits,
            max_body_bytes: 2 << 20,
            request_timeout: Duration::from_secs(30),
            secure_cookie: false,
            max_pending_sessions: DEFAULT_MAX_PENDING_SESSIONS,
            sev: sev::SevSettings::default(),
        }
    }
}

/// Everything a request handler needs.
pub struct KbsState {
    /// Attestation, token verification and policy.
    pub backend: Arc<dyn AttestationBackend>,
    /// Resources (and whatever else the backend keeps there).
    pub store: Arc<dyn Store>,
    /// Session records (the shared store for replicas, or a memory store for one broker).
    pub sessions: Arc<dyn Store>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Randomness source.
    pub rng: Arc<dyn RandomSource>,
    /// Admin JWT verification (empty = admin API disabled).
    pub admin: AdminVerifier,
    /// Switches.
    pub settings: Settings,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Outstanding `/auth` challenges (capped at `settings.max_pending_sessions`).
    pub pending: PendingChallenges,
    /// Outstanding SEV launch sessions (capped at `settings.sev.max_pending_sessions`).
    pub sev_pending: PendingChallenges,
}

/// Builds the KBS router: `/kbs/v0/{auth,attest,resource/..,resource-policy,
/// attestation-policy,reference-value}` (with the admin reads `GET /kbs/v0/resource` and
/// `GET /kbs/v0/reference-value/<id>`), the SEV pre-launch pair `/kbs/v0/sev/{session,secret}`
/// and workload registration (`/kbs/v0/sev/workload[/<id>]`, `/kbs/v0/register_workload`),
/// `/healthz` (liveness), `/readyz` (readiness: the
/// stores answer), `/metrics`. Every request is counted in `state.metrics.http` under its
/// route template and access-logged (`remits_serve::observe`).
pub fn router(state: Arc<KbsState>) -> Router {
    let limit = state.settings.max_body_bytes;
    let timeout = state.settings.request_timeout;
    let router = Router::new()
        .route("/kbs/v0/auth", post(handlers::auth))
        .route("/kbs/v0/resource", get(handlers::list_resources))
        .route(
            "/kbs/v0/reference-value/{id}",
            get(handlers::get_reference_value),
        )
        .route("/kbs/v0/attest", post(handlers::attest))
        .route(
            "/kbs/v0/resource/{*path}",
            get(handlers::get_resource)
                .post(handlers::put_resource)
                .put(handlers::put_resource)
                .delete(handlers::delete_resource),
        )
        .route(
            "/kbs/v0/resource-policy",
            post(handlers::set_resource_policy),
        )
        .route(
            "/kbs/v0/attestation-policy",
            post(handlers::set_attestation_policy),
        )
        .route(
            "/kbs/v0/reference-value",
            post(handlers::register_reference_values),
        )
        .route("/kbs/v0/sev/session", post(sev::start))
        .route("/kbs/v0/sev/secret", post(sev::secret))
        .route("/kbs/v0/sev/workload", post(sev::register_workload))
        .route(
            "/kbs/v0/sev/workload/{id}",
            get(sev::get_workload).delete(sev::delete_workload),
        )
        .route("/kbs/v0/register_workload", post(sev::register_workload))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ));
    // Outermost: counts and logs every answer, the timeout's 408 included.
    remits_serve::observe(router, state.metrics.http.clone()).with_state(state)
}

/// Serves `router` on `listener` (plain TCP or TLS) with default [`Limits`] until `shutdown`
/// resolves; see [`serve_with`].
///
/// # Errors
///
/// As [`serve_with`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls_ring::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, tls, &Limits::default(), shutdown).await
}

/// Serves `router` on `listener` (plain TCP or TLS) with `limits` (header-read, idle and TLS
/// handshake timeouts, header size, connection cap) until `shutdown` resolves, then drains
/// in-flight requests for at most `limits.drain_timeout`. `Ok` after a stop.
///
/// # Errors
///
/// The listener's I/O error; a stop is `Ok`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls_ring::ServerConfig>>,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    remits_serve::serve(listener, router, tls, limits, shutdown)
        .await
        .map(|_| ())
}
