//! The one error type of this crate: every variant names the check that failed.

use std::time::SystemTime;

use crate::{CrlKind, Generation, Signer};

/// Which certificate of the endorsement chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// AMD Root Key (self-signed trust anchor).
    Ark,
    /// AMD SEV Key: signs VCEKs.
    Ask,
    /// AMD SEV VLEK Key: signs VLEKs.
    Asvk,
    /// Versioned Chip Endorsement Key (leaf).
    Vcek,
    /// Versioned Loaded Endorsement Key (leaf).
    Vlek,
    /// A certificate whose role is not known yet (while parsing).
    Unknown,
}

impl std::fmt::Display for CertRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertRole::Ark => "ARK",
            CertRole::Ask => "ASK",
            CertRole::Asvk => "ASVK",
            CertRole::Vcek => "VCEK",
            CertRole::Vlek => "VLEK",
            // Messages read "<role> certificate: ...": an unknown role must not repeat the noun.
            CertRole::Unknown => "unidentified",
        })
    }
}

/// Why a report or its endorsement was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The report is not exactly 1184 bytes.
    #[error("report length: expected {expected} bytes, got {actual}")]
    ReportLength {
        /// 1184.
        expected: usize,
        /// Received length.
        actual: usize,
    },
    /// The report VERSION is not 2, 3, 4 or 5.
    #[error("report version {0} is not supported (2, 3, 4 or 5)")]
    UnsupportedVersion(u32),
    /// SIGNATURE_ALGO is not 1 (ECDSA P-384 with SHA-384).
    #[error("signature_algo: expected 1 (ECDSA P-384/SHA-384), got {0}")]
    SignatureAlgo(u32),
    /// KEY_INFO.SIGNING_KEY says the report is not signed (7) or names an unknown key.
    #[error("key_info.signing_key {0}: report not signed by a VCEK (0) or VLEK (1)")]
    SigningKey(u8),
    /// The CPUID family/model of a v3+ report is not a known SNP generation.
    #[error("cpuid family {family:#x} model {model:#x} is not a supported SNP generation")]
    UnknownCpu {
        /// CPUID_FAM_ID.
        family: u8,
        /// CPUID_MOD_ID.
        model: u8,
    },
    /// A v2 report without CPUID, no generation given and none derivable from the certificate.
    #[error("generation unknown: a v2 report needs --generation or a VCEK/VLEK that names it")]
    GenerationUnknown,
    /// Two sources of the CPU generation disagree.
    #[error("generation: {source_a} says {a}, {source_b} says {b}")]
    GenerationMismatch {
        /// First source (e.g. "report CPUID").
        source_a: &'static str,
        /// Its generation.
        a: Generation,
        /// Second source (e.g. "VCEK productName").
        source_b: &'static str,
        /// Its generation or text.
        b: String,
    },
    /// A certificate is not well-formed DER X.509 (or PEM).
    #[error("{role} certificate: malformed: {reason}")]
    CertParse {
        /// Which certificate.
        role: CertRole,
        /// Parser message.
        reason: String,
    },
    /// A certificate does not follow AMD's profile (algorithm, key, names, extensions).
    #[error("{role} certificate: {reason}")]
    CertProfile {
        /// Which certificate.
        role: CertRole,
        /// What is wrong.
        reason: String,
    },
    /// The chain needs a certificate that is neither supplied nor built in.
    #[error("chain incomplete: no {0} certificate supplied or built in")]
    ChainIncomplete(CertRole),
    /// The root of the supplied chain is not a trusted anchor.
    #[error("untrusted root: ARK with SHA-256 {fingerprint} is not AMD's pinned ARK nor an explicit trust anchor")]
    UntrustedRoot {
        /// SHA-256 of the offered root's DER (lowercase hex).
        fingerprint: String,
    },
    /// An RSA-PSS certificate signature does not verify.
    #[error("signature of the {subject} certificate by the {issuer} does not verify")]
    CertSignature {
        /// Signed certificate.
        subject: CertRole,
        /// Signer.
        issuer: CertRole,
    },
    /// A certificate is not valid at the verification time.
    #[error("{role} certificate not valid at {time}: valid {not_before} to {not_after}")]
    CertValidity {
        /// Which certificate.
        role: CertRole,
        /// Verification time (RFC 3339).
        time: String,
        /// notBefore (RFC 3339).
        not_before: String,
        /// notAfter (RFC 3339).
        not_after: String,
    },
    /// The leaf kind does not match KEY_INFO.SIGNING_KEY.
    #[error("signing key: report says {report}, certificate is a {cert}")]
    LeafKind {
        /// From the report.
        report: Signer,
        /// From the certificate.
        cert: String,
    },
    /// An SPL extension of the leaf differs from the report's REPORTED_TCB.
    #[error("reported_tcb.{field}: report has {report}, certificate SPL is {cert}")]
    TcbMismatch {
        /// TCB component.
        field: &'static str,
        /// Value in REPORTED_TCB.
        report: u8,
        /// Value in the certificate.
        cert: u8,
    },
    /// The VCEK hwID does not equal the report CHIP_ID.
    #[error("chip_id: report {report} does not match VCEK hwID {cert}")]
    ChipIdMismatch {
        /// Report CHIP_ID (hex).
        report: String,
        /// VCEK hwID (hex).
        cert: String,
    },
    /// The report's ECDSA P-384 signature does not verify under the leaf key.
    #[error("report signature does not verify under the {0} public key")]
    ReportSignature(Signer),
    /// The report's signature field is malformed (non-zero high bytes, zero or out-of-range scalars).
    #[error("report signature malformed: {0}")]
    SignatureFormat(&'static str),
    /// REPORT_DATA differs from the expected value.
    #[error("report_data: expected {expected}, report has {actual}")]
    ReportDataMismatch {
        /// Expected (hex, zero-padded to 64 bytes).
        expected: String,
        /// Actual (hex).
        actual: String,
    },
    /// HOST_DATA differs from the expected value.
    #[error("host_data: expected {expected}, report has {actual}")]
    HostDataMismatch {
        /// Expected (hex, zero-padded to 32 bytes).
        expected: String,
        /// Actual (hex).
        actual: String,
    },
    /// An expected value given by the caller is longer than the report field.
    #[error("expected {field} is {len} bytes, longer than the {max}-byte field")]
    ExpectedTooLong {
        /// Field name.
        field: &'static str,
        /// Given length.
        len: usize,
        /// Field size.
        max: usize,
    },
    /// A certificate in the chain is listed as revoked by AMD's CRL (check `crl`).
    #[error("crl: {role} serial {serial} is revoked by the ARK's {kind} CRL")]
    Revoked {
        /// Which certificate (ASK, ASVK, VCEK or VLEK).
        role: CertRole,
        /// Serial number (hex, as in the certificate).
        serial: String,
        /// The CRL that lists it.
        kind: CrlKind,
    },
    /// The CRL check is required (fail-closed) but no verified CRL of the chain's ARK and kind
    /// is held.
    #[error("crl: unavailable: {0}")]
    CrlUnavailable(String),
    /// The CRL check is required (fail-closed) and the held CRL of the chain's ARK and kind is
    /// stale (nextUpdate passed, or thisUpdate older than the maximum CRL age).
    #[error("crl: the {kind} CRL is stale: {reason}")]
    CrlStale {
        /// Which list.
        kind: CrlKind,
        /// Why it is stale.
        reason: String,
    },
    /// A CRL is malformed, not signed by a trusted ARK, dated in the future, or not the kind
    /// it was given as.
    #[error("crl: invalid: {0}")]
    CrlInvalid(String),
    /// Reading or parsing a file of evidence, certificates or cache failed.
    #[error("{what}: {reason}")]
    Input {
        /// What was being read.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The KDS answered HTTP 429 and asked to wait longer than allowed (or the retries ran out);
    /// no request is sent to it until the wait has passed.
    #[cfg(feature = "kds")]
    #[error("KDS rate limit (HTTP 429) for {url}: retry after {retry_after_secs} s")]
    KdsRateLimited {
        /// The URL requested.
        url: String,
        /// Seconds to wait (from `Retry-After`).
        retry_after_secs: u64,
    },
    /// The KDS answered with an HTTP error status.
    #[cfg(feature = "kds")]
    #[error("KDS answered HTTP {status} for {url}")]
    KdsHttp {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The KDS could not be reached or its answer could not be read.
    #[cfg(feature = "kds")]
    #[error("KDS unavailable for {url}: {reason}")]
    KdsUnavailable {
        /// The URL requested.
        url: String,
        /// Transport error.
        reason: String,
    },
    /// Offline mode, and the directory does not hold the certificate or CRL.
    #[cfg(feature = "kds")]
    #[error("KDS offline: {path} not in the certificate directory")]
    KdsNotCached {
        /// The file looked for.
        path: String,
    },
    /// What was asked cannot be fetched from the KDS at all.
    #[cfg(feature = "kds")]
    #[error("KDS: {0}")]
    KdsNotFetchable(&'static str),
}

impl Error {
    /// A stable, short name of the check that failed (`snp.<check>`), for denials shown to a
    /// client and for metrics. The message ([`std::fmt::Display`]) says why.
    pub fn check(&self) -> &'static str {
        match self {
            Error::ReportLength { .. } | Error::UnsupportedVersion(_) => "snp.report_format",
            Error::SignatureAlgo(_) | Error::SigningKey(_) | Error::SignatureFormat(_) => {
                "snp.report_format"
            }
            Error::UnknownCpu { .. }
            | Error::GenerationUnknown
            | Error::GenerationMismatch { .. } => "snp.generation",
            Error::CertParse { .. } | Error::CertProfile { .. } | Error::LeafKind { .. } => {
                "snp.certificate_profile"
            }
            Error::ChainIncomplete(_) => "snp.chain_incomplete",
            Error::UntrustedRoot { .. } => "snp.root",
            Error::CertSignature { .. } => "snp.chain_signature",
            Error::CertValidity { .. } => "snp.certificate_validity",
            Error::TcbMismatch { .. } => "snp.reported_tcb",
            Error::ChipIdMismatch { .. } => "snp.chip_id",
            Error::ReportSignature(_) => "snp.report_signature",
            Error::ReportDataMismatch { .. } | Error::ExpectedTooLong { .. } => "snp.report_data",
            Error::HostDataMismatch { .. } => "snp.host_data",
            Error::Revoked { .. } => "snp.crl_revoked",
            Error::CrlUnavailable(_) | Error::CrlInvalid(_) | Error::CrlStale { .. } => "snp.crl",
            Error::Input { .. } => "snp.input",
            #[cfg(feature = "kds")]
            Error::KdsRateLimited { .. }
            | Error::KdsHttp { .. }
            | Error::KdsUnavailable { .. }
            | Error::KdsNotCached { .. }
            | Error::KdsNotFetchable(_) => "snp.kds",
        }
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{odt}"))
}
