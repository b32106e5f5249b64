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
    /// A field could not be read at its place in the report layout. The length is checked first,
    /// so this names a layout that does not add up to 1184 bytes: it cannot come from input.
    #[error("report layout: {0}")]
    ReportLayout(#[from] remits_codec::Error),
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
            Error::ReportLength { .. } | Error::ReportLayout(_) | Error::UnsupportedVersion(_) => {
                "snp.report_format"
            }
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

/// `t` in RFC 3339 form, UTC (`2024-05-01T12:34:56Z`, `2024-05-01T12:34:56.25Z`): the fraction
/// only if non-zero, without trailing zeros (as the `time` crate writes it). For error messages.
/// Total: a year outside 0000–9999 is written with its sign (`+10000-01-01T00:00:00Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    const NANOS: u32 = 1_000_000_000;
    let (secs, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (i128::from(d.as_secs()), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-i128::from(d.as_secs()), 0),
                n => (-i128::from(d.as_secs()) - 1, NANOS - n),
            }
        }
    };
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (hour, minute, second) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let mut out = if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")
    } else {
        format!("{year:+}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")
    };
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Proleptic Gregorian (year, month, day) of `days` since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i128::from(month <= 2);
    // Both are in range by construction (see the bounds above).
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::rfc3339;

    /// The same text as the `time` crate's RFC 3339 formatter (what this crate used before),
    /// across leap years, century rules, both sides of the epoch and every fraction length.
    #[test]
    fn rfc3339_matches_time_crate() {
        let fmt = &time::format_description::well_known::Rfc3339;
        let mut cases: Vec<SystemTime> = Vec::new();
        let epoch = SystemTime::UNIX_EPOCH;
        // Every day from 1599 to 2401 (both ways from the epoch), at varying times of day.
        for day in -135_000i64..157_000 {
            let secs = day * 86_400 + (day.rem_euclid(86_400) * 7919) % 86_400;
            let nanos =
                [0u32, 1, 10, 500_000_000, 123_456_789, 999_999_999][day.rem_euclid(6) as usize];
            let t = if secs >= 0 {
                epoch + Duration::new(secs as u64, nanos)
            } else {
                epoch - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
            };
            cases.push(t);
        }
        cases.push(epoch);
        cases.push(epoch - Duration::new(0, 1));
        cases.push(epoch + Duration::from_secs(253_402_300_799)); // 9999-12-31T23:59:59Z
        for t in cases {
            let want = time::OffsetDateTime::from(t).format(fmt).expect("in range");
            assert_eq!(rfc3339(t), want, "{t:?}");
        }
    }

    #[test]
    fn rfc3339_outside_four_digit_years() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(rfc3339(t), "+10000-01-01T00:00:00Z");
    }
}
