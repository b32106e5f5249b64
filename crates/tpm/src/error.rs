//! The one error type of this crate. Every variant names the structure, field or check that
//! failed and, where it helps, the expected and actual values.

/// Why a TPM structure, quote, event log or Azure vTPM evidence was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a field could be read, or bytes remain after a structure that must
    /// fill its input exactly: [`remits_codec::Error`] names the structure, the field and the
    /// byte offset.
    #[error(transparent)]
    Layout(#[from] remits_codec::Error),
    /// A field holds a value this parser does not accept.
    #[error("{structure}.{field} at byte {offset}: {reason}")]
    Invalid {
        /// Structure being parsed.
        structure: &'static str,
        /// Offending field.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A TPM algorithm identifier that is unknown or not allowed where it appears.
    #[error("{field}: algorithm 0x{alg:04x} is not supported here")]
    UnsupportedAlgorithm {
        /// Where the algorithm appeared.
        field: &'static str,
        /// TPM_ALG_ID.
        alg: u16,
    },
    /// A public key (PEM, SubjectPublicKeyInfo, JWK or TPM2B_PUBLIC) that cannot be used.
    #[error("attestation key: {0}")]
    Key(String),
    /// Quote check 1: the signature scheme or hash is not the one the key allows.
    #[error(
        "quote check 1 (signature scheme): the key allows {allowed}, the signature uses {actual}"
    )]
    SchemeNotAllowed {
        /// What the key allows.
        allowed: String,
        /// What the signature uses.
        actual: String,
    },
    /// Quote check 1: the hash algorithm is not on the allow-list (SHA-256, SHA-384, SHA-512).
    #[error("quote check 1 (hash allow-list): {alg} is not allowed for quote signatures")]
    HashNotAllowed {
        /// The rejected hash.
        alg: String,
    },
    /// Quote check 1: the signature does not verify under the attestation key.
    #[error(
        "quote check 1 (signature): the {what} signature does not verify under the attestation key"
    )]
    BadSignature {
        /// What was signed ("TPMS_ATTEST").
        what: &'static str,
    },
    /// Quote check 3: extraData is not the expected nonce.
    #[error(
        "quote check 3 (nonce): extraData {actual} does not equal the expected nonce {expected}"
    )]
    NonceMismatch {
        /// Expected nonce (hex).
        expected: String,
        /// The quote's extraData (hex).
        actual: String,
    },
    /// Quote check 4: the quoted PCR selection differs from the PCRs supplied.
    #[error("quote check 4 (PCR selection): the quote selects {quoted}, the supplied values cover {supplied}")]
    PcrSelectionMismatch {
        /// The selection in TPMS_ATTEST.
        quoted: String,
        /// The selection the supplied values claim.
        supplied: String,
    },
    /// Quote check 5: the digest of the supplied PCR values differs from pcrDigest.
    #[error(
        "quote check 5 (PCR digest): pcrDigest is {quoted}, the supplied values hash to {computed}"
    )]
    PcrDigestMismatch {
        /// pcrDigest from the quote (hex).
        quoted: String,
        /// Digest of the supplied values (hex).
        computed: String,
    },
    /// Quote check 6: the TPM2B_PUBLIC is not a restricted signing key.
    #[error("quote check 6 (AK attributes): objectAttributes 0x{attributes:08x} {reason}")]
    NotRestrictedSigningKey {
        /// objectAttributes.
        attributes: u32,
        /// Which attribute is wrong.
        reason: String,
    },
    /// Two descriptions of the attestation key disagree.
    #[error("attestation key mismatch: {0}")]
    AkMismatch(String),
    /// Supplied PCR values are malformed (wrong length, index, bank).
    #[error("PCR values: {0}")]
    PcrValues(String),
    /// An event log's replayed PCR differs from the quoted value.
    #[error("event log: {bank} PCR{pcr} replays to {replayed} but the quote has {quoted} ({events} events, last is event #{last_event}{last_type})")]
    ReplayMismatch {
        /// Bank name.
        bank: String,
        /// PCR index.
        pcr: u32,
        /// Replayed value (hex).
        replayed: String,
        /// Quoted value (hex).
        quoted: String,
        /// Events that extended this PCR.
        events: usize,
        /// Index (in the log) of the last event that extended this PCR.
        last_event: usize,
        /// The last event's type name, with a leading ", ".
        last_type: String,
    },
    /// A quoted PCR the event log does not account for, or a logged PCR the quote does not cover.
    #[error("event log: {bank} PCR{pcr}: {reason}")]
    ReplayCoverage {
        /// Bank name.
        bank: String,
        /// PCR index.
        pcr: u32,
        /// What is missing.
        reason: String,
    },
    /// An event log that cannot be parsed or replayed.
    #[error("event log event #{event} at byte {offset}: {reason}")]
    EventLog {
        /// Event index (0 = first record).
        event: usize,
        /// Byte offset of the record.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// HCL report header or IGVM request data.
    #[error("HCL report {field}: expected {expected}, found {actual}")]
    HclField {
        /// Field name.
        field: &'static str,
        /// Expected value.
        expected: String,
        /// Actual value.
        actual: String,
    },
    /// The HCL runtime claims cannot be used.
    #[error("HCL runtime claims: {0}")]
    RuntimeClaims(String),
    /// Azure binding: SNP report_data does not commit to the runtime claims.
    #[error("Azure binding: SNP report_data {field} is {actual}, expected {expected}")]
    ReportDataBinding {
        /// Which part of report_data.
        field: &'static str,
        /// Expected (hex).
        expected: String,
        /// Actual (hex).
        actual: String,
    },
    /// Azure binding: the SNP report was not produced at VMPL 0.
    #[error("Azure binding: SNP report VMPL is {0}, the paravisor must report at VMPL 0")]
    Vmpl(u32),
    /// Azure v2 binding: HCL user-data does not start with the nonce.
    #[error("Azure binding: HCL user-data does not start with the expected nonce ({0})")]
    UserData(String),
    /// The SNP report inside the HCL report did not verify.
    #[error("SNP report: {0}")]
    Snp(#[from] remits_snp::Error),
    /// Evidence JSON that is malformed or of an unknown version.
    #[error("evidence: {0}")]
    Evidence(String),
}

impl Error {
    /// A stable, short name of the check that failed (`tpm.<check>`, `az.<check>`, or the SNP
    /// report's own check name), for denials shown to a client. The message says why.
    pub fn check(&self) -> &'static str {
        match self {
            Error::Layout(_) | Error::Invalid { .. } | Error::UnsupportedAlgorithm { .. } => {
                "tpm.structure"
            }
            Error::Key(_) | Error::NotRestrictedSigningKey { .. } => "tpm.ak",
            Error::AkMismatch(_) => "tpm.ak",
            Error::SchemeNotAllowed { .. } | Error::HashNotAllowed { .. } => "tpm.quote_scheme",
            Error::BadSignature { .. } => "tpm.quote_signature",
            Error::NonceMismatch { .. } => "tpm.nonce",
            Error::PcrSelectionMismatch { .. } | Error::PcrValues(_) => "tpm.pcr_selection",
            Error::PcrDigestMismatch { .. } => "tpm.pcr_digest",
            Error::ReplayMismatch { .. } | Error::ReplayCoverage { .. } => "tpm.event_log_replay",
            Error::EventLog { .. } => "tpm.event_log",
            Error::HclField { .. } | Error::RuntimeClaims(_) => "az.hcl_report",
            Error::ReportDataBinding { .. } => "az.runtime_claims_binding",
            Error::Vmpl(_) => "az.vmpl",
            Error::UserData(_) => "az.user_data",
            Error::Snp(e) => e.check(),
            Error::Evidence(_) => "tpm.evidence_format",
        }
    }
}

/// Lowercase hex, for error values.
pub(crate) fn hx(b: &[u8]) -> String {
    hex::encode(b)
}
