//! The KBS client: `auth` → `attest` → `GET resource` → JWE decrypt, compatible with
//! trustee's KBS and with remits-broker.
//!
//! Per handshake the client generates an ephemeral TEE key pair (EC P-256
//! `ECDH-ES+A256KW` by default), binds it and the challenge nonce into the evidence
//! (RFC 8785 JSON of `{additional-evidence, nonce, tee-pubkey}`, SHA-384, or the hash the
//! server selects), and decrypts the resource with it.

use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::binding::{HashAlg, RuntimeData};
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::jwe::{JweError, JweMessage, TeeKeyAlgorithm, TeeKeyPair};
use crate::protocol::{
    AttestationToken, Challenge, ErrorInformation, ResourcePath, PROTOCOL_VERSION, SESSION_COOKIE,
};

/// Client errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL or a resource path is malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A TLS root certificate could not be loaded.
    #[error("TLS root certificate {path}: {reason}")]
    RootCert {
        /// File.
        path: String,
        /// Why.
        reason: String,
    },
    /// Connection, timeout or transport failure (worth retrying).
    #[error("network: {0}")]
    Network(String),
    /// The broker's TLS certificate does not verify (unknown issuer, wrong name, expired):
    /// never retried, since a retry cannot fix it and the peer may be an impostor.
    #[error("TLS: the broker's certificate is not trusted ({0}); give its CA with --ca (or SSL_CERT_FILE)")]
    Tls(String),
    /// A plain `http://` URL to a broker that is not on loopback, without explicit consent.
    #[error("refusing plain http:// to {0}: whoever carries the traffic (the host, for a guest) could answer as the broker and inject secrets; use https:// (with --ca) or allow insecure HTTP explicitly")]
    InsecureHttp(String),
    /// The broker refused (4xx): never retried.
    #[error("broker refused ({status}): {detail}")]
    Denied {
        /// HTTP status.
        status: u16,
        /// The `detail` of the error body (or the body text).
        detail: String,
    },
    /// The broker failed (5xx).
    #[error("broker error ({status}): {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Detail.
        detail: String,
    },
    /// The broker's answer is not the protocol message expected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The attester could not produce evidence.
    #[error("attester: {0}")]
    Attester(#[from] AttesterError),
    /// The resource JWE could not be decrypted.
    #[error("JWE: {0}")]
    Jwe(#[from] JweError),
}

impl ClientError {
    /// Whether trying again may help: network failures and server errors (5xx). A refusal
    /// (4xx), an untrusted certificate or a malformed answer is never retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) | Self::Server { .. } => true,
            Self::InvalidArgument(_)
            | Self::RootCert { .. }
            | Self::Tls(_)
            | Self::InsecureHttp(_)
            | Self::Denied { .. }
            | Self::Protocol(_)
            | Self::Attester(_)
            | Self::Jwe(_) => false,
        }
    }
}

/// Client options.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TEE key algorithm for the JWE.
    pub key_algorithm: TeeKeyAlgorithm,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra PEM CA certificates to trust for `https://` brokers.
    pub root_certs: Vec<PathBuf>,
    /// Init-data to send with the attestation.
    pub init_data: Option<InitData>,
    /// Largest response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// Accept a plain `http://` broker that is not on loopback (default false: refused with
    /// [`ClientError::InsecureHttp`]). Loopback `http://` is always accepted.
    pub allow_insecure_http: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            key_algorithm: TeeKeyAlgorithm::EcP256,
            timeout: Duration::from_secs(30),
            root_certs: Vec::new(),
            init_data: None,
            max_response_bytes: 16 << 20,
            allow_insecure_http: false,
        }
    }
}

/// Whether `url` (already known to start with `http://`) names a loopback host.
fn is_loopback_http(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a transport error is a TLS certificate failure (retrying cannot help).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls_ring::Error>() {
            if matches!(
                r,
                rustls_ring::Error::InvalidCertificate(_)
                    | rustls_ring::Error::InvalidCertRevocationList(_)
            ) {
                return Some(r.to_string());
            }
        }
        // hyper-util wraps the TLS stream's io::Error in another io::Error: look through every
        // layer (`io::Error::source` skips the wrapped error itself).
        let mut io = err.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(std::io::Error::get_ref) {
            if let Some(r) = inner.downcast_ref::<rustls_ring::Error>() {
                if matches!(r, rustls_ring::Error::InvalidCertificate(_)) {
                    return Some(r.to_string());
                }
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        cur = err.source();
    }
    None
}

/// A development attester for the `sample` TEE: `{"svn":"1","report_data":"<std b64>"}`.
/// Proves nothing; brokers refuse it unless explicitly configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleAttester;

impl Attester for SampleAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Sample
    }
    fn evidence(&self, report_data: &[u8]) -> Result<Value, AttesterError> {
        Ok(json!({"svn": "1", "report_data": STANDARD.encode(report_data)}))
    }
}

/// An attested session: token, cookie and the TEE key the token is bound to.
struct Session {
    token: String,
    cookie: Option<String>,
    key: TeeKeyPair,
}

/// A KBS client for one broker.
pub struct KbsClient {
    base: String,
    http: reqwest::Client,
    opts: ClientOptions,
    session: Option<Session>,
}

impl std::fmt::Debug for KbsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KbsClient")
            .field("base", &self.base)
            .field("attested", &self.session.is_some())
            .finish()
    }
}

fn net(e: reqwest::Error) -> ClientError {
    // reqwest's own message ("error sending request for url ...") hides the cause; append the
    // chain (connection refused, certificate not trusted, ...).
    if let Some(t) = tls_failure(&e) {
        return ClientError::Tls(t);
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ClientError::Network(msg)
}

impl KbsClient {
    /// A client for the broker at `base_url` (`http://host:port` or `https://...`).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed URL, [`ClientError::InsecureHttp`] for
    /// plain HTTP to a non-loopback host unless allowed, [`ClientError::RootCert`] when an extra
    /// root certificate cannot be read, [`ClientError::Tls`] when the HTTP client cannot be built.
    pub fn new(base_url: &str, opts: ClientOptions) -> Result<Self, ClientError> {
        let mut b = reqwest::Client::builder()
            .timeout(opts.timeout)
            .redirect(reqwest::redirect::Policy::none());
        for p in &opts.root_certs {
            let pem = remits_evidence::input::read_capped(
                p,
                remits_evidence::input::MAX_INPUT_FILE,
                "CA certificate",
            )
            .map_err(|e| ClientError::RootCert {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            let c = reqwest::Certificate::from_pem(&pem).map_err(|e| ClientError::RootCert {
                path: p.display().to_string(),
                reason: e.to_string(),
            })?;
            b = b.add_root_certificate(c);
        }
        let http = b.build().map_err(net)?;
        Self::with_http(base_url, opts, http)
    }

    /// A client sharing an existing `reqwest` client (connection pool), e.g. for load tests.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed URL, [`ClientError::InsecureHttp`] for
    /// plain HTTP to a non-loopback host unless allowed.
    pub fn with_http(
        base_url: &str,
        opts: ClientOptions,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidArgument(format!(
                "broker URL must start with http:// or https://: {base}"
            )));
        }
        if base.starts_with("http://") && !opts.allow_insecure_http && !is_loopback_http(&base) {
            return Err(ClientError::InsecureHttp(base));
        }
        Ok(Self {
            base,
            http,
            opts,
            session: None,
        })
    }

    /// The token of the current session, if attested.
    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.token.as_str())
    }

    async fn read_body(&self, resp: reqwest::Response) -> Result<(u16, Vec<u8>), ClientError> {
        let status = resp.status().as_u16();
        if let Some(len) = resp.content_length() {
            if len > self.opts.max_response_bytes as u64 {
                return Err(ClientError::Protocol(format!(
                    "response of {len} bytes too large"
                )));
            }
        }
        let body = resp.bytes().await.map_err(net)?;
        if body.len() > self.opts.max_response_bytes {
            return Err(ClientError::Protocol("response too large".into()));
        }
        Ok((status, body.to_vec()))
    }

    fn refusal(status: u16, body: &[u8]) -> ClientError {
        let detail = serde_json::from_slice::<ErrorInformation>(body)
            .map(|e| e.detail)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(512).collect());
        if status >= 500 {
            ClientError::Server { status, detail }
        } else {
            ClientError::Denied { status, detail }
        }
    }

    /// Runs `auth` and `attest` with `attester`; returns the attestation token.
    ///
    /// # Errors
    ///
    /// [`ClientError::Network`] or [`ClientError::Tls`] when the broker cannot be reached,
    /// [`ClientError::Attester`] when evidence cannot be produced, [`ClientError::Denied`] when the
    /// broker refuses the evidence, [`ClientError::Server`] or [`ClientError::Protocol`] for an
    /// error or malformed answer.
    pub async fn attest(&mut self, attester: &dyn Attester) -> Result<String, ClientError> {
        self.session = None;
        let tee = attester.tee();
        let resp = self
            .http
            .post(format!("{}/kbs/v0/auth", self.base))
            .json(&json!({
                "version": PROTOCOL_VERSION,
                "tee": tee.as_str(),
                "extra-params": {"supported-hash-algorithms": ["sha384", "sha512", "sha256"]},
            }))
            .send()
            .await
            .map_err(net)?;
        let cookie = resp
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find_map(|kv| {
                kv.trim()
                    .strip_prefix(&format!("{SESSION_COOKIE}="))
                    .map(str::to_owned)
            });
        let (status, body) = self.read_body(resp).await?;
        if status != 200 {
            return Err(Self::refusal(status, &body));
        }
        let challenge: Challenge = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("challenge: {e}")))?;
        let hash = challenge
            .extra_params
            .get("selected-hash-algorithm")
            .and_then(Value::as_str)
            .map(|n| {
                HashAlg::from_name(n).ok_or_else(|| {
                    ClientError::Protocol(format!("server selected unsupported hash {n:?}"))
                })
            })
            .transpose()?
            .unwrap_or(HashAlg::Sha384);
        let key = TeeKeyPair::generate(self.opts.key_algorithm, &mut rand_core::OsRng)?;
        let rd = RuntimeData {
            nonce: challenge.nonce.clone(),
            tee_pubkey: key.public_jwk(),
            additional_evidence: String::new(),
        };
        let digest = rd
            .digest(hash)
            .map_err(|e| ClientError::Protocol(format!("runtime data: {e}")))?;
        let evidence = attester.evidence(&digest)?;
        let init_data = self
            .opts
            .init_data
            .as_ref()
            .map(|i| json!({"format": i.format, "body": i.body}))
            .unwrap_or(Value::Null);
        let mut req = self
            .http
            .post(format!("{}/kbs/v0/attest", self.base))
            .json(&json!({
                "init-data": init_data,
                "runtime-data": {"nonce": challenge.nonce, "tee-pubkey": rd.tee_pubkey},
                "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
            }));
        if let Some(c) = &cookie {
            req = req.header(reqwest::header::COOKIE, format!("{SESSION_COOKIE}={c}"));
        }
        let resp = req.send().await.map_err(net)?;
        let (status, body) = self.read_body(resp).await?;
        if status != 200 {
            return Err(Self::refusal(status, &body));
        }
        let tok: AttestationToken = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("attest response: {e}")))?;
        self.session = Some(Session {
            token: tok.token.clone(),
            cookie,
            key,
        });
        Ok(tok.token)
    }

    async fn fetch(&self, path: &ResourcePath) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let Some(s) = &self.session else {
            return Err(ClientError::Protocol("not attested".into()));
        };
        let mut req = self
            .http
            .get(format!("{}/kbs/v0/resource/{path}", self.base));
        match &s.cookie {
            Some(c) => req = req.header(reqwest::header::COOKIE, format!("{SESSION_COOKIE}={c}")),
            None => req = req.bearer_auth(&s.token),
        }
        let resp = req.send().await.map_err(net)?;
        let (status, body) = self.read_body(resp).await?;
        if status != 200 {
            return Err(Self::refusal(status, &body));
        }
        let jwe: JweMessage = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("resource response is not a JWE: {e}")))?;
        Ok(s.key.decrypt(&jwe)?)
    }

    /// Fetches and decrypts `repo/type/tag`, attesting first when there is no session
    /// (or once more when the broker answers 401 to an existing one).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed path, every error of [`KbsClient::attest`],
    /// [`ClientError::Denied`] when the resource policy refuses, [`ClientError::Jwe`] when the
    /// answer does not decrypt.
    pub async fn get_resource(
        &mut self,
        path: &str,
        attester: &dyn Attester,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let rp = ResourcePath::parse(path).map_err(|e| ClientError::InvalidArgument(e.0))?;
        if self.session.is_some() {
            match self.fetch(&rp).await {
                Err(ClientError::Denied { status: 401, .. }) => {}
                other => return other,
            }
        }
        self.attest(attester).await?;
        self.fetch(&rp).await
    }

    /// Passport mode: fetches `path` with a bearer token whose claims are bound to `key`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed path, [`ClientError::Denied`] when refused,
    /// [`ClientError::Network`], [`ClientError::Server`] or [`ClientError::Protocol`] for transport
    /// and answer errors, [`ClientError::Jwe`] when the answer does not decrypt.
    pub async fn get_resource_with_token(
        &self,
        path: &str,
        token: &str,
        key: &TeeKeyPair,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let rp = ResourcePath::parse(path).map_err(|e| ClientError::InvalidArgument(e.0))?;
        let resp = self
            .http
            .get(format!("{}/kbs/v0/resource/{rp}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .map_err(net)?;
        let (status, body) = self.read_body(resp).await?;
        if status != 200 {
            return Err(Self::refusal(status, &body));
        }
        let jwe: JweMessage = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("resource response is not a JWE: {e}")))?;
        Ok(key.decrypt(&jwe)?)
    }

    /// Takes the session's TEE key pair and token (for passport use elsewhere).
    pub fn take_session(&mut self) -> Option<(String, TeeKeyPair)> {
        self.session.take().map(|s| (s.token, s.key))
    }
}

/// Client of the broker's admin API; each request carries a fresh admin JWT (5 minutes).
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
    key: crate::admin::AdminSigningKey,
    claims: crate::admin::AdminClaims,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish()
    }
}

/// Lifetime of the admin JWTs the CLI mints.
pub const ADMIN_TOKEN_TTL: Duration = Duration::from_secs(300);

impl AdminClient {
    /// An admin client for `base_url` signing with `key`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed URL, [`ClientError::InsecureHttp`] for
    /// plain HTTP to a non-loopback host unless allowed.
    pub fn new(
        base_url: &str,
        key: crate::admin::AdminSigningKey,
        opts: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let kc = KbsClient::new(base_url, opts.clone())?;
        Ok(Self {
            base: kc.base,
            http: kc.http,
            key,
            claims: crate::admin::AdminClaims::default(),
        })
    }

    /// Mints with these `iss` / `aud` claims (default: `iss` = `remits-admin`, no `aud`).
    pub fn with_claims(mut self, claims: crate::admin::AdminClaims) -> Self {
        self.claims = claims;
        self
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(), ClientError> {
        self.send_read(req).await.map(drop)
    }

    /// Sends `req` with a fresh admin JWT; the body of a 200 answer.
    async fn send_read(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, ClientError> {
        let jwt = self
            .key
            .mint_with(std::time::SystemTime::now(), ADMIN_TOKEN_TTL, &self.claims);
        let resp = req.bearer_auth(jwt).send().await.map_err(net)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(net)?;
        if status == 200 {
            Ok(body.to_vec())
        } else {
            Err(KbsClient::refusal(status, &body))
        }
    }

    /// The stored resource paths (`GET /kbs/v0/resource`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Network`], [`ClientError::Denied`], [`ClientError::Server`] or
    /// [`ClientError::Protocol`] for transport, authorization and answer errors.
    pub async fn list_resources(&self) -> Result<Vec<String>, ClientError> {
        let body = self
            .send_read(self.http.get(format!("{}/kbs/v0/resource", self.base)))
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("resource list: {e}")))
    }

    /// The reference values registered under `id` (`GET /kbs/v0/reference-value/<id>`), as
    /// the broker returns them (JSON).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed id, and as [`AdminClient::list_resources`].
    pub async fn get_reference_value(&self, id: &str) -> Result<Value, ClientError> {
        if id.is_empty() || id.contains(['/', '?', '#']) {
            return Err(ClientError::InvalidArgument(format!(
                "reference value id {id:?}: must be non-empty, without '/', '?' or '#'"
            )));
        }
        let body = self
            .send_read(
                self.http
                    .get(format!("{}/kbs/v0/reference-value/{id}", self.base)),
            )
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("reference value: {e}")))
    }

    /// Stores `value` as resource `path`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed path, and as
    /// [`AdminClient::list_resources`].
    pub async fn put_resource(&self, path: &str, value: Vec<u8>) -> Result<(), ClientError> {
        let rp = ResourcePath::parse(path).map_err(|e| ClientError::InvalidArgument(e.0))?;
        self.send(
            self.http
                .post(format!("{}/kbs/v0/resource/{rp}", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(value),
        )
        .await
    }

    /// Deletes resource `path`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed path, and as
    /// [`AdminClient::list_resources`].
    pub async fn delete_resource(&self, path: &str) -> Result<(), ClientError> {
        let rp = ResourcePath::parse(path).map_err(|e| ClientError::InvalidArgument(e.0))?;
        self.send(
            self.http
                .delete(format!("{}/kbs/v0/resource/{rp}", self.base)),
        )
        .await
    }

    /// Replaces the resource policy with `rego`.
    ///
    /// # Errors
    ///
    /// As [`AdminClient::list_resources`] (a policy the broker refuses is [`ClientError::Server`]).
    pub async fn set_resource_policy(&self, rego: &str) -> Result<(), ClientError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        self.send(
            self.http
                .post(format!("{}/kbs/v0/resource-policy", self.base))
                .json(&json!({"policy": URL_SAFE_NO_PAD.encode(rego)})),
        )
        .await
    }

    /// Replaces attestation policy `id` with `rego`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed id, and as
    /// [`AdminClient::set_resource_policy`].
    pub async fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<(), ClientError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        self.send(
            self.http
                .post(format!("{}/kbs/v0/attestation-policy", self.base))
                .json(&json!({"policy_id": id, "type": "rego", "policy": URL_SAFE_NO_PAD.encode(rego)})),
        )
        .await
    }

    /// Registers reference values (body sent as is).
    ///
    /// # Errors
    ///
    /// As [`AdminClient::list_resources`] (values the broker refuses are [`ClientError::Server`]).
    pub async fn register_reference_values(&self, body: Vec<u8>) -> Result<(), ClientError> {
        self.send(
            self.http
                .post(format!("{}/kbs/v0/reference-value", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    /// Registers (or re-registers) a workload: remits' form or the seed system's
    /// `{workload_id, launch_measurement, tee_config, passphrase}` (JSON body as given).
    ///
    /// # Errors
    ///
    /// As [`AdminClient::list_resources`] (a record the broker refuses is [`ClientError::Server`]).
    pub async fn register_workload(&self, body: Vec<u8>) -> Result<(), ClientError> {
        self.send(
            self.http
                .post(format!("{}/kbs/v0/sev/workload", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await
    }

    /// Removes a workload: its record, secrets, their policies and its reference value.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidArgument`] for a malformed id, and as [`AdminClient::list_resources`].
    pub async fn delete_workload(&self, id: &str) -> Result<(), ClientError> {
        if !crate::protocol::valid_segment(id) {
            return Err(ClientError::InvalidArgument(format!(
                "workload id {id:?} is not 1..=128 of [A-Za-z0-9_.-]"
            )));
        }
        self.send(
            self.http
                .delete(format!("{}/kbs/v0/sev/workload/{id}", self.base)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_found_through_nested_io_errors() {
        let tls =
            rustls_ring::Error::InvalidCertificate(rustls_ring::CertificateError::UnknownIssuer);
        // What hyper-util hands back for a TLS stream: io::Error(Other, io::Error(InvalidData,
        // rustls::Error)).
        let nested =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        assert!(tls_failure(&nested).is_some());
        let plain = std::io::Error::other("connection reset");
        assert!(tls_failure(&plain).is_none());
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1/",
            "http://[::1]:8080",
            "https://10.0.0.1",
        ] {
            assert!(KbsClient::new(ok, ClientOptions::default()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://broker.example",
            "http://[2001:db8::1]",
        ] {
            assert!(
                matches!(
                    KbsClient::new(bad, ClientOptions::default()),
                    Err(ClientError::InsecureHttp(_))
                ),
                "{bad}"
            );
            let opts = ClientOptions {
                allow_insecure_http: true,
                ..ClientOptions::default()
            };
            assert!(KbsClient::new(bad, opts).is_ok(), "{bad}");
        }
    }
}
