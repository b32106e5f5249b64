//! trustee's evidence forms, for brokers that accept only those (a trustee KBS, or remits-broker
//! with `compat = "trustee"`).
//!
//! SEV-SNP: trustee sends `{"attestation_report": <virtee/sev AttestationReport as serde JSON>,
//! "cert_chain": [{"cert_type": "VCEK", "data": [u8, ...]}] | null}`. [`snp_to_trustee`] turns
//! the remits envelope (`{"report": b64, "cert_chain": [...]}`) into that form by parsing the raw
//! report with the `sev` crate trustee itself uses; the signature still covers the raw bytes a
//! verifier re-encodes. The other TEEs already use trustee's form.

use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::envelope::SnpEvidence;
use remits_evidence::TeeKind;
use serde_json::{json, Value};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser;

use crate::AttestError;

/// Converts remits' SNP envelope into trustee's form. trustee's form has no place for the
/// `simulated` label, so simulator evidence in this form is recognisable only by its ARK, which
/// no verifier trusts by default.
///
/// # Errors
///
/// [`AttestError::Invalid`] when the envelope or its report is malformed.
pub fn snp_to_trustee(evidence: &Value) -> Result<Value, AttestError> {
    let env: SnpEvidence =
        serde_json::from_value(evidence.clone()).map_err(|e| AttestError::Invalid {
            what: "SNP evidence",
            reason: e.to_string(),
        })?;
    let report = AttestationReport::from_bytes(&env.report).map_err(|e| AttestError::Invalid {
        what: "SNP report",
        reason: e.to_string(),
    })?;
    let report = serde_json::to_value(report).map_err(|e| AttestError::Invalid {
        what: "SNP report",
        reason: e.to_string(),
    })?;
    let chain: Vec<Value> = env
        .cert_chain
        .iter()
        .map(|c| json!({"cert_type": c.cert_type, "data": c.data}))
        .collect();
    Ok(json!({
        "attestation_report": report,
        "cert_chain": if chain.is_empty() { Value::Null } else { Value::Array(chain) },
    }))
}

/// Wraps a collector so that its evidence is in trustee's form.
pub struct TrusteeForm(pub Box<dyn Attester>);

impl Attester for TrusteeForm {
    fn tee(&self) -> TeeKind {
        self.0.tee()
    }
    fn evidence(&self, report_data: &[u8]) -> Result<Value, AttesterError> {
        let ev = self.0.evidence(report_data)?;
        if self.0.tee() != TeeKind::Snp || ev.get("attestation_report").is_some() {
            return Ok(ev);
        }
        snp_to_trustee(&ev).map_err(|e| AttesterError::Failed {
            tee: "snp",
            reason: format!("trustee form: {e}"),
        })
    }
}
