//! The KBS server core: an axum [`Router`] over [`KbsState`] (store, sessions, attestation
//! backend, admin keys, clock and randomness). The broker binary only loads configuration,
//! builds the state and binds a listener ([`serve`]).

mod handlers;
mod metrics;
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

pub use metrics::Metrics;

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(300),
            compat: Compat::Remits,
            max_body_bytes: 2 << 20,
            request_timeout: Duration::from_secs(30),
            secure_cookie: false,
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
}

/// Builds the KBS router: `/kbs/v0/{auth,attest,resource/..,resource-policy,
/// attestation-policy,reference-value}`, `/healthz`, `/metrics`.
pub fn router(state: Arc<KbsState>) -> Router {
    let limit = state.settings.max_body_bytes;
    let timeout = state.settings.request_timeout;
    Router::new()
        .route("/kbs/v0/auth", post(handlers::auth))
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
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .fallback(handlers::fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` (plain TCP or TLS) until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls_ring::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(cfg) => {
            let tl = tls::TlsListener::new(listener, cfg);
            axum::serve(tl, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
