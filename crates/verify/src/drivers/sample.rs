//! The CoCo `sample` TEE: `{"svn": "<string>", "report_data": "<std base64>"}`. Unsigned; it
//! proves nothing and is registered only when the operator enables it explicitly.
use std::time::SystemTime;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::driver::{compare_binding, DriverOutput, Expected, TeeDriver};
use crate::Error;

/// The sample driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SampleDriver;

fn rej(reason: impl Into<String>) -> Error {
    Error::malformed("sample", reason)
}

impl TeeDriver for SampleDriver {
    fn name(&self) -> &str {
        "sample"
    }

    fn verify(
        &self,
        evidence: &Value,
        expected: &Expected,
        _now: SystemTime,
    ) -> Result<DriverOutput, Error> {
        let obj = evidence
            .as_object()
            .ok_or_else(|| rej("evidence is not a JSON object"))?;
        for k in obj.keys() {
            if k != "svn" && k != "report_data" {
                return Err(rej(format!("unknown field {k:?}")));
            }
        }
        let svn = match obj.get("svn") {
            Some(Value::String(s)) if s.len() <= 64 => s.clone(),
            _ => return Err(rej("svn: missing or not a short string")),
        };
        let rd_b64 = match obj.get("report_data") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(rej("report_data: not a string")),
        };
        let report_data = base64::engine::general_purpose::STANDARD
            .decode(&rd_b64)
            .map_err(|e| rej(format!("report_data: bad base64: {e}")))?;
        let report_data_checked = match expected.report_data.bytes() {
            Some(exp) => {
                compare_binding("sample", "report_data", exp, &report_data)?;
                true
            }
            None => false,
        };
        let mut claims = Map::new();
        claims.insert("svn".into(), Value::String(svn));
        claims.insert("report_data".into(), Value::String(rd_b64));
        claims.insert("launch_digest".into(), json!("abcde"));
        claims.insert("platform_version".into(), json!({"major": 1, "minor": 4}));
        claims.insert("debug".into(), json!(false));
        if let Some(i) = &expected.init_data {
            // The sample TEE cannot bind init-data; trustee reports the expected value unverified.
            claims.insert(
                "init_data".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(i)),
            );
        }
        Ok(DriverOutput {
            claims,
            report_data_checked,
            init_data_checked: false,
        })
    }
}
