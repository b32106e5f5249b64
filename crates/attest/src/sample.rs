//! The `sample` TEE of trustee: no hardware, no signature, for development only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::TeeKind;

/// `{"svn":"1","report_data":"<std base64>"}`; proves nothing, refused unless a broker is
/// explicitly configured to allow it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleAttester;

impl Attester for SampleAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Sample
    }
    fn evidence(&self, report_data: &[u8]) -> Result<serde_json::Value, AttesterError> {
        Ok(serde_json::json!({"svn": "1", "report_data": STANDARD.encode(report_data)}))
    }
}
