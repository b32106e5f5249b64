//! The crate's error type.
use remits_policy::Explanation;

/// Why an attestation or a token check failed.
///
/// Deliberately not `#[non_exhaustive]`: every edge (HTTP status, exit code, KBS wire body)
/// maps it in one exhaustive `match`, so a new variant is a compile error there rather than a
/// silent fall-through.
#[derive(Debug, thiserror::Error)]
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
    #[error("{tee} evidence rejected: {}: {source}", .source.check())]
    EvidenceRejected {
        /// TEE name.
        tee: String,
        /// The failed check, typed as the leaf crate reported it.
        source: Box<EvidenceError>,
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
    /// A mandatory piece of an [`crate::AttestationServiceBuilder`] was not given.
    #[error("attestation service: no {0} given")]
    Missing(crate::ServicePart),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] remits_store::StoreError),
    /// Anything else that is not the caller's fault.
    #[error("internal: {0}")]
    Internal(String),
}

/// Why a driver rejected evidence: the leaf crate's own error, kept typed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// remits-snp rejected the report or its endorsement.
    #[error(transparent)]
    Snp(#[from] remits_snp::Error),
    /// remits-tpm rejected the quote, event log or Azure evidence.
    #[error(transparent)]
    Tpm(#[from] remits_tpm::Error),
    /// The evidence document is malformed (the message names the field).
    #[error("{0}")]
    Format(String),
    /// The evidence verified but is signed by a key the configuration does not trust (a TPM
    /// attestation key that is not in `trusted_aks`).
    #[error("{0}")]
    UntrustedKey(String),
}

impl EvidenceError {
    /// A stable, short name of the failed check (`snp.report_signature`, `tpm.nonce`, ...),
    /// shown in denials.
    pub fn check(&self) -> &'static str {
        match self {
            EvidenceError::Snp(e) => e.check(),
            EvidenceError::Tpm(e) => e.check(),
            EvidenceError::Format(_) => "evidence.format",
            EvidenceError::UntrustedKey(_) => "evidence.untrusted_key",
        }
    }
}

impl Error {
    /// `EvidenceRejected` for `tee` from any leaf error.
    pub fn rejected(tee: &str, source: impl Into<EvidenceError>) -> Self {
        Error::EvidenceRejected {
            tee: tee.to_string(),
            source: Box::new(source.into()),
        }
    }

    /// `EvidenceRejected` for a malformed evidence document.
    pub fn malformed(tee: &str, reason: impl Into<String>) -> Self {
        Error::rejected(tee, EvidenceError::Format(reason.into()))
    }

    /// The name of the failed check, when the evidence or a binding was rejected.
    pub fn check(&self) -> Option<&'static str> {
        match self {
            Error::EvidenceRejected { source, .. } => Some(source.check()),
            Error::Binding { what, .. } => Some(match *what {
                "init_data" => "binding.init_data",
                _ => "binding.report_data",
            }),
            _ => None,
        }
    }

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
