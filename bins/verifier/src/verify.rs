//! `remits-verifier verify` (one appraisal on the command line) and `remits-verifier serve` (the
//! same as an HTTP attestation service). Both are thin layers over
//! [`remits_verify::AttestationService`].
//!
//! `verify` exit status: 0 affirming; 1 evidence rejected, binding mismatch, TEE refused or
//! verdict not affirming; 2 usage error or unreadable input (files, hex, policy, reference
//! values).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use remits_evidence::binding::RuntimeData;
use remits_evidence::clock::{Clock, FixedClock, SystemClock};
use remits_evidence::initdata::InitData;
use remits_store::MemoryStore;
use remits_verify::{
    AttestationService, Attested, Binding, EarStatus, Error, PolicyChoice, ServiceConfig,
};
use serde_json::{json, Value};

use crate::exit;

/// Largest evidence, runtime-data, init-data or reference-value file read (bytes).
const MAX_INPUT_FILE: u64 = 16 << 20;

/// Arguments of `remits-verifier verify`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The TEE that produced the evidence.
    #[arg(long, value_parser = ["snp", "az-snp-vtpm", "tpm", "sample"])]
    tee: String,
    /// Evidence JSON (remits' form or the form trustee's verifiers take).
    #[arg(long)]
    evidence: PathBuf,
    /// Expected report data (hex), compared as given: SNP REPORT_DATA (zero-padded to 64
    /// bytes), the quote nonce (tpm, az-snp-vtpm), or sample's report_data. With
    /// --runtime-data it must be that runtime data's digest (else exit 2).
    #[arg(long)]
    report_data: Option<String>,
    /// KBS runtime data JSON `{"nonce","tee-pubkey","additional-evidence"}`: its SHA-384 over
    /// RFC 8785 canonical JSON must be bound into the evidence.
    #[arg(long)]
    runtime_data: Option<PathBuf>,
    /// Appraise without any binding (no --report-data or --runtime-data): the evidence may be
    /// a replay. The token records `remits_binding.kind = "unchecked"`, and the production
    /// policy denies it. One of the three binding options is required.
    #[arg(long, conflicts_with_all = ["report_data", "runtime_data"])]
    unbound: bool,
    /// Init-data TOML file whose digest must be bound (SNP HOST_DATA, TPM PCR8).
    #[arg(long)]
    init_data: Option<PathBuf>,
    /// Attestation policy: a Rego file, or `production` (the default) or `development`.
    #[arg(long)]
    policy: Option<String>,
    /// Reference values (trustee's sample form, or remits' form with expiry). Repeatable.
    #[arg(long)]
    reference_values: Vec<PathBuf>,
    /// Verification time (RFC 3339) instead of now: certificate validity, value expiry.
    #[arg(long)]
    time: Option<String>,
    /// Print the policy's explanation: every check with its claim, value and expectation.
    #[arg(long)]
    explain: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Accept the unsigned `sample` TEE (development only; it proves nothing).
    #[arg(long)]
    allow_sample: bool,
    /// Let TPM quotes under an AK that is not in `trusted_aks` reach the policy.
    #[arg(long)]
    allow_untrusted_ak: bool,
    /// Trust this extra SNP root (ARK, DER or PEM), e.g. the remits simulator's. Repeatable.
    #[arg(long)]
    trust_ark: Vec<PathBuf>,
}

/// Arguments of `remits-verifier serve`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on, e.g. `127.0.0.1:8090` (port 0 picks a free port; the bound
    /// address is printed on stdout).
    #[arg(long)]
    listen: SocketAddr,
    /// Service configuration (TOML, `remits_verify::ServiceConfig`): signing key, issuer,
    /// token lifetime, policy, reference-value files, extra SNP roots, sample/AK switches.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Time limit for one request (reading the body included): seconds or a duration (`30s`,
    /// `2m`); slower requests get 408 (or 503 when the appraisal itself runs out of time).
    #[arg(long, default_value = "30s", value_name = "DURATION", alias = "timeout-secs",
          value_parser = remits_serve::parse_positive_duration)]
    timeout: Duration,
    #[command(flatten)]
    net: remits_serve::NetArgs,
}

fn read_limited(p: &Path, what: &str) -> Result<Vec<u8>, String> {
    remits_evidence::input::read_capped(p, MAX_INPUT_FILE, what).map_err(|e| e.to_string())
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    remits_verify::refvalues::parse_rfc3339(s).map_err(|e| format!("--time: {e}"))
}

fn parse_report_data(s: &str) -> Result<Vec<u8>, String> {
    let b = hex::decode(s.trim()).map_err(|e| format!("--report-data: not hex: {e}"))?;
    if b.is_empty() || b.len() > 64 {
        return Err(format!(
            "--report-data: {} bytes, expected 1 to 64",
            b.len()
        ));
    }
    Ok(b)
}

fn policy_choice(p: Option<&str>) -> PolicyChoice {
    match p {
        None | Some("production") => PolicyChoice::Production,
        Some("development") => PolicyChoice::Development,
        Some(f) => PolicyChoice::File(PathBuf::from(f)),
    }
}

/// Everything `verify` needs, validated (exit 2 on any failure here).
struct Inputs {
    evidence: Value,
    binding: Binding,
    init_data: Option<InitData>,
    time: Option<SystemTime>,
    cfg: ServiceConfig,
}

fn inputs(a: &Args) -> Result<Inputs, String> {
    let ev_bytes = read_limited(&a.evidence, "--evidence")?;
    let evidence: Value = serde_json::from_slice(&ev_bytes)
        .map_err(|e| format!("--evidence {}: not JSON: {e}", a.evidence.display()))?;
    let report_data = a
        .report_data
        .as_deref()
        .map(parse_report_data)
        .transpose()?;
    let runtime_data = match &a.runtime_data {
        Some(p) => {
            let b = read_limited(p, "--runtime-data")?;
            let rd: RuntimeData = serde_json::from_slice(&b).map_err(|e| {
                format!(
                    "--runtime-data {}: not {{\"nonce\",\"tee-pubkey\",\"additional-evidence\"}}: {e}",
                    p.display()
                )
            })?;
            rd.canonical_json()
                .map_err(|e| format!("--runtime-data {}: {e}", p.display()))?;
            Some(rd)
        }
        None => None,
    };
    let init_data = match &a.init_data {
        Some(p) => {
            let b = read_limited(p, "--init-data")?;
            let body = String::from_utf8(b)
                .map_err(|_| format!("--init-data {}: not UTF-8 TOML", p.display()))?;
            let id = InitData {
                format: "toml".into(),
                body,
            };
            id.digest()
                .map_err(|e| format!("--init-data {}: {e}", p.display()))?;
            Some(id)
        }
        None => None,
    };
    let binding = Binding::from_parts(runtime_data, report_data, a.unbound).map_err(|e| {
        format!("{e} (--runtime-data, --report-data, or --unbound to appraise without binding)")
    })?;
    let time = a.time.as_deref().map(parse_time).transpose()?;
    for p in &a.reference_values {
        read_limited(p, "--reference-values")?;
    }
    // Checked here so that the error names the flag (the service would say "config").
    for p in &a.trust_ark {
        remits_snp::TrustAnchors::amd()
            .with_ark(&read_limited(p, "--trust-ark")?)
            .map_err(|e| crate::snp::file_err("--trust-ark", p, crate::snp::EXPECT_ARK, &e))?;
    }
    let cfg = ServiceConfig {
        attestation_policy: policy_choice(a.policy.as_deref()),
        reference_values: a.reference_values.clone(),
        allow_sample: a.allow_sample,
        tpm_allow_untrusted_ak: a.allow_untrusted_ak,
        snp_extra_arks: a.trust_ark.clone(),
        ..ServiceConfig::default()
    };
    Ok(Inputs {
        evidence,
        binding,
        init_data,
        time,
        cfg,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

const NOT_CHECKED: &str =
    "NOT CHECKED (--unbound): this evidence may be a replay; production policies deny it";

fn print_result(a: &Args, r: &Attested) {
    let rd_note = match (r.binding, r.report_data_checked) {
        ("runtime-data", true) => "checked (runtime data)",
        ("report-data", true) => "checked (--report-data)",
        _ => NOT_CHECKED,
    };
    let id_note = match (r.init_data_checked, a.init_data.is_some()) {
        (true, _) => "checked",
        (false, true) => "not checked: this TEE cannot bind init-data",
        (false, false) => "not checked (no --init-data)",
    };
    if a.json {
        let tee_claims = r
            .claims
            .pointer("/submods/cpu0/ear.veraison.annotated-evidence")
            .cloned()
            .unwrap_or(Value::Null);
        let out = json!({
            "tee": a.tee,
            "status": r.status.as_str(),
            "affirming": r.status == EarStatus::Affirming,
            "report_data_checked": r.report_data_checked,
            "init_data_checked": r.init_data_checked,
            "binding": rd_note,
            "init_data": id_note,
            "summary": r.explanation.summary(),
            "explanation": r.explanation,
            "annotated_evidence": tee_claims,
            "token": r.token,
        });
        remits_serve::outln!(
            "{}",
            serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
        );
        return;
    }
    remits_serve::outln!("tee:          {}", a.tee);
    remits_serve::outln!("status:       {}", r.status);
    remits_serve::outln!("report data:  {rd_note}");
    remits_serve::outln!("init-data:    {id_note}");
    if a.explain {
        remits_serve::out!("{}", r.explanation);
    } else {
        remits_serve::outln!("policy:       {}", r.explanation.policy_id);
        remits_serve::outln!("summary:      {}", r.explanation.summary());
    }
    remits_serve::outln!("token:        {}", r.token);
}

fn print_error(a: &Args, e: &Error) {
    if a.json {
        let out = json!({
            "tee": a.tee,
            "status": "rejected",
            "affirming": false,
            "error": e.to_string(),
        });
        remits_serve::outln!("{out}");
    }
}

pub(crate) fn run(a: Args) -> ExitCode {
    let inp = match inputs(&a) {
        Ok(i) => i,
        Err(e) => return exit::usage(e),
    };
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return exit::usage(e),
    };
    let clock: Arc<dyn Clock> = match inp.time {
        Some(t) => Arc::new(FixedClock(t)),
        None => Arc::new(SystemClock),
    };
    let res = rt.block_on(async {
        let svc = AttestationService::new(inp.cfg, Arc::new(MemoryStore::new()), clock).await?;
        svc.appraise(&a.tee, &inp.evidence, &inp.binding, inp.init_data.as_ref())
            .await
    });
    match res {
        Ok(r) => {
            print_result(&a, &r);
            if r.status == EarStatus::Affirming {
                if !r.report_data_checked {
                    eprintln!("remits-verifier: warning: report data {NOT_CHECKED}");
                }
                exit::OK
            } else {
                exit::rejected(format!(
                    "verdict is not affirming: {}",
                    r.explanation.summary()
                ))
            }
        }
        Err(e) => {
            print_error(&a, &e);
            match e {
                Error::EvidenceRejected { .. }
                | Error::Binding { .. }
                | Error::PolicyDenied(_)
                | Error::TeeDisabled { .. }
                | Error::BadRequest(_)
                | Error::Token(_) => exit::rejected(e),
                Error::Policy(_)
                | Error::ReferenceValues(_)
                | Error::Config(_)
                | Error::Missing(_)
                | Error::Store(_)
                | Error::Internal(_) => exit::usage(e),
            }
        }
    }
}

// ------------------------------------------------------------------------------------ serve

/// One request to `POST /attestation`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationBody {
    /// TEE name.
    tee: String,
    /// Evidence: the JSON value itself, or a string holding it base64url-encoded (trustee).
    evidence: Value,
    /// KBS runtime data to bind.
    #[serde(default)]
    runtime_data: Option<RuntimeData>,
    /// Explicit expected report data (hex). With `runtime_data` it must be that runtime data's
    /// digest, or the request is refused (400).
    #[serde(default)]
    report_data: Option<String>,
    /// Appraise without binding (neither `runtime_data` nor `report_data`): must be asked for
    /// explicitly; recorded in the token and denied by the production policy.
    #[serde(default)]
    unchecked_binding: bool,
    /// Init-data TOML text to bind.
    #[serde(default)]
    init_data: Option<String>,
}

/// An error answer: status, message, and the failed check's name when there is one.
struct ApiError(StatusCode, String, Option<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.2 {
            Some(check) => json!({"error": self.1, "check": check}),
            None => json!({"error": self.1}),
        };
        (self.0, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::EvidenceRejected { .. }
            | Error::Binding { .. }
            | Error::PolicyDenied(_)
            | Error::TeeDisabled { .. } => StatusCode::FORBIDDEN,
            Error::Token(_) => StatusCode::UNAUTHORIZED,
            Error::Policy(_)
            | Error::ReferenceValues(_)
            | Error::Config(_)
            | Error::Missing(_)
            | Error::Store(_)
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let msg = if code == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "internal error");
            "internal error".to_string()
        } else {
            e.to_string()
        };
        let check = match &e {
            Error::PolicyDenied(x) => x.failed().next().map(|c| c.id.clone()),
            other => other.check().map(str::to_string),
        };
        ApiError(code, msg, check)
    }
}

#[derive(Clone)]
struct AppState {
    svc: Arc<AttestationService>,
    timeout: Duration,
    /// Requests by route, method and status (`/metrics`).
    http: Arc<remits_serve::HttpMetrics>,
}

fn decode_evidence(v: Value) -> Result<Value, ApiError> {
    match v {
        Value::String(s) => {
            let raw = remits_evidence::b64ser::decode_any(&s).map_err(|_| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    "evidence: a string must be base64(url) of the evidence JSON".into(),
                    None,
                )
            })?;
            serde_json::from_slice(&raw).map_err(|e| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("evidence: decoded string is not JSON: {e}"),
                    None,
                )
            })
        }
        other => Ok(other),
    }
}

async fn attestation(
    State(st): State<AppState>,
    body: Result<Json<AttestationBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError(e.status(), e.body_text(), None))?;
    let evidence = decode_evidence(b.evidence)?;
    let report_data = b
        .report_data
        .as_deref()
        .map(parse_report_data)
        .transpose()
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.replace("--", ""), None))?;
    let binding = Binding::from_parts(b.runtime_data, report_data, b.unchecked_binding)?;
    let init = b.init_data.map(|body| InitData {
        format: "toml".into(),
        body,
    });
    let fut = st.svc.appraise(&b.tee, &evidence, &binding, init.as_ref());
    let r = tokio::time::timeout(st.timeout, fut).await.map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "appraisal timed out".into(),
            None,
        )
    })??;
    Ok(Json(json!({
        "token": r.token,
        "status": r.status.as_str(),
        "binding": r.binding,
        "report_data_checked": r.report_data_checked,
        "init_data_checked": r.init_data_checked,
        "explanation": r.explanation,
    })))
}

async fn jwks(State(st): State<AppState>) -> Json<Value> {
    let mut jwk = remits_verify::token::public_jwk(&st.svc.token_public_key());
    if let Some(members) = jwk.as_object_mut() {
        members.insert("use".into(), json!("sig"));
    }
    Json(json!({"keys": [jwk], "issuer": st.svc.issuer()}))
}

/// `GET /metrics`: request counters and latency histograms, process metrics.
async fn metrics(State(st): State<AppState>) -> Response {
    let mut o = String::with_capacity(4 << 10);
    st.http.render(&mut o);
    remits_serve::metrics::render_process(&mut o);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            remits_serve::metrics::CONTENT_TYPE,
        )],
        o,
    )
        .into_response()
}

fn router(st: AppState, max_body: usize) -> Router {
    let timeout = st.timeout;
    let http = st.http.clone();
    let app = Router::new()
        .route("/attestation", post(attestation))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/healthz", get(|| async { "ok" }))
        // The path of earlier versions; `/healthz` is the one every remits server answers.
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(st);
    // The whole request, body read included, within the time limit (the appraisal has its own
    // deadline inside the handler, answered 503); outermost, every answer counted and logged.
    remits_serve::observe(remits_serve::request_timeout(app, timeout), http)
}

pub(crate) fn serve(a: ServeArgs) -> ExitCode {
    let cfg = match &a.config {
        Some(p) => match read_limited(p, "--config")
            .and_then(|b| String::from_utf8(b).map_err(|_| "--config: not UTF-8".to_string()))
            .and_then(|t| {
                ServiceConfig::from_toml(&t).map_err(|e| format!("--config {}: {e}", p.display()))
            }) {
            Ok(c) => c,
            Err(e) => return exit::usage(e),
        },
        None => ServiceConfig::default(),
    };
    if a.max_body_bytes == 0 {
        return exit::usage("--max-body-bytes: must be positive");
    }
    let limits = a.net.limits();
    if let Err(e) = limits.validate_with_request_timeout(a.timeout) {
        return exit::usage(format!("connection limits: {e}"));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return exit::usage(format!("cannot start the async runtime: {e}")),
    };
    let res: Result<(), String> = rt.block_on(async move {
        let svc = AttestationService::new(cfg, Arc::new(MemoryStore::new()), Arc::new(SystemClock))
            .await
            .map_err(|e| e.to_string())?;
        let st = AppState {
            svc: Arc::new(svc),
            timeout: a.timeout,
            http: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| format!("--listen {}: {e}", a.listen))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        remits_serve::stdout::announce(format_args!("listening on {local}\n"));
        tracing::info!(listen = %local, "remits-verifier serving");
        let app = router(st, a.max_body_bytes);
        remits_serve::raise_fd_limit();
        remits_serve::serve(
            listener,
            app,
            None,
            &limits,
            remits_serve::shutdown_signal(),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    match res {
        Ok(()) => exit::OK,
        Err(e) => exit::usage(e),
    }
}
