//! Azure SEV-SNP with the paravisor vTPM (`az-snp-vtpm`), trustee evidence v0/v1/v2, verified by
//! `remits_tpm::azure::verify_az_snp_vtpm` (SNP chain and signature, VMPL 0, HCL runtime-claims
//! binding, vTPM quote under HCLAkPub, v2 user-data).
//!
//! Binding: the quote nonce must equal the full 48-byte SHA-384 runtime-data digest (exact); the
//! init-data digest is bound through PCR8 = SHA-256(0^32 || digest fitted to 32 bytes).
//! Claims follow trustee: SNP names with every value a string (measurement in base64), plus
//! `tpm.pcr00` … `tpm.pcr23` in hex; remits adds `enclave_id` (ENCLAVE ID v1 of the quoted
//! PCRs 4, 5, 9, 15) and `evidence_version`.
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use remits_snp::{Verifier, VerifyOptions};
use remits_tpm::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence};
use remits_tpm::{HashAlg, NonceCheck};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::snp::{trustee_claims, ProductionRoots};
use crate::driver::{compare_binding, DriverOutput, Expected, TeeDriver};
use crate::Error;

/// The az-snp-vtpm driver.
#[derive(Clone)]
pub struct AzSnpVtpmDriver {
    verifier: Arc<Verifier>,
    roots: Arc<ProductionRoots>,
}

impl std::fmt::Debug for AzSnpVtpmDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzSnpVtpmDriver").finish_non_exhaustive()
    }
}

const TEE: &str = "az-snp-vtpm";

fn rej(reason: impl Into<String>) -> Error {
    Error::malformed(TEE, reason)
}

/// PCR8 after one extend of the init-data digest from zero.
pub fn expected_pcr8(init_digest: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(remits_evidence::binding::fit(init_digest, 32));
    h.finalize().to_vec()
}

/// `{"pcr00": hex, ...}` for the sha256 bank.
pub fn pcr_claims(pcrs: &remits_tpm::PcrValues) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(bank) = pcrs.bank(HashAlg::Sha256) {
        for (i, v) in bank {
            m.insert(format!("pcr{i:02}"), Value::String(hex::encode(v)));
        }
    }
    m
}

impl AzSnpVtpmDriver {
    /// A driver over a shared remits-snp verifier; `roots` decides which of its trusted ARKs
    /// the claims call production roots.
    pub fn new(verifier: Arc<Verifier>, roots: Arc<ProductionRoots>) -> Self {
        AzSnpVtpmDriver { verifier, roots }
    }
}

impl TeeDriver for AzSnpVtpmDriver {
    fn name(&self) -> &str {
        TEE
    }

    fn verify(
        &self,
        evidence: &Value,
        expected: &Expected,
        now: SystemTime,
    ) -> Result<DriverOutput, Error> {
        let ev =
            AzSnpVtpmEvidence::from_value(evidence.clone()).map_err(|e| Error::rejected(TEE, e))?;
        let nonce = match expected.report_data.bytes() {
            Some(d) => NonceCheck::Expected(d),
            None => NonceCheck::Unchecked,
        };
        let claims = verify_az_snp_vtpm(&ev, &self.verifier, &VerifyOptions::at(now), nonce)
            .map_err(|e| match e {
                remits_tpm::Error::NonceMismatch { expected, actual } => Error::Binding {
                    tee: TEE.into(),
                    what: "report_data",
                    expected,
                    actual,
                },
                other => Error::rejected(TEE, other),
            })?;
        let pcrs = claims.tpm().pcrs();
        let init_data_checked = match &expected.init_data {
            Some(d) => {
                let pcr8 = pcrs
                    .get(HashAlg::Sha256, 8)
                    .ok_or_else(|| rej("PCR8 is not quoted; init-data cannot be checked"))?;
                compare_binding(TEE, "init_data", &expected_pcr8(d), pcr8)?;
                true
            }
            None => false,
        };
        let mut m = Map::new();
        for (k, v) in trustee_claims(claims.snp()) {
            let s = match v {
                Value::String(s) => s,
                Value::Null => continue,
                Value::Object(_) | Value::Array(_) => continue,
                other => other.to_string(),
            };
            m.insert(k, Value::String(s));
        }
        m.insert(
            "measurement".into(),
            Value::String(
                base64::engine::general_purpose::STANDARD.encode(&claims.snp().measurement),
            ),
        );
        m.insert(
            "amd_root".into(),
            Value::String(claims.snp_amd_root().to_string()),
        );
        m.insert(
            "production_root".into(),
            Value::String(
                self.roots
                    .is_production(claims.snp_amd_root(), claims.snp_ark_sha256())
                    .to_string(),
            ),
        );
        m.insert(
            "evidence_version".into(),
            Value::String(claims.evidence_version().to_string()),
        );
        m.insert("tpm".into(), Value::Object(pcr_claims(pcrs)));
        if let Some(id) = super::tpm::enclave_id_hex(pcrs) {
            m.insert("enclave_id".into(), Value::String(id));
        }
        m.insert(
            "report_data".into(),
            Value::String(claims.report_data().to_string()),
        );
        m.insert(
            "init_data".into(),
            Value::String(claims.init_data().to_string()),
        );
        Ok(DriverOutput {
            claims: m,
            report_data_checked: claims.tpm().nonce_checked(),
            init_data_checked,
        })
    }
}
