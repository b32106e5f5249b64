//! What the evidence must be bound to: an explicit, required value of every appraisal.
//!
//! A verifier that signs a token vouches for everything in it. The TEE key and nonce of the
//! KBS runtime data are only worth signing when the evidence carries their digest, so the
//! caller says, every time, which binding it wants:
//!
//! - [`Binding::RuntimeData`]: the KBS runtime data. Its SHA-384 over RFC 8785 canonical JSON
//!   must be in the evidence's report-data field (fitted to each TEE); its `tee-pubkey` and
//!   `nonce` become the token's `runtime_data_claims`.
//! - [`Binding::ReportData`]: an explicit value (the raw quote nonce, a report's REPORT_DATA),
//!   compared as given. No key or nonce claim is signed.
//! - [`Binding::Unchecked`]: nothing is compared. It must be spelled out; the token records
//!   `remits_binding.kind = "unchecked"` and the shipped production policy denies it.
//!
//! [`Binding::from_parts`] turns the two optional inputs of a request (runtime data and report
//! data) into one binding, refusing a request whose two values disagree.
use remits_evidence::binding::{fit, HashAlg, RuntimeData};

use crate::Error;

/// The binding an appraisal checks. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// KBS runtime data: its digest must be in the evidence; its key and nonce are signed.
    RuntimeData(RuntimeData),
    /// Explicit report data (1 to 64 bytes), compared as given.
    ReportData(Vec<u8>),
    /// Not bound: recorded in the token and denied by the shipped production policy.
    Unchecked,
}

/// Largest explicit report data (the SNP REPORT_DATA field).
pub const MAX_REPORT_DATA: usize = 64;

impl Binding {
    /// The binding a request asks for, from its optional runtime data and report data.
    ///
    /// - runtime data alone: [`Binding::RuntimeData`];
    /// - report data alone: [`Binding::ReportData`];
    /// - both: the report data must be the runtime data's SHA-384 digest as one of the TEE
    ///   fields holds it (48 bytes, zero-padded to 64, or truncated to 32); the binding is then
    ///   [`Binding::RuntimeData`]. Anything else is [`Error::BadRequest`]: a request must not
    ///   get a key signed that the evidence does not carry;
    /// - neither: [`Error::BadRequest`] unless `unchecked` is true (the caller spelled it out).
    ///
    /// # Errors
    ///
    /// [`Error::BadRequest`] in the cases above, for report data longer than 64 bytes, and for
    /// `unchecked` together with runtime or report data.
    pub fn from_parts(
        runtime_data: Option<RuntimeData>,
        report_data: Option<Vec<u8>>,
        unchecked: bool,
    ) -> Result<Self, Error> {
        if unchecked && (runtime_data.is_some() || report_data.is_some()) {
            return Err(Error::BadRequest(
                "an unchecked binding cannot also carry runtime data or report data".into(),
            ));
        }
        match (runtime_data, report_data) {
            (Some(rd), None) => Ok(Binding::RuntimeData(rd)),
            (None, Some(d)) => {
                check_report_data_len(&d)?;
                Ok(Binding::ReportData(d))
            }
            (Some(rd), Some(d)) => {
                check_report_data_len(&d)?;
                let digest = rd
                    .digest(HashAlg::Sha384)
                    .map_err(|e| Error::BadRequest(format!("runtime_data: {e}")))?;
                let consistent = [32usize, 48, 64]
                    .iter()
                    .any(|&n| d.len() == n && fit(&digest, n) == d);
                if consistent {
                    Ok(Binding::RuntimeData(rd))
                } else {
                    Err(Error::BadRequest(format!(
                        "report_data {} is not the runtime data's SHA-384 digest {}: give one \
                         of them, or both consistent",
                        hex::encode(&d),
                        hex::encode(&digest)
                    )))
                }
            }
            (None, None) if unchecked => Ok(Binding::Unchecked),
            (None, None) => Err(Error::BadRequest(
                "no binding: give runtime data or report data, or ask for an unchecked \
                 binding explicitly (the production policy denies it)"
                    .into(),
            )),
        }
    }

    /// The name recorded in the token (`remits_binding.kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Binding::RuntimeData(_) => "runtime-data",
            Binding::ReportData(_) => "report-data",
            Binding::Unchecked => "unchecked",
        }
    }
}

fn check_report_data_len(d: &[u8]) -> Result<(), Error> {
    if d.is_empty() || d.len() > MAX_REPORT_DATA {
        return Err(Error::BadRequest(format!(
            "report_data: {} bytes, expected 1 to {MAX_REPORT_DATA}",
            d.len()
        )));
    }
    Ok(())
}

/// What a driver must compare the evidence's report-data field with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportDataCheck {
    /// The runtime-data digest (SHA-384, 48 bytes); each driver fits it to its TEE's field
    /// (snp: zero-padded to 64 bytes, tpm: truncated to 32, az-snp-vtpm: the 48 bytes).
    Digest(Vec<u8>),
    /// An explicit value, compared as given (snp: zero-padded to 64 bytes).
    Exact(Vec<u8>),
    /// Nothing to compare (the binding is [`Binding::Unchecked`]).
    Unchecked,
}

impl ReportDataCheck {
    /// The expected bytes before fitting, if any.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            ReportDataCheck::Digest(d) | ReportDataCheck::Exact(d) => Some(d),
            ReportDataCheck::Unchecked => None,
        }
    }

    /// Whether a comparison is required.
    pub fn is_checked(&self) -> bool {
        !matches!(self, ReportDataCheck::Unchecked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rd() -> RuntimeData {
        RuntimeData {
            nonce: "bm9uY2U=".into(),
            tee_pubkey: json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
                "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
                "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}),
            additional_evidence: String::new(),
        }
    }

    #[test]
    fn both_must_agree() {
        let digest = rd().digest(HashAlg::Sha384).unwrap();
        for n in [32, 48, 64] {
            let b = Binding::from_parts(Some(rd()), Some(fit(&digest, n)), false).unwrap();
            assert_eq!(b.kind(), "runtime-data");
        }
        // Another value (e.g. a replayed report's own REPORT_DATA) is refused, not ignored.
        let err = Binding::from_parts(Some(rd()), Some(vec![7u8; 64]), false).unwrap_err();
        assert!(matches!(err, Error::BadRequest(_)), "{err}");
        // A prefix that is not one of the TEE forms is refused too.
        let err = Binding::from_parts(Some(rd()), Some(digest[..16].to_vec()), false);
        assert!(err.is_err());
    }

    #[test]
    fn unchecked_must_be_spelled_out() {
        assert!(matches!(
            Binding::from_parts(None, None, false),
            Err(Error::BadRequest(_))
        ));
        assert_eq!(
            Binding::from_parts(None, None, true).unwrap(),
            Binding::Unchecked
        );
        assert!(Binding::from_parts(None, Some(vec![1]), true).is_err());
        assert!(Binding::from_parts(None, Some(vec![]), false).is_err());
        assert!(Binding::from_parts(None, Some(vec![0; 65]), false).is_err());
    }
}
