//! Request handlers. Every refusal goes through [`KbsError`] (one status mapping).

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use remits_evidence::binding::{sanitize_tee_pubkey, RuntimeData};
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use remits_store::Namespace;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::KbsState;
use crate::backend::AttestInput;
use crate::error::{ApiError, Compat, KbsError};
use crate::jwe::RecipientKey;
use crate::protocol::{
    Attestation, AttestationToken, Challenge, Request, ResourcePath, PROTOCOL_VERSION,
    SESSION_COOKIE,
};
use crate::rng::Rng;
use crate::session::{unix, Challenged, SessionId, SessionRecord};

pub(super) type HResult = Result<Response, ApiError>;

pub(super) fn err(s: &KbsState, e: KbsError) -> ApiError {
    ApiError(e, s.settings.compat)
}

pub(super) fn storage(e: remits_store::StoreError) -> KbsError {
    KbsError::Storage(e.to_string())
}

pub(super) fn body_bytes(
    s: &KbsState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            err(s, KbsError::PayloadTooLarge(s.settings.max_body_bytes))
        } else {
            err(s, KbsError::BadRequest(r.body_text()))
        }
    })
}

pub(super) fn parse_json<T: for<'de> Deserialize<'de>>(
    s: &KbsState,
    b: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(b).map_err(|e| err(s, KbsError::BadRequest(e.to_string())))
}

/// The single `kbs-session-id` cookie value, if well formed. Several session cookies are refused.
fn session_cookie(headers: &HeaderMap) -> Result<Option<SessionId>, KbsError> {
    let mut found: Option<&str> = None;
    for h in headers.get_all(header::COOKIE) {
        let Ok(text) = h.to_str() else { continue };
        for part in text.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == SESSION_COOKIE {
                    if found.is_some() {
                        return Err(KbsError::NoSession);
                    }
                    found = Some(v);
                }
            }
        }
    }
    match found {
        None => Ok(None),
        Some(v) => SessionId::parse(v).map(Some).ok_or(KbsError::NoSession),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// `POST /kbs/v0/auth`: `Request` → `Challenge` + session cookie.
pub(super) async fn auth(
    State(s): State<Arc<KbsState>>,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    s.metrics.inc(&s.metrics.auth_total);
    let body = body_bytes(&s, body)?;
    let req: Request = parse_json(&s, &body)?;
    if req.version != PROTOCOL_VERSION {
        return Err(err(
            &s,
            KbsError::ProtocolVersion(req.version.chars().take(32).collect()),
        ));
    }
    let tee_name = req.tee.to_string();
    TeeKind::from_str(&tee_name)
        .map_err(|_| err(&s, KbsError::UnsupportedTee(tee_name.clone())))?;
    let mut nonce = [0u8; 32];
    s.rng.fill(&mut nonce);
    let mut idb = [0u8; 16];
    s.rng.fill(&mut idb);
    let id = SessionId::from_random(idb);
    let now = s.clock.now();
    let expires = now + s.settings.session_ttl;
    if let Err(full) = s.pending.try_admit(unix(now), unix(expires)) {
        return Ok(too_many_pending(&s, full));
    }
    let rec = SessionRecord::Challenged(Challenged {
        tee: tee_name,
        nonce: STANDARD.encode(nonce),
        expires_at: unix(expires),
    });
    if let Err(e) = s
        .sessions
        .put(
            Namespace::Session,
            id.as_str(),
            &rec.to_bytes(),
            Some(expires),
        )
        .await
    {
        s.pending.release(unix(expires));
        return Err(err(&s, storage(e)));
    }
    let SessionRecord::Challenged(c) = rec else {
        return Err(err(&s, KbsError::Internal("session state".into())));
    };
    tracing::info!(session = id.log_prefix(), tee = %c.tee, "challenge issued");
    let cookie = format!(
        "{SESSION_COOKIE}={}; Max-Age={}; Path=/kbs/v0; HttpOnly; SameSite=Strict{}",
        id.as_str(),
        s.settings.session_ttl.as_secs(),
        if s.settings.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    );
    let mut resp = Json(Challenge {
        nonce: c.nonce,
        extra_params: Value::String(String::new()),
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `/auth` with the pending-challenge table full: 503, `Retry-After`, nothing stored.
fn too_many_pending(s: &KbsState, full: super::pending::Full) -> Response {
    if full.first {
        tracing::warn!(
            max = s.pending.max(),
            retry_after = full.retry_after,
            "too many pending challenges: /auth refused until challenges are used or expire"
        );
    }
    let body = crate::protocol::ErrorInformation {
        error_type: format!("{}ServiceBusy", crate::protocol::ERROR_TYPE_PREFIX),
        detail: "too many pending sessions; retry later".into(),
    };
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(full.retry_after));
    resp
}

/// `POST /kbs/v0/attest`: `Attestation` → `{"token"}`; consumes the session's challenge.
pub(super) async fn attest(
    State(s): State<Arc<KbsState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let r = attest_inner(&s, &headers, body).await;
    s.metrics.observe_attest(r.is_ok());
    r
}

async fn attest_inner(
    s: &Arc<KbsState>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let id = session_cookie(headers)
        .map_err(|e| err(s, e))?
        .ok_or_else(|| err(s, KbsError::NoSession))?;
    let body = body_bytes(s, body)?;
    let att: Attestation = parse_json(s, &body)?;
    let raw = s
        .sessions
        .get(Namespace::Session, id.as_str())
        .await
        .map_err(|e| err(s, storage(e)))?
        .ok_or_else(|| err(s, KbsError::SessionExpired))?;
    let rec = SessionRecord::from_bytes(&raw)
        .ok_or_else(|| err(s, KbsError::Internal("unreadable session record".into())))?;
    let now = s.clock.now();
    if rec.expired(now) {
        return Err(err(s, KbsError::SessionExpired));
    }
    let challenged = match rec {
        SessionRecord::Challenged(c) => c,
        SessionRecord::Attested(_) => return Err(err(s, KbsError::NonceReused)),
    };
    let challenge_expiry = challenged.expires_at;
    let sent = att.runtime_data.nonce.as_bytes();
    if !bool::from(sent.ct_eq(challenged.nonce.as_bytes())) {
        return Err(err(s, KbsError::NonceMismatch));
    }
    let tee = TeeKind::from_str(&challenged.tee)
        .map_err(|_| err(s, KbsError::UnsupportedTee(challenged.tee.clone())))?;
    if s.settings.compat == Compat::Trustee
        && tee == TeeKind::Snp
        && att
            .tee_evidence
            .primary_evidence
            .get("attestation_report")
            .is_none()
    {
        return Err(err(
            s,
            KbsError::BadRequest("trustee mode: SNP evidence must carry attestation_report".into()),
        ));
    }
    let tee_pubkey = serde_json::to_value(&att.runtime_data.tee_pubkey)
        .map_err(|e| err(s, KbsError::BadRequest(e.to_string())))?;
    // Refuse a key the broker could not encrypt to before spending a verification on it.
    RecipientKey::from_jwk(&tee_pubkey).map_err(|e| err(s, KbsError::BadRequest(e.to_string())))?;
    let sanitized = sanitize_tee_pubkey(&tee_pubkey)
        .map_err(|e| err(s, KbsError::BadRequest(e.to_string())))?;
    let input = AttestInput {
        tee,
        evidence: att.tee_evidence.primary_evidence,
        runtime_data: RuntimeData {
            nonce: att.runtime_data.nonce,
            tee_pubkey: tee_pubkey.clone(),
            additional_evidence: att.tee_evidence.additional_evidence,
        },
        init_data: att.init_data.map(|i| InitData {
            format: i.format,
            body: i.body,
        }),
    };
    // trustee answers every verified attestation with a token and lets the resource policy
    // decide; remits refuses a non-affirming appraisal here unless in trustee mode.
    let out = if s.settings.compat == Compat::Trustee {
        s.backend.appraise(input).await
    } else {
        s.backend.attest(input).await
    }
    .map_err(|e| err(s, KbsError::Verifier(e)))?;
    let bound = s
        .backend
        .tee_pubkey(&out.claims)
        .and_then(|k| sanitize_tee_pubkey(&k).ok());
    if bound.as_ref() != Some(&sanitized) {
        return Err(err(s, KbsError::TokenKeyMismatch));
    }
    let token_exp = out.claims.get("exp").and_then(Value::as_u64);
    let attested = challenged.attest(&out.token, out.claims, sanitized, token_exp);
    let new = SessionRecord::Attested(attested);
    let swapped = s
        .sessions
        .compare_and_swap(
            Namespace::Session,
            id.as_str(),
            Some(&raw),
            Some(&new.to_bytes()),
            Some(new.expiry_time()),
        )
        .await
        .map_err(|e| err(s, storage(e)))?;
    if !swapped {
        return Err(err(s, KbsError::NonceReused));
    }
    s.pending.release(challenge_expiry);
    tracing::info!(session = id.log_prefix(), tee = %tee, "attested");
    Ok(Json(AttestationToken { token: out.token }).into_response())
}

/// Who is asking for a resource: claims and the TEE key they are bound to.
struct Requester {
    claims: Value,
    tee_pubkey: Value,
}

async fn requester(s: &KbsState, headers: &HeaderMap) -> Result<Requester, KbsError> {
    let now = s.clock.now();
    let bearer_token = bearer(headers);
    if let Some(id) = session_cookie(headers)? {
        let raw = s
            .sessions
            .get(Namespace::Session, id.as_str())
            .await
            .map_err(storage)?
            .ok_or(KbsError::SessionExpired)?;
        let rec = SessionRecord::from_bytes(&raw)
            .ok_or_else(|| KbsError::Internal("unreadable session record".into()))?;
        if rec.expired(now) {
            return Err(KbsError::SessionExpired);
        }
        let SessionRecord::Attested(a) = rec else {
            return Err(KbsError::SessionState(
                "session not attested: POST /kbs/v0/attest first",
            ));
        };
        if let Some(t) = bearer_token {
            if !a.is_own_token(t) {
                // A second credential must be bound to the same TEE key.
                let claims = s.backend.verify_token(t).map_err(KbsError::Verifier)?;
                let key = s
                    .backend
                    .tee_pubkey(&claims)
                    .and_then(|k| sanitize_tee_pubkey(&k).ok());
                if key.as_ref() != Some(&a.tee_pubkey) {
                    return Err(KbsError::TokenKeyMismatch);
                }
            }
        }
        return Ok(Requester {
            claims: a.claims,
            tee_pubkey: a.tee_pubkey,
        });
    }
    let t = bearer_token.ok_or(KbsError::TokenNotFound)?;
    let claims = s.backend.verify_token(t).map_err(KbsError::Verifier)?;
    let tee_pubkey = s
        .backend
        .tee_pubkey(&claims)
        .ok_or_else(|| KbsError::TokenInvalid("token carries no TEE public key".into()))?;
    Ok(Requester { claims, tee_pubkey })
}

fn resource_path(s: &KbsState, p: &str) -> Result<ResourcePath, ApiError> {
    ResourcePath::parse(p).map_err(|e| err(s, KbsError::InvalidRequestPath(e.0)))
}

/// `GET /kbs/v0/resource/<repo>/<type>/<tag>`: the resource as a JWE to the TEE key.
pub(super) async fn get_resource(
    State(s): State<Arc<KbsState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> HResult {
    let r = get_resource_inner(&s, &path, &headers).await;
    s.metrics.observe_resource(match &r {
        Ok(_) => 200,
        Err(e) => e.0.status(Compat::Remits).as_u16(),
    });
    r
}

async fn get_resource_inner(s: &KbsState, path: &str, headers: &HeaderMap) -> HResult {
    let rp = resource_path(s, path)?;
    let who = requester(s, headers).await.map_err(|e| err(s, e))?;
    let key_path = rp.to_string();
    let allowed = s
        .backend
        .allow_resource(&who.claims, &key_path)
        .await
        .map_err(|e| err(s, KbsError::Verifier(e)))?;
    if !allowed {
        return Err(err(
            s,
            KbsError::PolicyDeny(format!("resource policy does not allow {key_path}")),
        ));
    }
    let secret = s
        .store
        .get(Namespace::Resource, &key_path)
        .await
        .map_err(|e| err(s, storage(e)))?
        .ok_or_else(|| err(s, KbsError::NotFound(key_path.clone())))?;
    let rk = RecipientKey::from_jwk(&who.tee_pubkey).map_err(|e| err(s, KbsError::Jwe(e)))?;
    let jwe = rk
        .encrypt(&secret, &mut Rng(s.rng.as_ref()))
        .map_err(|e| err(s, KbsError::Jwe(e)))?;
    tracing::info!(resource = %key_path, "resource released");
    Ok(Json(jwe).into_response())
}

pub(super) fn admin_check<'a>(
    s: &'a KbsState,
    headers: &HeaderMap,
    action: &str,
) -> Result<&'a str, ApiError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    match s.admin.verify(auth, s.clock.now()) {
        Ok(name) => Ok(name),
        Err(e) => {
            s.metrics.inc(&s.metrics.admin_refused);
            tracing::warn!(action, error = %e, "admin request refused");
            Err(err(s, KbsError::AdminAuth(e.to_string())))
        }
    }
}

pub(super) fn admin_ok(s: &KbsState, who: &str, action: &str, target: &str) -> Response {
    s.metrics.inc(&s.metrics.admin_ok);
    tracing::info!(admin = who, action, target, "admin change applied");
    StatusCode::OK.into_response()
}

/// `POST|PUT /kbs/v0/resource/<path>` (admin): store the raw body as the resource.
pub(super) async fn put_resource(
    State(s): State<Arc<KbsState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let rp = resource_path(&s, &path)?;
    let who = admin_check(&s, &headers, "put-resource")?;
    let body = body_bytes(&s, body)?;
    s.store
        .put(Namespace::Resource, &rp.to_string(), &body, None)
        .await
        .map_err(|e| err(&s, storage(e)))?;
    Ok(admin_ok(&s, who, "put-resource", &rp.to_string()))
}

/// `DELETE /kbs/v0/resource/<path>` (admin).
pub(super) async fn delete_resource(
    State(s): State<Arc<KbsState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> HResult {
    let rp = resource_path(&s, &path)?;
    let who = admin_check(&s, &headers, "delete-resource")?;
    let existed = s
        .store
        .delete(Namespace::Resource, &rp.to_string())
        .await
        .map_err(|e| err(&s, storage(e)))?;
    if !existed {
        return Err(err(&s, KbsError::NotFound(rp.to_string())));
    }
    Ok(admin_ok(&s, who, "delete-resource", &rp.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcePolicyBody {
    policy: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationPolicyBody {
    #[serde(default)]
    policy_id: Option<String>,
    policy: String,
    #[serde(default, rename = "type")]
    policy_type: Option<String>,
}

/// Policy text arrives base64url (trustee: without padding); padded and standard forms are
/// accepted too (trustee #281).
fn decode_policy(s: &KbsState, b64: &str) -> Result<String, ApiError> {
    let t = b64.trim();
    let bytes = URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE.decode(t))
        .or_else(|_| STANDARD.decode(t))
        .map_err(|_| err(s, KbsError::BadRequest("policy is not base64url".into())))?;
    String::from_utf8(bytes).map_err(|_| err(s, KbsError::BadRequest("policy is not UTF-8".into())))
}

/// `POST /kbs/v0/resource-policy` (admin): `{"policy": "<base64url Rego>"}`.
pub(super) async fn set_resource_policy(
    State(s): State<Arc<KbsState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let who = admin_check(&s, &headers, "set-resource-policy")?;
    let body = body_bytes(&s, body)?;
    let b: ResourcePolicyBody = parse_json(&s, &body)?;
    let rego = decode_policy(&s, &b.policy)?;
    s.backend
        .set_resource_policy(&rego)
        .await
        .map_err(|e| err(&s, KbsError::AdminInput(e)))?;
    Ok(admin_ok(&s, who, "set-resource-policy", "resource-policy"))
}

/// `POST /kbs/v0/attestation-policy` (admin): `{"policy_id", "policy", "type"?}`.
pub(super) async fn set_attestation_policy(
    State(s): State<Arc<KbsState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let who = admin_check(&s, &headers, "set-attestation-policy")?;
    let body = body_bytes(&s, body)?;
    let b: AttestationPolicyBody = parse_json(&s, &body)?;
    if let Some(t) = &b.policy_type {
        if t != "rego" {
            return Err(err(
                &s,
                KbsError::BadRequest("policy type must be \"rego\"".into()),
            ));
        }
    }
    let id = b.policy_id.unwrap_or_else(|| "default".into());
    if !crate::protocol::valid_segment(&id) {
        return Err(err(&s, KbsError::BadRequest("invalid policy_id".into())));
    }
    let rego = decode_policy(&s, &b.policy)?;
    s.backend
        .set_attestation_policy(&id, &rego)
        .await
        .map_err(|e| err(&s, KbsError::AdminInput(e)))?;
    Ok(admin_ok(&s, who, "set-attestation-policy", &id))
}

/// `POST /kbs/v0/reference-value` (admin): trustee's RVPS message or a signed manifest.
pub(super) async fn register_reference_values(
    State(s): State<Arc<KbsState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let who = admin_check(&s, &headers, "register-reference-values")?;
    let body = body_bytes(&s, body)?;
    s.backend
        .register_reference_values(&body)
        .await
        .map_err(|e| err(&s, KbsError::AdminInput(e)))?;
    Ok(admin_ok(
        &s,
        who,
        "register-reference-values",
        "reference-value",
    ))
}

/// `GET /kbs/v0/resource` (admin): the stored resource paths as a JSON array of
/// `"repo/type/tag"` strings, sorted (trustee's resource plugin lists its key-value storage
/// keys the same way). Values are never listed.
pub(super) async fn list_resources(State(s): State<Arc<KbsState>>, headers: HeaderMap) -> HResult {
    let who = admin_check(&s, &headers, "list-resources")?;
    let mut keys = s
        .store
        .list(Namespace::Resource, "")
        .await
        .map_err(|e| err(&s, storage(e)))?;
    keys.sort();
    s.metrics.inc(&s.metrics.admin_ok);
    tracing::info!(
        admin = who,
        action = "list-resources",
        count = keys.len(),
        "admin read"
    );
    Ok(Json(keys).into_response())
}

/// `GET /kbs/v0/reference-value/<id>` (admin; what trustee's `kbs-client config
/// get-reference-value <id>` calls): the reference values in force under `id`, as the JSON
/// array the policies see. An unknown id is 404 (`null`, 200, in trustee mode, as trustee
/// serialises its `Option`).
pub(super) async fn get_reference_value(
    State(s): State<Arc<KbsState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> HResult {
    let who = admin_check(&s, &headers, "get-reference-value")?;
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(err(
            &s,
            KbsError::BadRequest("reference value id: 1 to 256 printable characters".into()),
        ));
    }
    let values = s
        .backend
        .reference_value(&id)
        .await
        .map_err(|e| err(&s, KbsError::Verifier(e)))?;
    s.metrics.inc(&s.metrics.admin_ok);
    tracing::info!(admin = who, action = "get-reference-value", target = %id, "admin read");
    match values {
        Some(v) => Ok(Json(v).into_response()),
        None if s.settings.compat == Compat::Trustee => Ok(Json(Value::Null).into_response()),
        None => Err(err(&s, KbsError::NotFound(format!("reference value {id}")))),
    }
}

/// `GET /healthz`.
pub(super) async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// How long `/readyz` waits for each store before calling it unreachable.
const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: 200 when the store (and the session store) answer a one-key read within
/// 2 s, else 503. The cause goes to the log only (it may name database hosts).
pub(super) async fn readyz(State(s): State<Arc<KbsState>>) -> Response {
    let probe = |st: Arc<dyn remits_store::Store>| async move {
        match tokio::time::timeout(
            READY_PROBE_TIMEOUT,
            st.get(Namespace::Config, "readiness-probe"),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 2 s".to_string()),
        }
    };
    let mut failed = Vec::new();
    if let Err(e) = probe(s.store.clone()).await {
        tracing::warn!(error = %e, "readiness: store unreachable");
        failed.push("store");
    }
    if !Arc::ptr_eq(&s.store, &s.sessions) {
        if let Err(e) = probe(s.sessions.clone()).await {
            tracing::warn!(error = %e, "readiness: session store unreachable");
            failed.push("sessions");
        }
    }
    if failed.is_empty() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "failed": failed})),
        )
            .into_response()
    }
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(s): State<Arc<KbsState>>) -> Response {
    (
        [(header::CONTENT_TYPE, remits_serve::metrics::CONTENT_TYPE)],
        s.metrics.render(),
    )
        .into_response()
}

/// Anything else: 404 in trustee's error format.
pub(super) async fn fallback(State(s): State<Arc<KbsState>>) -> Response {
    err(&s, KbsError::InvalidRequestPath("no such endpoint".into())).into_response()
}
