//! Plain TPM 2.0 quotes (TEE `tpm`) in trustee's evidence form, with optional remits extensions:
//!
//! ```text
//! {"ak_public": "<std b64 DER SPKI, or TPM2B_PUBLIC>",
//!  "tpm_quote": {"signature": "<std b64 TPMT_SIGNATURE>", "message": "<std b64 TPMS_ATTEST>",
//!                "pcrs": ["<hex sha256 PCR0>", ...],
//!                "pcr_banks": {"sha1": {"0": "<hex>", ...}, ...}},   // optional, remits
//!  "event_log": "<std b64 TCG PC Client event log>"}                  // optional, remits
//! ```
//!
//! Checks, in order:
//! 1. structure and sizes (every field named in the error);
//! 2. the quote ([`remits_tpm::verify_quote`]): signature over the received TPMS_ATTEST under
//!    the AK, magic and type, extraData = the expected nonce, PCR selection = the supplied
//!    PCRs exactly, pcrDigest;
//! 3. AK trust: the AK must be one of the reference values `trusted_aks` (compared as keys, so
//!    PEM, DER and TPM2B_PUBLIC spellings of one key match). Untrusted AKs are rejected here
//!    unless the operator set `tpm_allow_untrusted_ak` (then the claim `ak_trusted` is false and
//!    the policy decides);
//! 4. the event log, when present: replayed and compared with every quoted PCR it extends;
//! 5. init-data: PCR8 = SHA-256(0^32 || digest fitted to 32 bytes).
//!
//! Binding: extraData = the runtime-data digest truncated to 32 bytes (the CoCo attester does
//! the same), or an explicit `--report-data` compared exactly.
//!
//! Claims (trustee's names plus remits'): `ak_public`, `pcr00` … `pcr23` (sha256, hex),
//! `report_data`, `init_data` (PCR8 hex), `ak_trusted`, `enclave_id` (ENCLAVE ID v1 recomputed
//! from quoted PCRs 4, 5, 9, 15; absent when they are not all quoted), `pcr_banks` (every
//! quoted bank), `event_log_verified`, `nonce_checked`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use remits_tpm::CompareMode;
use remits_tpm::{
    replay, verify_quote, AttestationKey, EventLog, HashAlg, NonceCheck, PcrValues, Signature,
};
use serde_json::{json, Map, Value};

use super::az::{expected_pcr8, pcr_claims};
use crate::binding::ReportDataCheck;
use crate::driver::{compare_binding, DriverOutput, Expected, TeeDriver};
use crate::refvalues::ReferenceValueStore;
use crate::{Error, EvidenceError};

/// Reference-value name holding the trusted attestation keys (trustee's name).
pub const TRUSTED_AKS: &str = "trusted_aks";
/// Largest accepted base64 field (event logs included), in characters.
pub const MAX_FIELD_B64: usize = 4 << 20;

/// The tpm driver.
#[derive(Clone)]
pub struct TpmDriver {
    rvs: Option<Arc<ReferenceValueStore>>,
    allow_untrusted_ak: bool,
}

impl std::fmt::Debug for TpmDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmDriver")
            .field("allow_untrusted_ak", &self.allow_untrusted_ak)
            .finish_non_exhaustive()
    }
}

const TEE: &str = "tpm";

fn rej(reason: impl Into<String>) -> Error {
    Error::malformed(TEE, reason)
}

fn b64field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, Error> {
    let s = obj
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| rej(format!("{name}: missing or not a string")))?;
    if s.len() > MAX_FIELD_B64 {
        return Err(rej(format!(
            "{name}: longer than {MAX_FIELD_B64} characters"
        )));
    }
    remits_evidence::b64ser::decode_any(s).map_err(|e| rej(format!("{name}: bad base64: {e}")))
}

/// Parse one `trusted_aks` reference value: std/url base64 of DER SPKI or TPM2B_PUBLIC, or PEM.
fn trusted_key(v: &Value) -> Option<AttestationKey> {
    let s = v.as_str()?;
    if s.contains("-----BEGIN") {
        return AttestationKey::from_any(s.as_bytes()).ok();
    }
    let der = remits_evidence::b64ser::decode_any(s.trim()).ok()?;
    AttestationKey::from_any(&der).ok()
}

fn pcr_map_sha256(pcrs: &PcrValues) -> BTreeMap<u32, [u8; 32]> {
    pcrs.bank(HashAlg::Sha256)
        .into_iter()
        .flatten()
        .filter_map(|(i, v)| <[u8; 32]>::try_from(v.as_slice()).ok().map(|a| (*i, a)))
        .collect()
}

/// The ENCLAVE ID v1 (hex) of quoted sha256 PCRs, or `None` when a covered PCR is not quoted.
pub fn enclave_id_hex(pcrs: &PcrValues) -> Option<String> {
    remits_manifest::enclave_id::enclave_id_v1(&pcr_map_sha256(pcrs))
        .ok()
        .map(hex::encode)
}

fn parse_pcrs(q: &Map<String, Value>) -> Result<PcrValues, Error> {
    if let Some(banks) = q.get("pcr_banks") {
        let bytes = serde_json::to_vec(banks).map_err(|e| rej(format!("pcr_banks: {e}")))?;
        return PcrValues::from_json(&bytes).map_err(|e| rej(format!("tpm_quote.pcr_banks: {e}")));
    }
    let list = q
        .get("pcrs")
        .and_then(Value::as_array)
        .ok_or_else(|| rej("tpm_quote.pcrs: missing or not an array"))?;
    if list.len() > 24 {
        return Err(rej("tpm_quote.pcrs: more than 24 values"));
    }
    let mut values = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let bytes = v
            .as_str()
            .filter(|s| s.len() == 64)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| rej(format!("tpm_quote.pcrs[{i}]: not 64 hex digits")))?;
        values.push(bytes);
    }
    PcrValues::from_list(HashAlg::Sha256, &values).map_err(|e| rej(format!("tpm_quote.pcrs: {e}")))
}

impl TpmDriver {
    /// A driver that trusts the AKs in `rvs` (`trusted_aks`); with `allow_untrusted_ak`, an
    /// unknown AK is reported (`ak_trusted = false`) instead of rejected.
    pub fn new(rvs: Option<Arc<ReferenceValueStore>>, allow_untrusted_ak: bool) -> Self {
        TpmDriver {
            rvs,
            allow_untrusted_ak,
        }
    }

    fn ak_trusted(&self, ak: &AttestationKey, now: SystemTime) -> bool {
        let Some(rvs) = &self.rvs else { return false };
        let snap = rvs.snapshot(now);
        snap.get(TRUSTED_AKS)
            .unwrap_or_default()
            .iter()
            .filter_map(trusted_key)
            .any(|k| k.same_key(ak))
    }
}

impl TeeDriver for TpmDriver {
    fn name(&self) -> &str {
        TEE
    }

    fn verify(
        &self,
        evidence: &Value,
        expected: &Expected,
        now: SystemTime,
    ) -> Result<DriverOutput, Error> {
        // 1. Structure.
        let obj = evidence
            .as_object()
            .ok_or_else(|| rej("evidence is not a JSON object"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "ak_public" | "tpm_quote" | "event_log") {
                return Err(rej(format!("unknown field {k:?}")));
            }
        }
        let ak_bytes = b64field(obj, "ak_public")?;
        let ak = AttestationKey::from_any(&ak_bytes).map_err(|e| Error::rejected(TEE, e))?;
        let q = obj
            .get("tpm_quote")
            .and_then(Value::as_object)
            .ok_or_else(|| rej("tpm_quote: missing or not an object"))?;
        let sig =
            Signature::parse(&b64field(q, "signature")?).map_err(|e| Error::rejected(TEE, e))?;
        let message = b64field(q, "message")?;
        let pcrs = parse_pcrs(q)?;
        // 2. The quote.
        let nonce_bytes = match &expected.report_data {
            ReportDataCheck::Digest(d) => Some(remits_evidence::binding::fit(d, 32)),
            ReportDataCheck::Exact(d) => Some(d.clone()),
            ReportDataCheck::Unchecked => None,
        };
        let nonce = match &nonce_bytes {
            Some(n) => NonceCheck::Expected(n),
            None => NonceCheck::Unchecked,
        };
        let quote = verify_quote(&message, &sig, &ak, &pcrs, nonce).map_err(|e| match e {
            remits_tpm::Error::NonceMismatch { expected, actual } => Error::Binding {
                tee: TEE.into(),
                what: "report_data",
                expected,
                actual,
            },
            other => Error::rejected(TEE, other),
        })?;
        // 3. AK trust.
        let ak_trusted = self.ak_trusted(&ak, now);
        if !ak_trusted && !self.allow_untrusted_ak {
            return Err(Error::rejected(
                TEE,
                EvidenceError::UntrustedKey(format!(
                    "ak_public: the attestation key is not in the reference values \
                     `{TRUSTED_AKS}` (register it, or set tpm_allow_untrusted_ak to let the \
                     policy decide)"
                )),
            ));
        }
        // 4. Event log.
        let event_log_verified = match obj.get("event_log") {
            None | Some(Value::Null) => false,
            Some(_) => {
                let raw = b64field(obj, "event_log")?;
                let log = EventLog::parse(&raw).map_err(|e| Error::rejected(TEE, e))?;
                let rp = replay(&log).map_err(|e| Error::rejected(TEE, e))?;
                rp.compare(quote.pcrs(), CompareMode::LogCovered)
                    .map_err(|e| Error::rejected(TEE, e))?;
                true
            }
        };
        // 5. Init-data through PCR8.
        let pcr8 = quote.pcrs().get(HashAlg::Sha256, 8);
        let init_data_checked = match &expected.init_data {
            Some(d) => {
                let actual =
                    pcr8.ok_or_else(|| rej("PCR8 is not quoted; init-data cannot be checked"))?;
                compare_binding(TEE, "init_data", &expected_pcr8(d), actual)?;
                true
            }
            None => false,
        };
        let mut m = pcr_claims(quote.pcrs());
        m.insert(
            "ak_public".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(ak.spki_der())),
        );
        m.insert("ak_trusted".into(), json!(ak_trusted));
        if let Some(id) = enclave_id_hex(quote.pcrs()) {
            m.insert("enclave_id".into(), Value::String(id));
        }
        let mut banks = Map::new();
        for (alg, bank) in quote.pcrs().banks() {
            let b: Map<String, Value> = bank
                .iter()
                .map(|(i, v)| (i.to_string(), Value::String(hex::encode(v))))
                .collect();
            banks.insert(alg.name().to_string(), Value::Object(b));
        }
        m.insert("pcr_banks".into(), Value::Object(banks));
        m.insert("event_log_verified".into(), json!(event_log_verified));
        m.insert("nonce_checked".into(), json!(quote.nonce_checked()));
        m.insert(
            "report_data".into(),
            Value::String(quote.quote().extra_data.clone()),
        );
        m.insert(
            "init_data".into(),
            Value::String(pcr8.map(hex::encode).unwrap_or_default()),
        );
        Ok(DriverOutput {
            claims: m,
            report_data_checked: quote.nonce_checked(),
            init_data_checked,
        })
    }
}
