//! The server's error type and its single mapping to HTTP status + trustee's JSON error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::jwe::JweError;
use crate::protocol::{ErrorInformation, ERROR_TYPE_PREFIX};

/// Everything the KBS server can refuse or fail with. Each variant names the check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KbsError {
    /// The URL path is not a KBS endpoint or a resource path breaks trustee's rules.
    #[error("invalid request path: {0}")]
    InvalidRequestPath(String),
    /// `Request.version` is not exactly 0.4.0.
    #[error("KBS client protocol version mismatch: expected 0.4.0, got {0:?}")]
    ProtocolVersion(String),
    /// The TEE named in `/auth` is not one this broker verifies.
    #[error("TEE {0:?} is not supported by this broker")]
    UnsupportedTee(String),
    /// The request body exceeds the configured limit.
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A request body is not the expected JSON message.
    #[error("malformed request body: {0}")]
    BadRequest(String),
    /// `/attest` or a resource request without a `kbs-session-id` cookie (or a malformed one).
    #[error("no session: POST /kbs/v0/auth first")]
    NoSession,
    /// The session is unknown, expired or was removed.
    #[error("session unknown or expired")]
    SessionExpired,
    /// The session exists but is not in the state the endpoint needs.
    #[error("session state: {0}")]
    SessionState(&'static str),
    /// `runtime-data.nonce` differs from the session's challenge.
    #[error("runtime-data nonce does not match the session challenge")]
    NonceMismatch,
    /// The challenge was already consumed (replayed or concurrent attestation).
    #[error("the challenge of this session was already used")]
    NonceReused,
    /// The verifier refused or failed (evidence, binding, policy, token, ...): its typed error,
    /// mapped to a status and body by [`KbsError::status`] and [`KbsError::info`]. The detail
    /// (which names the failed check) reaches the client unless the failure is internal.
    #[error("{}", verifier_detail(.0))]
    Verifier(remits_verify::Error),
    /// No attestation token: neither an attested session nor a bearer token.
    #[error("no attestation token: attest first or send Authorization: Bearer <token>")]
    TokenNotFound,
    /// The bearer token failed verification.
    #[error("attestation token rejected: {0}")]
    TokenInvalid(String),
    /// The token presented is bound to a different TEE key than the session.
    #[error("the token is bound to another TEE key than this session")]
    TokenKeyMismatch,
    /// Policy (attestation or resource) denied the request.
    #[error("denied by policy: {0}")]
    PolicyDeny(String),
    /// No such resource.
    #[error("resource {0} not found")]
    NotFound(String),
    /// Admin authentication failed or the admin API is disabled.
    #[error("admin authentication: {0}")]
    AdminAuth(String),
    /// The JWE response could not be built.
    #[error("JWE: {0}")]
    Jwe(#[from] JweError),
    /// A policy or reference value uploaded by an admin was rejected (or could not be stored).
    #[error("{}", admin_detail(.0))]
    AdminInput(remits_verify::Error),
    /// Storage failed.
    #[error("storage error")]
    Storage(String),
    /// An SEV pre-launch check failed (platform chain, launch measurement, submitted values).
    #[error("SEV launch rejected: {0}")]
    SevRejected(String),
    /// The SEV launch session is unknown or expired.
    #[error("SEV launch session unknown or expired: POST /kbs/v0/sev/session first")]
    SevSessionUnknown,
    /// The SEV launch session was already used (a measurement is accepted once).
    #[error("SEV launch session already used: a launch measurement is accepted once per session")]
    SevSessionUsed,
    /// No workload is registered under this id.
    #[error("workload {0:?} is not registered")]
    UnknownWorkload(String),
    /// Any other internal failure (details only in the log).
    #[error("internal error")]
    Internal(String),
}

/// How statuses are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    /// Statuses that say what happened: 401 unauthenticated, 403 denied, 404 missing.
    #[default]
    Remits,
    /// trustee's statuses: 404 for an invalid path, 401 for everything else; only trustee's
    /// message forms are accepted.
    Trustee,
}

impl KbsError {
    /// trustee's error variant name for the `type` URI.
    pub fn variant(&self) -> &'static str {
        match self {
            Self::InvalidRequestPath(_) => "InvalidRequestPath",
            Self::ProtocolVersion(_)
            | Self::UnsupportedTee(_)
            | Self::NoSession
            | Self::SessionExpired
            | Self::SessionState(_)
            | Self::NonceMismatch
            | Self::NonceReused
            | Self::SevRejected(_)
            | Self::SevSessionUnknown
            | Self::SevSessionUsed => "AttestationError",
            Self::UnknownWorkload(_) => "PluginInternalError",
            Self::Verifier(e) => verifier_answer(e).0,
            Self::BadRequest(_) | Self::PayloadTooLarge(_) => "SerdeError",
            Self::TokenNotFound => "TokenNotFound",
            Self::TokenInvalid(_) | Self::TokenKeyMismatch => "TokenVerifierError",
            Self::PolicyDeny(_) => "PolicyDeny",
            Self::NotFound(_) => "PluginInternalError",
            Self::AdminAuth(_) => "AdminAuthAccess",
            Self::Jwe(_) => "JweError",
            Self::AdminInput(e) => admin_answer(e).0,
            Self::Storage(_) => "PluginInternalError",
            Self::Internal(_) => "PluginInternalError",
        }
    }

    /// The status for this error in the given compatibility mode.
    pub fn status(&self, compat: Compat) -> StatusCode {
        let remits = match self {
            Self::InvalidRequestPath(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Verifier(e) => verifier_answer(e).1,
            Self::AdminInput(e) => admin_answer(e).1,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ProtocolVersion(_)
            | Self::UnsupportedTee(_)
            | Self::NoSession
            | Self::SessionExpired
            | Self::SessionState(_)
            | Self::NonceMismatch
            | Self::NonceReused
            | Self::TokenNotFound
            | Self::TokenInvalid(_)
            | Self::TokenKeyMismatch
            | Self::AdminAuth(_)
            | Self::SevRejected(_)
            | Self::SevSessionUnknown
            | Self::SevSessionUsed => StatusCode::UNAUTHORIZED,
            Self::UnknownWorkload(_) => StatusCode::NOT_FOUND,
            Self::PolicyDeny(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Jwe(_) => StatusCode::BAD_REQUEST,
            Self::Storage(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match compat {
            Compat::Remits => remits,
            Compat::Trustee => match self {
                Self::InvalidRequestPath(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNAUTHORIZED,
            },
        }
    }

    /// The JSON body.
    pub fn info(&self) -> ErrorInformation {
        ErrorInformation {
            error_type: format!("{ERROR_TYPE_PREFIX}{}", self.variant()),
            detail: self.to_string(),
        }
    }

    /// Builds the response (status per `compat`, trustee's JSON error body).
    pub fn into_response_with(self, compat: Compat) -> Response {
        match &self {
            Self::Storage(d) | Self::Internal(d) => {
                tracing::error!(detail = %d, "internal failure")
            }
            Self::Verifier(e) | Self::AdminInput(e) if !verifier_answer(e).2 => {
                tracing::error!(detail = %e, "internal failure")
            }
            other => tracing::info!(error = %other, "request refused"),
        }
        (self.status(compat), axum::Json(self.info())).into_response()
    }
}

/// How the KBS answers a verifier error: trustee's error variant, the status in remits mode,
/// and whether the detail may be shown to the client (never for internal failures).
fn verifier_answer(e: &remits_verify::Error) -> (&'static str, StatusCode, bool) {
    use remits_verify::Error as V;
    match e {
        V::BadRequest(_) => ("SerdeError", StatusCode::BAD_REQUEST, true),
        V::TeeDisabled { .. } | V::EvidenceRejected { .. } | V::Binding { .. } => {
            ("AttestationError", StatusCode::UNAUTHORIZED, true)
        }
        V::PolicyDenied(_) => ("PolicyDeny", StatusCode::FORBIDDEN, true),
        V::Token(_) => ("TokenVerifierError", StatusCode::UNAUTHORIZED, true),
        V::Policy(_)
        | V::ReferenceValues(_)
        | V::Config(_)
        | V::Missing(_)
        | V::Store(_)
        | V::Internal(_) => (
            "PluginInternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
        ),
    }
}

fn verifier_detail(e: &remits_verify::Error) -> String {
    use remits_verify::Error as V;
    match e {
        _ if !verifier_answer(e).2 => "internal error".into(),
        V::EvidenceRejected { .. } | V::Binding { .. } | V::TeeDisabled { .. } => {
            format!("attestation failed: {e}")
        }
        V::PolicyDenied(x) => format!("denied by policy: {}", x.summary()),
        V::Token(r) => format!("attestation token rejected: {r}"),
        _ => e.to_string(),
    }
}

/// How the KBS answers a verifier error while storing an admin upload: the upload's own
/// faults are 400 with the reason; storage and internal failures stay 500 without detail.
fn admin_answer(e: &remits_verify::Error) -> (&'static str, StatusCode, bool) {
    use remits_verify::Error as V;
    match e {
        V::BadRequest(_) | V::Policy(_) | V::ReferenceValues(_) | V::PolicyDenied(_) => {
            ("ParsePolicyError", StatusCode::BAD_REQUEST, true)
        }
        V::TeeDisabled { .. }
        | V::EvidenceRejected { .. }
        | V::Binding { .. }
        | V::Token(_)
        | V::Config(_)
        | V::Missing(_)
        | V::Store(_)
        | V::Internal(_) => (
            "PluginInternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
        ),
    }
}

fn admin_detail(e: &remits_verify::Error) -> String {
    if admin_answer(e).2 {
        format!("rejected: {e}")
    } else {
        "internal error".into()
    }
}

/// A [`KbsError`] together with the compatibility mode that picks its status.
#[derive(Debug)]
pub struct ApiError(pub KbsError, pub Compat);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response_with(self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let deny = KbsError::PolicyDeny("x".into());
        assert_eq!(deny.status(Compat::Remits), StatusCode::FORBIDDEN);
        assert_eq!(deny.status(Compat::Trustee), StatusCode::UNAUTHORIZED);
        let nf = KbsError::NotFound("a/b/c".into());
        assert_eq!(nf.status(Compat::Remits), StatusCode::NOT_FOUND);
        assert_eq!(nf.status(Compat::Trustee), StatusCode::UNAUTHORIZED);
        assert_eq!(
            KbsError::TokenNotFound.info().error_type,
            "https://github.com/confidential-containers/kbs/errors/TokenNotFound"
        );
        assert_eq!(
            KbsError::Internal("secret detail".into()).info().detail,
            "internal error"
        );
    }
}
