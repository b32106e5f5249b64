//! `serve`: the confidential-data-hub resource API on loopback for sidecars and init containers.
//!
//! `GET /cdh/resource/<repo>/<type>/<tag>` → 200 with the secret bytes; 403 with the broker's
//! explanation when denied; 502 when the broker cannot be reached; 404 for other paths.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as AxPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use remits_attest::detect::{CollectorOptions, TeeChoice};
use remits_evidence::attester::Attester;

use crate::flow::{attester, fetch_all, Failure, NetOptions};

struct AppState {
    attester: Box<dyn Attester>,
    broker: String,
    net: NetOptions,
}

async fn resource(
    State(st): State<Arc<AppState>>,
    AxPath((repo, ty, tag)): AxPath<(String, String, String)>,
) -> Response {
    let path = format!("{repo}/{ty}/{tag}");
    match fetch_all(st.attester.as_ref(), &st.broker, &[&path], &st.net).await {
        Ok(mut v) => match v.pop() {
            Some(bytes) => (StatusCode::OK, bytes.to_vec()).into_response(),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Err(Failure {
            code: 1,
            message,
            http,
        }) => {
            // A missing resource stays 404 (as confidential-data-hub reports it); every other
            // refusal is 403 with the broker's explanation.
            let st = if http == Some(404) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            (st, message).into_response()
        }
        Err(Failure { message, .. }) => (StatusCode::BAD_GATEWAY, message).into_response(),
    }
}

/// The request timeout of the sidecar API: one fetch may retry for `--retry-for` seconds plus
/// one broker request of `--timeout` seconds.
fn request_timeout(net: &NetOptions) -> Duration {
    Duration::from_secs(net.retry_for.saturating_add(net.timeout).max(1))
}

pub(crate) async fn serve(
    tee: TeeChoice,
    opts: &CollectorOptions,
    listen: &str,
    broker: &str,
    net: &NetOptions,
    limits: &remits_serve::Limits,
) -> Result<(), Failure> {
    let timeout = request_timeout(net);
    limits
        .validate_with_request_timeout(timeout)
        .map_err(|e| Failure::usage(format!("connection limits: {e}")))?;
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| Failure::usage(format!("--listen {listen}: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--listen {listen}: only loopback addresses are served"
        )));
    }
    let st = Arc::new(AppState {
        attester: attester(tee, opts)?,
        broker: broker.to_string(),
        net: net.clone(),
    });
    let app = Router::new()
        .route("/cdh/resource/{repo}/{ty}/{tag}", get(resource))
        .with_state(st);
    // Access log (method, route, status, duration, client) for every answer, timeouts included.
    let app = remits_serve::observe(remits_serve::request_timeout(app, timeout), Arc::default());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("listen {listen}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("listen {listen}: {e}")))?;
    eprintln!("remits-attester: serving /cdh/resource on http://{local}");
    remits_serve::raise_fd_limit();
    remits_serve::serve(listener, app, None, limits, remits_serve::shutdown_signal())
        .await
        .map(|_| ())
        .map_err(|e| Failure::usage(format!("serve: {e}")))
}
