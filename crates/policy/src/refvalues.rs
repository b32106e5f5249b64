//! Reference values as the policy sees them: name -> list of accepted values.
//!
//! `query_reference_value(name)` returns the list (a JSON array) or `null` for an unknown
//! name, as trustee's RVPS extension does, so `x in query_reference_value("name")` works
//! unchanged. Expiry is applied by whoever builds the snapshot (remits-verify's store).
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::Error;

/// A snapshot of reference values: name -> accepted values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceValues(pub BTreeMap<String, Vec<Value>>);

impl ReferenceValues {
    /// Empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse trustee's sample form `{"name": [v, ...], ...}` (a scalar is taken as a one-element
    /// list), or an RVPS message `{"version","type":"sample","payload":"<std base64 of that>"}`.
    ///
    /// # Errors
    ///
    /// [`Error::ReferenceValues`] when the bytes are not JSON of either form (the message names the
    /// member).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::ReferenceValues(format!("not JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// Same as [`ReferenceValues::from_json`], from a parsed value.
    ///
    /// # Errors
    ///
    /// As [`ReferenceValues::from_json`].
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::ReferenceValues("expected a JSON object".into()))?;
        if let (Some(Value::String(t)), Some(Value::String(payload))) =
            (obj.get("type"), obj.get("payload"))
        {
            if t != "sample" {
                return Err(Error::ReferenceValues(format!(
                    "RVPS message type {t:?} is not supported (only \"sample\")"
                )));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|e| Error::ReferenceValues(format!("payload: bad base64: {e}")))?;
            return Self::from_json(&raw);
        }
        let mut out = BTreeMap::new();
        for (name, val) in obj {
            if name.is_empty() || name.len() > 256 {
                return Err(Error::ReferenceValues(format!("bad name {name:?}")));
            }
            let list = match val {
                Value::Array(a) => a.clone(),
                Value::Null => {
                    return Err(Error::ReferenceValues(format!("{name}: null value")));
                }
                other => vec![other.clone()],
            };
            out.insert(name.clone(), list);
        }
        Ok(ReferenceValues(out))
    }

    /// Add values under a name (appending to existing ones, without duplicates).
    pub fn insert(&mut self, name: impl Into<String>, values: impl IntoIterator<Item = Value>) {
        let e = self.0.entry(name.into()).or_default();
        for v in values {
            if !e.contains(&v) {
                e.push(v);
            }
        }
    }

    /// Merge another set into this one.
    pub fn merge(&mut self, other: &ReferenceValues) {
        for (k, v) in &other.0 {
            self.insert(k.clone(), v.iter().cloned());
        }
    }

    /// Values for a name.
    pub fn get(&self, name: &str) -> Option<&[Value]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_form_and_rvps_message() {
        let rv = ReferenceValues::from_json(
            br#"{"snp_launch_measurement":["aa","bb"],"snp_bootloader":[10],"svn":"1"}"#,
        )
        .unwrap();
        assert_eq!(rv.get("snp_bootloader").unwrap(), &[serde_json::json!(10)]);
        assert_eq!(rv.get("svn").unwrap(), &[serde_json::json!("1")]);
        let payload = base64::engine::general_purpose::STANDARD.encode(br#"{"x":[1]}"#);
        let msg = format!(r#"{{"version":"0.1.0","type":"sample","payload":"{payload}"}}"#);
        let rv = ReferenceValues::from_json(msg.as_bytes()).unwrap();
        assert_eq!(rv.get("x").unwrap(), &[serde_json::json!(1)]);
        assert!(ReferenceValues::from_json(b"[1]").is_err());
        assert!(ReferenceValues::from_json(br#"{"a":null}"#).is_err());
    }
}
