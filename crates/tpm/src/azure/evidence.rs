//! trustee's `az-snp-vtpm` evidence JSON, in its three forms, accepted as they stand.
//!
//! * V0 (no `version`): `{"quote":{"signature":[u8…],"message":[u8…],"pcrs":[[u8;32]…]},
//!   "report":[u8…] (the HCL report),"vcek":"<PEM>"}`;
//! * V1 (`"version":1`): `{"tpm_quote":{"signature":"<hex>","message":"<hex>","pcrs":["<hex>"…]},
//!   "hcl_report":"<base64url>","vcek":"<base64url DER>"}`;
//! * V2 (`"version":2`): V1's shape; the HCL `user-data` must also start with the nonce.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Largest evidence JSON accepted.
pub const MAX_EVIDENCE_JSON: usize = 1 << 20;

/// Azure SNP vTPM evidence, normalised from any trustee version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzSnpVtpmEvidence {
    /// 0, 1 or 2.
    pub version: u8,
    /// The raw RSASSA signature over `message`.
    pub signature: Vec<u8>,
    /// TPMS_ATTEST.
    pub message: Vec<u8>,
    /// SHA-256 PCRs 0..n.
    pub pcrs: Vec<Vec<u8>>,
    /// The HCL report.
    pub hcl_report: Vec<u8>,
    /// VCEK (DER) and any further certificates that came with it (DER).
    pub vcek: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V0 {
    quote: V0Quote,
    report: Vec<u8>,
    vcek: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct V0Quote {
    signature: Vec<u8>,
    message: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct V12 {
    version: u8,
    tpm_quote: V12Quote,
    hcl_report: String,
    vcek: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct V12Quote {
    signature: String,
    message: String,
    pcrs: Vec<String>,
}

fn ev(msg: impl Into<String>) -> Error {
    Error::Evidence(msg.into())
}

fn b64url(field: &str, s: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .map_err(|e| ev(format!("{field}: base64url: {e}")))
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, Error> {
    hex::decode(s.trim()).map_err(|e| ev(format!("{field}: hex: {e}")))
}

/// DER certificates from PEM text: one to eight CERTIFICATE blocks, strict RFC 7468, text
/// between blocks ignored (see [`remits_codec::pem::split_bundle`]).
///
/// # Errors
///
/// [`Error::Evidence`] when the text holds no certificate block, more than eight, another
/// label, or a block that is not strict RFC 7468 base64.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, Error> {
    let out = remits_codec::pem::split_bundle(pem, "CERTIFICATE", 8)
        .map_err(|e| ev(format!("vcek: {e}")))?;
    if out.is_empty() {
        return Err(ev("vcek: no certificate"));
    }
    Ok(out)
}

impl AzSnpVtpmEvidence {
    /// Parse trustee evidence JSON: `version` 2 or 1 selects V2/V1, no `version` means V0,
    /// any other version is rejected. Unknown fields are rejected.
    ///
    /// # Errors
    ///
    /// [`Error::Evidence`] naming the member that is missing, unknown, of the wrong type or not
    /// valid base64/hex, or an unsupported `version`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_EVIDENCE_JSON {
            return Err(ev(format!(
                "{} bytes exceeds {MAX_EVIDENCE_JSON}",
                bytes.len()
            )));
        }
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ev(format!("JSON: {e}")))?;
        Self::from_value(v)
    }

    /// As [`AzSnpVtpmEvidence::from_json`], from a parsed JSON value.
    ///
    /// # Errors
    ///
    /// As [`AzSnpVtpmEvidence::from_json`].
    pub fn from_value(v: serde_json::Value) -> Result<Self, Error> {
        match v.get("version") {
            None => {
                let e: V0 = serde_json::from_value(v).map_err(|e| ev(format!("v0: {e}")))?;
                Ok(Self {
                    version: 0,
                    signature: e.quote.signature,
                    message: e.quote.message,
                    pcrs: e.quote.pcrs,
                    hcl_report: e.report,
                    vcek: pem_certificates(&e.vcek)?,
                })
            }
            Some(serde_json::Value::Number(n))
                if n.as_u64() == Some(1) || n.as_u64() == Some(2) =>
            {
                let e: V12 = serde_json::from_value(v).map_err(|e| ev(format!("v1/v2: {e}")))?;
                let pcrs = e
                    .tpm_quote
                    .pcrs
                    .iter()
                    .map(|p| unhex("tpm_quote.pcrs", p))
                    .collect::<Result<_, _>>()?;
                Ok(Self {
                    version: e.version,
                    signature: unhex("tpm_quote.signature", &e.tpm_quote.signature)?,
                    message: unhex("tpm_quote.message", &e.tpm_quote.message)?,
                    pcrs,
                    hcl_report: b64url("hcl_report", &e.hcl_report)?,
                    vcek: vec![b64url("vcek", &e.vcek)?],
                })
            }
            Some(other) => Err(ev(format!("unsupported version {other}"))),
        }
    }

    /// Serialise as trustee V1/V2 JSON (`version` 1 or 2; V0 input is written as V1).
    pub fn to_json_v1v2(&self) -> serde_json::Value {
        let b = base64::engine::general_purpose::URL_SAFE;
        let v = V12 {
            version: self.version.max(1),
            tpm_quote: V12Quote {
                signature: hex::encode(&self.signature),
                message: hex::encode(&self.message),
                pcrs: self.pcrs.iter().map(hex::encode).collect(),
            },
            hcl_report: b.encode(&self.hcl_report),
            vcek: b.encode(self.vcek.first().map(Vec::as_slice).unwrap_or(&[])),
        };
        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
    }
}
