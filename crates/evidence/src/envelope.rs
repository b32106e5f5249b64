//! The project's own evidence envelopes.
//!
//! remits keeps the raw, signed bytes of every report in its evidence, so that verifiers check
//! signatures over exactly what the hardware signed. trustee's SNP form (a JSON rendering of a
//! parsed report struct, `{"attestation_report": {...}, "cert_chain": [...]}`) is accepted by
//! the verifier too, but loses reserved bytes; the form here does not.
//!
//! ```json
//! {"report": "<standard base64 of the 1184 raw bytes>",
//!  "cert_chain": [{"cert_type": "VCEK", "data": "<standard base64 of the DER>"}],
//!  "simulated": true}
//! ```
//! `simulated` is omitted when false. It is a label for humans and logs only: whether simulated
//! evidence is trusted is decided by the trust anchors a verifier is configured with, never by
//! this flag.

use serde::{Deserialize, Serialize};

/// Largest number of certificates accepted in one chain.
pub const MAX_CERTS: usize = 8;

/// What a certificate-table entry holds (the AMD extended-report GUIDs, plus ASVK by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CertType {
    /// Versioned Chip Endorsement Key certificate.
    #[serde(rename = "VCEK")]
    Vcek,
    /// Versioned Loaded Endorsement Key certificate (cloud provider).
    #[serde(rename = "VLEK")]
    Vlek,
    /// AMD SEV Signing Key (signs VCEKs).
    #[serde(rename = "ASK")]
    Ask,
    /// AMD SEV VLEK Signing Key (signs VLEKs).
    #[serde(rename = "ASVK")]
    Asvk,
    /// AMD Root Key.
    #[serde(rename = "ARK")]
    Ark,
    /// AMD certificate revocation list (DER).
    #[serde(rename = "CRL")]
    Crl,
}

/// One certificate (or CRL) carried with the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertEntry {
    /// What the entry is.
    pub cert_type: CertType,
    /// DER bytes.
    #[serde(with = "crate::b64ser")]
    pub data: Vec<u8>,
}

/// SEV-SNP evidence in remits' own form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpEvidence {
    /// The raw attestation report, exactly as the firmware returned it (1184 bytes).
    #[serde(with = "crate::b64ser")]
    pub report: Vec<u8>,
    /// The endorsement certificates from the extended report (at least the VCEK or VLEK when
    /// the verifier has no other source).
    #[serde(default)]
    pub cert_chain: Vec<CertEntry>,
    /// True when a simulator, not AMD hardware, produced the report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

impl SnpEvidence {
    /// The first entry of the given type.
    pub fn cert(&self, ty: CertType) -> Option<&[u8]> {
        self.cert_chain
            .iter()
            .find(|c| c.cert_type == ty)
            .map(|c| c.data.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let ev = SnpEvidence {
            report: vec![1, 2, 3],
            cert_chain: vec![CertEntry {
                cert_type: CertType::Vcek,
                data: vec![0xff],
            }],
            simulated: false,
        };
        let s = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            s,
            r#"{"report":"AQID","cert_chain":[{"cert_type":"VCEK","data":"/w=="}]}"#
        );
        assert_eq!(serde_json::from_str::<SnpEvidence>(&s).unwrap(), ev);
        let sim = SnpEvidence {
            simulated: true,
            ..ev
        };
        assert!(serde_json::to_string(&sim)
            .unwrap()
            .contains("\"simulated\":true"));
        assert_eq!(sim.cert(CertType::Vcek), Some(&[0xffu8][..]));
        assert_eq!(sim.cert(CertType::Vlek), None);
    }

    #[test]
    fn trustee_form_is_not_mistaken_for_ours() {
        let trustee = r#"{"attestation_report":{"version":3},"cert_chain":null}"#;
        assert!(serde_json::from_str::<SnpEvidence>(trustee).is_err());
    }
}
