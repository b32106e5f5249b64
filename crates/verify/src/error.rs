//! The crate's error type.
use remits_policy::Explanation;

/// Why an attestation or a token check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request itself is malformed (unknown TEE, bad JSON shape, bad hex, ...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The TEE is known but refused by configuration (e.g. `sample` without `allow_sample`).
    #[error("TEE {tee} is not enabled: {reason}")]
    TeeDisabled {
        /// TEE name.
        tee: String,
        /// Why / how to enable it.
        reason: String,
    },
    /// The evidence failed verification (signature, chain, structure, ...).
    #[error("{tee} evidence rejected: {reason}")]
    EvidenceRejected {
        /// TEE name.
        tee: String,
        /// The failed check.
        reason: String,
    },
    /// The evidence does not carry the expected runtime-data or init-data binding.
    #[error("{tee} binding mismatch: {what}: expected {expected}, evidence has {actual}")]
    Binding {
        /// TEE name.
        tee: String,
        /// `report_data` or `init_data`.
        what: &'static str,
        /// Expected value (hex).
        expected: String,
        /// Value in the evidence (hex).
        actual: String,
    },
    /// The policy ran and did not affirm.
    #[error("policy denied: {}", .0.summary())]
    PolicyDenied(Box<Explanation>),
    /// The policy could not be parsed or evaluated.
    #[error("policy: {0}")]
    Policy(#[from] remits_policy::Error),
    /// Reference values or a manifest are malformed or unsigned where a signature is required.
    #[error("reference values: {0}")]
    ReferenceValues(String),
    /// An EAR token failed verification.
    #[error("token: {0}")]
    Token(String),
    /// Configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] remits_store::StoreError),
    /// Anything else that is not the caller's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// True when the evidence or the policy rejected the attester (as opposed to a bad request
    /// or an internal failure).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::EvidenceRejected { .. } | Error::Binding { .. } | Error::PolicyDenied(_)
        )
    }

    /// The explanation, when the policy denied.
    pub fn explanation(&self) -> Option<&Explanation> {
        match self {
            Error::PolicyDenied(e) => Some(e),
            _ => None,
        }
    }
}
