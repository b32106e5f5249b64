//! `serve`: the guest API of CoCo's guest-components (api-server-rest) for sidecars and init
//! containers.
//!
//! * `GET /cdh/resource/<repo>/<type>/<tag>` → 200 with the secret bytes; 400 for a malformed
//!   resource path (checked before the broker is contacted); 403 with the broker's explanation
//!   when denied; 404 when the broker has no such resource, and for other paths; 502 when the
//!   broker cannot be reached.
//! * `GET /aa/token?token_type=kbs` → 200, `application/octet-stream`, body
//!   `{"token": "<attestation token>", "tee_keypair": "<PEM private key>"}` (the attestation
//!   agent's `KbsTokenGetter` message); 400 for a missing or other `token_type`.
//! * `GET /aa/evidence?runtime_data=<text>[&encoding=base64]` → 200,
//!   `application/octet-stream`, the evidence JSON whose report data is the runtime data's
//!   bytes, zero-padded (as the attestation agent's attesters do); 400 when it does not fit the
//!   TEE's report-data field, 414 for a query longer than [`MAX_QUERY`] bytes.
//!
//! Tokens: one attestation serves many requests. The token obtained (with its TEE key pair)
//! is cached until its `exp` less [`TOKEN_SKEW`] and presented as a bearer token (passport)
//! for the next resource fetches, as confidential-data-hub does; a 401 to it attests again
//! once. See docs/attester.md, "Guest API".
//!
//! Who may ask (see docs/attester.md, "Sidecar security"):
//! * `--listen unix:/PATH`: a unix socket created with `--socket-mode` (default 0600) and
//!   optionally `--socket-owner`; the file permissions are the access control.
//! * `--listen 127.0.0.1:PORT` (loopback only): every request needs
//!   `Authorization: Bearer <token>` with the per-boot token written to `--token-file` (0600,
//!   optionally `--token-owner`), else 401; a `Host` other than localhost, 127.0.0.1, `[::1]`
//!   or an `--allow-host` name is 421 (DNS rebinding).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Args;
use remits_attest::detect::{CollectorOptions, TeeChoice};
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::TeeKind;
use remits_kbs::client::{ClientError, KbsClient};
use remits_kbs::jwe::TeeKeyPair;
use remits_kbs::ResourcePath;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::flow::{attester, denied, fetch_all_session, Failure, NetOptions};
use crate::owner::{parse_owner, Owner};

/// Names a TCP client may use in `Host` without `--allow-host`.
const DEFAULT_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];
/// File name of the token under `$RUNTIME_DIRECTORY` when `--token-file` is not given.
const DEFAULT_TOKEN_NAME: &str = "cdh-token";
/// Bytes of randomness in the bearer token.
const TOKEN_BYTES: usize = 32;
/// A cached attestation token is no longer used this long before its `exp`.
pub(crate) const TOKEN_SKEW: Duration = Duration::from_secs(30);
/// Longest query string `/aa/evidence` and `/aa/token` accept, in bytes.
pub(crate) const MAX_QUERY: usize = 4096;

/// Who may use the sidecar API (flags of `serve`).
#[derive(Args, Clone, Debug)]
pub(crate) struct AccessOptions {
    /// unix socket only: permission bits of the socket file, octal (connecting needs write
    /// permission, so 0600 admits only the socket's owner, 0660 its group too).
    #[arg(long, default_value = "600", value_parser = parse_mode, value_name = "OCTAL")]
    pub(crate) socket_mode: u32,
    /// unix socket only: chown the socket file to `USER[:GROUP]` (names or numeric ids), e.g.
    /// the workload's user. Needs the privilege to chown.
    #[arg(long, value_name = "USER[:GROUP]")]
    pub(crate) socket_owner: Option<String>,
    /// TCP only: where to write the per-boot bearer token (64 hex digits, mode 0600, replaced
    /// atomically). Default: $RUNTIME_DIRECTORY/cdh-token when systemd sets
    /// RUNTIME_DIRECTORY; otherwise this flag is required.
    #[arg(long, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// TCP only: chown the token file to `USER[:GROUP]`, so that only the workload's user can
    /// read it.
    #[arg(long, value_name = "USER[:GROUP]")]
    pub(crate) token_owner: Option<String>,
    /// TCP only: also accept this name in the Host header (besides localhost, 127.0.0.1 and
    /// `[::1]`, with any port); anything else is 421. Repeatable.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allow_hosts: Vec<String>,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let t = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(t, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("{s:?}: expected octal permission bits 0..=777")),
    }
}

/// Where `--listen` points.
#[derive(Debug, PartialEq, Eq)]
enum Listen {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

fn parse_listen(listen: &str) -> Result<Listen, Failure> {
    if let Some(p) = listen.strip_prefix("unix:") {
        let path = PathBuf::from(p);
        if p.is_empty() || path.file_name().is_none() {
            return Err(Failure::usage(format!(
                "--listen {listen}: expected unix:/PATH"
            )));
        }
        return Ok(Listen::Unix(path));
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| Failure::usage(format!("--listen {listen}: {e}")))?;
    if !addr.ip().is_loopback() {
        return Err(Failure::usage(format!(
            "--listen {listen}: only loopback addresses (or unix:/PATH) are served"
        )));
    }
    Ok(Listen::Tcp(addr))
}

/// The name part of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`), lowercase;
/// `None` when malformed.
fn host_name(value: &str) -> Option<String> {
    let port_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let name = if value.starts_with('[') {
        let end = value.find(']')?;
        let rest = value.get(end + 1..)?;
        if !(rest.is_empty() || rest.strip_prefix(':').is_some_and(port_ok)) {
            return None;
        }
        value.get(..=end)?
    } else {
        match value.split_once(':') {
            Some((n, p)) if port_ok(p) => n,
            Some(_) => return None,
            None => value,
        }
    };
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == b'/') {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// Normalises an `--allow-host` value: lowercase, IPv6 literals in brackets, no port.
fn allowed_name(s: &str) -> Result<String, Failure> {
    let bare = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(v6) = bare.parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{v6}]"));
    }
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if s.is_empty() || !s.bytes().all(ok) {
        return Err(Failure::usage(format!(
            "--allow-host {s:?}: expected a host name or IP address, without a port"
        )));
    }
    Ok(s.to_ascii_lowercase())
}

/// The TCP gate: Host allow-list and the bearer token.
struct Gate {
    hosts: Vec<String>,
    /// The token as the client sends it (hex), zeroized on drop.
    token: Zeroizing<String>,
}

impl Gate {
    fn host_allowed(&self, req: &Request) -> bool {
        let from_header = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(host_name);
        let Some(name) = from_header else {
            return false;
        };
        // An absolute-form request target names a host too; it must agree.
        if let Some(auth) = req.uri().authority() {
            if host_name(auth.as_str()).as_deref() != Some(name.as_str()) {
                return false;
            }
        }
        self.hosts.contains(&name)
    }

    /// `Some(true)` right token, `Some(false)` a wrong one, `None` no bearer credentials.
    fn token_ok(&self, req: &Request) -> Option<bool> {
        let v = req.headers().get(header::AUTHORIZATION)?.as_bytes();
        let i = v.iter().position(|&b| b == b' ')?;
        let (scheme, rest) = (v.get(..i)?, v.get(i + 1..)?);
        if !scheme.eq_ignore_ascii_case(b"bearer") {
            return None;
        }
        let given = rest.trim_ascii();
        Some(bool::from(self.token.as_bytes().ct_eq(given)))
    }
}

fn unauthorized(error: Option<&str>) -> Response {
    let challenge = match error {
        Some(e) => format!("Bearer realm=\"remits-attester\", error=\"{e}\""),
        None => "Bearer realm=\"remits-attester\"".to_string(),
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        "bearer token required (see --token-file)\n",
    )
        .into_response()
}

async fn gate(State(g): State<Arc<Gate>>, req: Request, next: Next) -> Response {
    if !g.host_allowed(&req) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "unexpected Host header (see --allow-host)\n",
        )
            .into_response();
    }
    // Liveness reveals nothing and must work without the per-start token (a probe cannot
    // know it); the Host check above still applies.
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    match g.token_ok(&req) {
        Some(true) => next.run(req).await,
        Some(false) => unauthorized(Some("invalid_token")),
        None => unauthorized(None),
    }
}

/// An attestation token and the TEE key pair its claims are bound to, usable until `until`.
struct CachedToken {
    token: Zeroizing<String>,
    key: TeeKeyPair,
    until: Instant,
}

/// `exp - iat` of a JWT (or `exp - now` without `iat`), read from its payload without checking
/// the signature: it only decides how long the sidecar keeps using the token (the broker
/// checks it on every use). `None` when the payload has no numeric `exp`.
fn token_lifetime(jwt: &str, now: SystemTime) -> Option<Duration> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    let from = match claims.get("iat").and_then(serde_json::Value::as_u64) {
        Some(iat) => iat,
        None => now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs(),
    };
    Some(Duration::from_secs(exp.checked_sub(from)?))
}

impl CachedToken {
    /// Caches `token` for its lifetime less [`TOKEN_SKEW`]; `None` (not cached) when it has no
    /// `exp` or lives no longer than the skew. Measured on the monotonic clock from now, so a
    /// guest clock that disagrees with the broker's does not stretch it.
    fn new(token: String, key: TeeKeyPair) -> Option<Self> {
        let token = Zeroizing::new(token);
        let life = token_lifetime(&token, SystemTime::now())?;
        let usable = life.checked_sub(TOKEN_SKEW).filter(|d| !d.is_zero())?;
        Some(Self {
            token,
            key,
            until: Instant::now() + usable,
        })
    }

    fn fresh(&self) -> bool {
        Instant::now() < self.until
    }
}

struct AppState {
    attester: Box<dyn Attester>,
    broker: String,
    net: NetOptions,
    /// For passport requests (bearer token, no handshake).
    client: KbsClient,
    /// The token of the last attestation; held while attesting, so concurrent requests wait
    /// for one attestation instead of starting several.
    cache: tokio::sync::Mutex<Option<CachedToken>>,
    /// Most runtime-data bytes `/aa/evidence` can place in the TEE's report data.
    report_data_max: usize,
}

impl AppState {
    /// `path` with the cached token when there is a fresh one, else (and once after a 401 to
    /// it) through a full attestation, whose token is cached for the next requests.
    async fn fetch(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| c.fresh()) {
            match self
                .client
                .get_resource_with_token(path, &c.token, &c.key)
                .await
            {
                Ok(v) => return Ok(v),
                Err(ClientError::Denied { status: 401, .. }) => {
                    tracing::info!("cached attestation token refused (401); attesting again");
                }
                Err(ClientError::Denied { status, detail }) => {
                    return Err(denied(path, status, &detail))
                }
                Err(e) => tracing::warn!(error = %e, "passport request failed; attesting again"),
            }
        }
        *cache = None;
        let (mut values, session) =
            fetch_all_session(self.attester.as_ref(), &self.broker, &[path], &self.net).await?;
        *cache = session.and_then(|(t, k)| CachedToken::new(t, k));
        values
            .pop()
            .ok_or_else(|| Failure::usage("the broker returned no value"))
    }

    /// The cached token and key as `/aa/token` returns them, attesting first when there is no
    /// fresh one.
    async fn token_message(&self) -> Result<Zeroizing<String>, Failure> {
        let mut cache = self.cache.lock().await;
        if !cache.as_ref().is_some_and(CachedToken::fresh) {
            *cache = None;
            let (_, session) =
                fetch_all_session(self.attester.as_ref(), &self.broker, &[], &self.net).await?;
            let (token, key) =
                session.ok_or_else(|| Failure::usage("the broker returned no token"))?;
            // A token too short-lived to cache is still handed out once.
            let life = token_lifetime(&token, SystemTime::now()).unwrap_or_default();
            *cache = Some(CachedToken {
                token: Zeroizing::new(token),
                key,
                until: Instant::now() + life.saturating_sub(TOKEN_SKEW),
            });
        }
        let c = cache
            .as_ref()
            .ok_or_else(|| Failure::usage("no attestation token"))?;
        let pem = c
            .key
            .to_pem()
            .map_err(|e| Failure::usage(format!("TEE key: {e}")))?;
        let msg = serde_json::json!({"token": c.token.as_str(), "tee_keypair": pem.as_str()});
        Ok(Zeroizing::new(msg.to_string()))
    }
}

/// A refusal or failure of the broker as the sidecar answers it: 404 for a missing resource
/// (as confidential-data-hub reports it), 403 with the broker's explanation for every other
/// refusal, 502 when the broker could not be used.
fn failure_response(f: Failure) -> Response {
    match f {
        Failure {
            code: 1,
            message,
            http,
        } => {
            let st = if http == Some(404) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::FORBIDDEN
            };
            (st, message).into_response()
        }
        Failure { message, .. } => (StatusCode::BAD_GATEWAY, message).into_response(),
    }
}

fn octet_stream(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response()
}

fn bad_request(msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    m.push('\n');
    (StatusCode::BAD_REQUEST, m).into_response()
}

/// The query parameters, or the status and text refusing them (too long: 414; malformed:
/// 400).
fn query_params(req: &Request) -> Result<HashMap<String, String>, (StatusCode, String)> {
    if req.uri().query().map_or(0, str::len) > MAX_QUERY {
        return Err((
            StatusCode::URI_TOO_LONG,
            format!("query longer than {MAX_QUERY} bytes\n"),
        ));
    }
    Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|Query(q)| q)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("query: {e}\n")))
}

/// `GET /aa/token?token_type=kbs`: the attestation agent's KBS token message.
async fn aa_token(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let q = match query_params(&req) {
        Ok(q) => q,
        Err(refusal) => return refusal.into_response(),
    };
    match q.get("token_type").map(String::as_str) {
        None => return bad_request("token_type is required (token_type=kbs)"),
        Some("kbs") => {}
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return bad_request(format!(
                "token_type {shown:?} is not supported (only \"kbs\")"
            ));
        }
    }
    match st.token_message().await {
        Ok(msg) => octet_stream(msg.as_bytes().to_vec()),
        Err(f) => failure_response(f),
    }
}

/// The runtime data of `/aa/evidence` as bytes: the text itself, or its URL-safe base64
/// (no padding) decoding with `encoding=base64`.
fn runtime_data(q: &HashMap<String, String>, max: usize) -> Result<Vec<u8>, String> {
    let text = q.get("runtime_data").ok_or("runtime_data is required")?;
    let bytes = match q.get("encoding").map(String::as_str) {
        None => text.as_bytes().to_vec(),
        Some("base64") => URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| "runtime_data: not URL-safe base64 (encoding=base64)".to_string())?,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(format!(
                "encoding {shown:?} is not supported (omit it, or encoding=base64)"
            ));
        }
    };
    if bytes.len() > max {
        return Err(format!(
            "runtime_data is {} bytes; this TEE's report data holds at most {max}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// `GET /aa/evidence?runtime_data=…`: fresh evidence binding the caller's runtime data.
async fn aa_evidence(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let q = match query_params(&req) {
        Ok(q) => q,
        Err(refusal) => return refusal.into_response(),
    };
    let data = match runtime_data(&q, st.report_data_max) {
        Ok(d) => d,
        Err(m) => return bad_request(m),
    };
    match st.attester.evidence(&data) {
        Ok(ev) => match serde_json::to_vec(&ev) {
            Ok(body) => octet_stream(body),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Err(e @ AttesterError::Busy { .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
        }
        Err(e @ AttesterError::ReportDataTooLong { .. }) => bad_request(e.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "evidence collection failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("evidence: {e}\n"),
            )
                .into_response()
        }
    }
}

/// How many report-data bytes the collector binds as given (SNP, Azure and the sample TEE:
/// 64; a TPM: its qualifying-data length).
fn report_data_capacity(tee: TeeKind, opts: &CollectorOptions) -> usize {
    match tee {
        TeeKind::Tpm => opts.tpm.nonce_len.min(64),
        // SNP, Azure vTPM, the sample TEE; the collector refuses longer data in any case.
        _ => 64,
    }
}

const PREFIX: &str = "/cdh/resource";

/// Every request: 404 outside `/cdh/resource/`, 405 for other methods, 400 for a malformed
/// resource path (before any broker contact), else the broker's answer.
async fn resource(State(st): State<Arc<AppState>>, req: Request<Body>) -> Response {
    let raw = req.uri().path();
    let Some(rest) = raw.strip_prefix(PREFIX) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if req.method() != Method::GET {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response();
    }
    // The raw (not percent-decoded) path: `%2F`, `%2e%2e` and the like are refused as they are.
    let path = match ResourcePath::parse(rest.strip_prefix('/').unwrap_or(rest)) {
        Ok(p) => p.to_string(),
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    match st.fetch(&path).await {
        Ok(bytes) => (StatusCode::OK, bytes.to_vec()).into_response(),
        Err(f) => failure_response(f),
    }
}

/// The request timeout of the sidecar API: one fetch may retry for `--retry-for` plus one
/// broker request of `--timeout`.
fn request_timeout(net: &NetOptions) -> Duration {
    net.retry_for
        .saturating_add(net.timeout)
        .max(Duration::from_secs(1))
}

/// `--token-file`, or `$RUNTIME_DIRECTORY/cdh-token` (the first directory when systemd lists
/// several).
fn token_path(access: &AccessOptions) -> Result<PathBuf, Failure> {
    if let Some(p) = &access.token_file {
        return Ok(p.clone());
    }
    let dir = std::env::var("RUNTIME_DIRECTORY").ok();
    match dir.as_deref().and_then(|v| v.split(':').next()) {
        Some(first) if !first.is_empty() => Ok(Path::new(first).join(DEFAULT_TOKEN_NAME)),
        _ => Err(Failure::usage(
            "serving on TCP needs --token-file PATH for the bearer token (or RUNTIME_DIRECTORY \
             set by systemd), or use --listen unix:/PATH",
        )),
    }
}

/// A fresh per-boot token: 32 random bytes, hex.
fn new_token() -> Zeroizing<String> {
    use rand_core::RngCore;
    let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
    rand_core::OsRng.fill_bytes(&mut raw[..]);
    Zeroizing::new(hex::encode(&raw[..]))
}

/// Writes `token` to `path`: an exclusively created 0600 temporary file in the same
/// directory, chowned when asked, fsynced, then renamed over `path` (never written through an
/// existing file or symlink). On failure the temporary file is removed.
fn write_token_file(path: &Path, token: &str, owner: Option<Owner>) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::usage(format!("--token-file {}: {e}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| fail(std::io::Error::other("no file name")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    for _ in 0..16 {
        let mut r = [0u8; 6];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            hex::encode(r)
        ));
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail(e)),
        };
        let r = (|| -> std::io::Result<()> {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(token.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            if let Some(o) = owner {
                std::os::unix::fs::chown(&tmp, o.uid, o.gid)?;
            }
            std::fs::rename(&tmp, path)?;
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        return match r {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(fail(e))
            }
        };
    }
    Err(fail(std::io::Error::other("no free temporary name")))
}

fn owner_flag(flag: &str, v: &Option<String>) -> Result<Option<Owner>, Failure> {
    v.as_deref()
        .map(|s| parse_owner(s).map_err(|e| Failure::usage(format!("{flag}: {e}"))))
        .transpose()
}

pub(crate) async fn serve(
    tee: TeeChoice,
    opts: &CollectorOptions,
    listen: &str,
    broker: &str,
    access: &AccessOptions,
    net: &NetOptions,
    limits: &remits_serve::Limits,
) -> Result<(), Failure> {
    let timeout = request_timeout(net);
    limits
        .validate_with_request_timeout(timeout)
        .map_err(|e| Failure::usage(format!("connection limits: {e}")))?;
    let target = parse_listen(listen)?;
    let only = |flag: &str, given: bool, kind: &str| {
        if given {
            Err(Failure::usage(format!(
                "{flag} applies only to --listen {kind}"
            )))
        } else {
            Ok(())
        }
    };
    match &target {
        Listen::Unix(_) => {
            only("--token-file", access.token_file.is_some(), "HOST:PORT")?;
            only("--token-owner", access.token_owner.is_some(), "HOST:PORT")?;
            only("--allow-host", !access.allow_hosts.is_empty(), "HOST:PORT")?;
        }
        Listen::Tcp(_) => {
            only(
                "--socket-owner",
                access.socket_owner.is_some(),
                "unix:/PATH",
            )?;
            only("--socket-mode", access.socket_mode != 0o600, "unix:/PATH")?;
        }
    }
    let a = attester(tee, opts)?;
    let client = KbsClient::new(broker, net.client_options())
        .map_err(|e| Failure::usage(format!("--broker {broker}: {e}")))?;
    let st = Arc::new(AppState {
        report_data_max: report_data_capacity(a.tee(), opts),
        attester: a,
        broker: broker.to_string(),
        net: net.clone(),
        client,
        cache: tokio::sync::Mutex::new(None),
    });
    let app = Router::new()
        .route("/aa/token", get(aa_token))
        .route("/aa/evidence", get(aa_evidence))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(resource)
        .with_state(st);
    remits_serve::raise_fd_limit();
    match target {
        Listen::Unix(path) => {
            let owner = owner_flag("--socket-owner", &access.socket_owner)?.unwrap_or_default();
            let sock = remits_serve::UnixSocketOptions {
                mode: access.socket_mode,
                uid: owner.uid,
                gid: owner.gid,
            };
            let listener = remits_serve::bind_unix(&path, &sock)
                .map_err(|e| Failure::usage(format!("--listen {listen}: {e}")))?;
            // Access log (method, route, status, duration, client) for every answer, refusals
            // and timeouts included.
            let app =
                remits_serve::observe(remits_serve::request_timeout(app, timeout), Arc::default());
            eprintln!(
                "remits-attester: serving /cdh/resource and /aa on unix:{} (mode {:o})",
                path.display(),
                access.socket_mode
            );
            let r =
                remits_serve::serve_unix(listener, app, limits, remits_serve::shutdown_signal())
                    .await;
            remits_serve::remove_socket(&path);
            r.map(|_| ())
                .map_err(|e| Failure::usage(format!("serve: {e}")))
        }
        Listen::Tcp(addr) => {
            let token_file = token_path(access)?;
            let token_owner = owner_flag("--token-owner", &access.token_owner)?;
            let mut hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect();
            for h in &access.allow_hosts {
                hosts.push(allowed_name(h)?);
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::usage(format!("listen {listen}: {e}")))?;
            let local = listener
                .local_addr()
                .map_err(|e| Failure::usage(format!("listen {listen}: {e}")))?;
            let token = new_token();
            write_token_file(&token_file, &token, token_owner)?;
            let g = Arc::new(Gate { hosts, token });
            let app = app.layer(axum::middleware::from_fn_with_state(g, gate));
            // Access log (method, route, status, duration, client) for every answer, refusals
            // and timeouts included.
            let app =
                remits_serve::observe(remits_serve::request_timeout(app, timeout), Arc::default());
            eprintln!(
                "remits-attester: bearer token in {} (Authorization: Bearer <token>)",
                token_file.display()
            );
            eprintln!("remits-attester: serving /cdh/resource and /aa on http://{local}");
            remits_serve::serve(listener, app, None, limits, remits_serve::shutdown_signal())
                .await
                .map(|_| ())
                .map_err(|e| Failure::usage(format!("serve: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("localhost:8006").as_deref(), Some("localhost"));
        assert_eq!(host_name("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(host_name("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_name("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(host_name("[::1]").as_deref(), Some("[::1]"));
        assert_eq!(host_name("evil.example:x"), None);
        assert_eq!(host_name("[::1]x"), None);
        assert_eq!(host_name("a:1:2"), None);
        assert_eq!(host_name(""), None);
        assert_eq!(
            allowed_name("Sidecar.Local").ok().as_deref(),
            Some("sidecar.local")
        );
        assert_eq!(allowed_name("::1").ok().as_deref(), Some("[::1]"));
        assert!(allowed_name("a:80").is_err());
        assert!(allowed_name("a/b").is_err());
    }

    #[test]
    fn listen_and_mode() {
        assert_eq!(
            parse_listen("unix:/run/x.sock").ok(),
            Some(Listen::Unix("/run/x.sock".into()))
        );
        assert!(parse_listen("unix:").is_err());
        assert!(parse_listen("0.0.0.0:1").is_err());
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o660"), Ok(0o660));
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("8").is_err());
    }

    #[test]
    fn token_lifetime_from_exp_and_iat() {
        let jwt = |claims: &str| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            token_lifetime(&jwt(r#"{"iat":500,"exp":800}"#), now),
            Some(Duration::from_secs(300))
        );
        // Without iat: from now.
        assert_eq!(
            token_lifetime(&jwt(r#"{"exp":1300}"#), now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(token_lifetime(&jwt(r#"{"exp":900}"#), now), None);
        assert_eq!(token_lifetime(&jwt(r#"{"iat":5}"#), now), None);
        assert_eq!(token_lifetime("not a jwt", now), None);
        assert_eq!(token_lifetime("a.!!!.c", now), None);
    }

    #[test]
    fn runtime_data_as_text_or_base64_and_bounded() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            runtime_data(&q(&[("runtime_data", "abc")]), 64),
            Ok(b"abc".to_vec())
        );
        assert_eq!(
            runtime_data(&q(&[("runtime_data", "AP8"), ("encoding", "base64")]), 64),
            Ok(vec![0, 0xff])
        );
        assert!(runtime_data(&q(&[("runtime_data", "***"), ("encoding", "base64")]), 64).is_err());
        assert!(runtime_data(&q(&[("runtime_data", "a"), ("encoding", "hex")]), 64).is_err());
        assert!(runtime_data(&q(&[]), 64).is_err());
        assert!(runtime_data(&q(&[("runtime_data", "abcd")]), 3).is_err());
    }

    #[test]
    fn token_file_is_private_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("cdh-token");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let t = new_token();
        assert_eq!(t.len(), 2 * TOKEN_BYTES);
        write_token_file(&p, &t, None)
            .map_err(|f| f.message)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), t.as_str());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        assert_ne!(new_token().as_str(), t.as_str());
    }
}
