//! [`AttestationBackend`] over [`remits_verify::AttestationService`]: the broker's
//! production backend.

use std::sync::Arc;

use remits_verify::{AttestationRequest, AttestationService, Binding};
use serde_json::Value;

use crate::backend::{AttestInput, AttestOutput, AttestationBackend, BackendError};

/// The verify service as a KBS backend.
#[derive(Clone)]
pub struct VerifyBackend(pub Arc<AttestationService>);

impl std::fmt::Debug for VerifyBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyBackend")
    }
}

#[async_trait::async_trait]
impl AttestationBackend for VerifyBackend {
    async fn attest(&self, input: AttestInput) -> Result<AttestOutput, BackendError> {
        let a = self
            .0
            .attest(AttestationRequest {
                tee: input.tee,
                evidence: input.evidence,
                binding: Binding::RuntimeData(input.runtime_data),
                init_data: input.init_data,
            })
            .await?;
        Ok(AttestOutput {
            token: a.token,
            claims: a.claims,
        })
    }

    async fn appraise(&self, input: AttestInput) -> Result<AttestOutput, BackendError> {
        let binding = Binding::RuntimeData(input.runtime_data);
        let a = self
            .0
            .appraise(
                input.tee.as_str(),
                &input.evidence,
                &binding,
                input.init_data.as_ref(),
            )
            .await?;
        Ok(AttestOutput {
            token: a.token,
            claims: a.claims,
        })
    }

    async fn reference_value(&self, id: &str) -> Result<Option<Vec<Value>>, BackendError> {
        // The values in force on this broker (another replica's registration shows once this
        // one has refreshed, i.e. after its next attestation).
        Ok(self.0.reference_values().get(id).map(<[Value]>::to_vec))
    }

    fn verify_token(&self, token: &str) -> Result<Value, BackendError> {
        self.0.verify_token(token)
    }

    fn tee_pubkey(&self, claims: &Value) -> Option<Value> {
        remits_verify::token::tee_pubkey(claims)
    }

    async fn allow_resource(&self, claims: &Value, path: &str) -> Result<bool, BackendError> {
        let d = self.0.allow_resource(claims, path).await?;
        if !d.allow && !d.reasons.is_empty() {
            tracing::info!(reasons = ?d.reasons, "resource policy denied");
        }
        Ok(d.allow)
    }

    async fn set_attestation_policy(&self, id: &str, rego: &str) -> Result<(), BackendError> {
        self.0.set_attestation_policy(id, rego).await
    }

    async fn set_resource_policy(&self, rego: &str) -> Result<(), BackendError> {
        self.0.set_resource_policy(rego).await
    }

    async fn register_reference_values(&self, body: &[u8]) -> Result<(), BackendError> {
        self.0.register_reference_values(body).await
    }

    async fn appraise_sev_launch(
        &self,
        claims: serde_json::Map<String, Value>,
    ) -> Result<remits_verify::SevAppraisal, BackendError> {
        self.0.appraise_sev_launch(claims).await
    }

    fn check_resource_policy(&self, id: &str, rego: &str) -> Result<(), BackendError> {
        self.0.check_resource_policy(id, rego)
    }
}
