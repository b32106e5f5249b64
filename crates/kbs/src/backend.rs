//! What the server needs from attestation and policy, as one small trait.
//!
//! The production implementation is [`remits_verify::AttestationService`] (its adapter lives in
//! the crate's private `verify_backend` module); tests and the fuzz target can plug in their own.

use remits_evidence::binding::RuntimeData;
use remits_evidence::initdata::InitData;
use remits_evidence::TeeKind;
use serde_json::Value;

/// Input of one attestation.
#[derive(Clone, Debug)]
pub struct AttestInput {
    /// TEE of the session.
    pub tee: TeeKind,
    /// `tee-evidence.primary_evidence`.
    pub evidence: Value,
    /// Runtime data to bind (nonce, tee-pubkey as sent, additional evidence string).
    pub runtime_data: RuntimeData,
    /// Init-data, if sent.
    pub init_data: Option<InitData>,
}

/// Result of a successful attestation.
#[derive(Clone, Debug)]
pub struct AttestOutput {
    /// The EAR JWT.
    pub token: String,
    /// Its verified claims.
    pub claims: Value,
}

/// Failures of the attestation backend: the verifier's own typed error, kept up to the HTTP
/// edge, where [`crate::error::KbsError`] maps it to a status and trustee's error body in one
/// exhaustive `match`.
pub use remits_verify::Error as BackendError;

/// Attestation, token verification and policy, as the broker uses them.
#[async_trait::async_trait]
pub trait AttestationBackend: Send + Sync + 'static {
    /// Verifies evidence bound to the runtime data, evaluates attestation policy, issues a token.
    /// Fails unless the appraisal is affirming.
    async fn attest(&self, input: AttestInput) -> Result<AttestOutput, BackendError>;
    /// Like [`AttestationBackend::attest`], but returns the token whatever the appraisal
    /// status (trustee's behaviour: the resource policy decides). Evidence that does not
    /// verify is still an error. The default refuses non-affirming results like `attest`.
    async fn appraise(&self, input: AttestInput) -> Result<AttestOutput, BackendError> {
        self.attest(input).await
    }
    /// Verifies a token issued by this (or a trusted) service; returns its claims.
    ///
    /// # Errors
    ///
    /// A token error when the signature, issuer or expiry does not verify.
    fn verify_token(&self, token: &str) -> Result<Value, BackendError>;
    /// The TEE public key JWK a token's claims are bound to.
    fn tee_pubkey(&self, claims: &Value) -> Option<Value>;
    /// Evaluates the resource policy for `path` (`repo/type/tag`).
    async fn allow_resource(&self, claims: &Value, path: &str) -> Result<bool, BackendError>;
    /// Replaces attestation policy `id` with Rego text.
    async fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<(), BackendError>;
    /// Replaces the resource policy with Rego text.
    async fn set_resource_policy(&self, rego: &str) -> Result<(), BackendError>;
    /// Registers reference values (trustee sample message or signed remits-measure manifest).
    async fn register_reference_values(&self, body: &[u8]) -> Result<(), BackendError>;
    /// Appraises SEV pre-launch claims (the measurement already verified) with the attestation
    /// policy. The default refuses: a backend without a policy engine never releases a launch
    /// secret.
    async fn appraise_sev_launch(
        &self,
        claims: serde_json::Map<String, Value>,
    ) -> Result<remits_verify::SevAppraisal, BackendError> {
        let _ = claims;
        Err(BackendError::TeeDisabled {
            tee: "sev".into(),
            reason: "this backend has no SEV pre-launch appraisal".into(),
        })
    }
    /// Validates a resource policy text under `id` without storing it. The default refuses.
    ///
    /// # Errors
    ///
    /// A policy error when the text does not compile; the default implementation always refuses.
    fn check_resource_policy(&self, id: &str, rego: &str) -> Result<(), BackendError> {
        let _ = (id, rego);
        Err(BackendError::BadRequest(
            "this backend cannot validate resource policies".into(),
        ))
    }
    /// The reference values in force now under `id` (`None` when there are none). The
    /// default knows none.
    async fn reference_value(&self, id: &str) -> Result<Option<Vec<Value>>, BackendError> {
        let _ = id;
        Ok(None)
    }
}

/// The JWK paths trustee searches for the TEE key in token claims, in order.
pub const TEE_PUBKEY_PATHS: [&str; 3] = [
    "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey",
    "/customized_claims/runtime_data/tee-pubkey",
    "/tee-pubkey",
];

/// Finds the TEE key in claims at trustee's paths (used when the backend offers no better way).
pub fn find_tee_pubkey(claims: &Value) -> Option<Value> {
    TEE_PUBKEY_PATHS
        .iter()
        .find_map(|p| claims.pointer(p))
        .filter(|v| v.is_object())
        .cloned()
}
