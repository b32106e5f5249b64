//! Entry points for the `evidence_json` and `reference_values` fuzz targets, and with feature
//! `fuzzing` the `evidence_policy` target. `evidence_json`: every evidence JSON form the verifier
//! accepts, through every built-in driver (snp in both forms, az-snp-vtpm v0/v1/v2, tpm,
//! sample), with and without expected bindings, plus the runtime-data and reference-value
//! parsers. None may panic, hang or allocate without bound on any input.
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::binding::ReportDataCheck;
use crate::driver::{Expected, TeeDriver};
use crate::drivers::{az::AzSnpVtpmDriver, sample::SampleDriver, snp::SnpDriver, tpm::TpmDriver};

/// Inputs larger than this are ignored (the service caps request bodies well below it).
pub const MAX_INPUT: usize = 4 << 20;

fn drivers() -> &'static [Arc<dyn TeeDriver>] {
    static D: OnceLock<Vec<Arc<dyn TeeDriver>>> = OnceLock::new();
    D.get_or_init(|| {
        let v = Arc::new(remits_snp::Verifier::new(remits_snp::TrustAnchors::amd()));
        let roots = Arc::new(crate::drivers::snp::ProductionRoots::default());
        vec![
            Arc::new(SnpDriver::new(v.clone(), roots.clone())),
            Arc::new(AzSnpVtpmDriver::new(v, roots)),
            // Untrusted AKs are let through so that the fuzzer reaches claim extraction.
            Arc::new(TpmDriver::new(None, true)),
            Arc::new(SampleDriver),
        ]
    })
}

/// Runs every evidence parser and driver on `data`.
pub fn evidence_json(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_793_491_200);
    let _ = serde_json::from_slice::<remits_evidence::binding::RuntimeData>(data)
        .map(|rd| rd.digest(remits_evidence::binding::HashAlg::Sha384));
    let _ = crate::refvalues::parse_registration(data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let expectations = [
        Expected {
            report_data: ReportDataCheck::Unchecked,
            init_data: None,
        },
        Expected {
            report_data: ReportDataCheck::Exact(b"challenge".to_vec()),
            init_data: Some(vec![0u8; 32]),
        },
        Expected {
            report_data: ReportDataCheck::Digest(vec![0xab; 48]),
            init_data: Some(vec![1u8; 48]),
        },
    ];
    for d in drivers() {
        for e in &expectations {
            let _ = d.verify(&v, e, now);
        }
    }
}

/// The `reference_values` target: `data` as a reference-value registration (the admin API's
/// JSON), as the policy engine's reference-value document, and as a measurement manifest turned
/// into reference values (unsigned, and signed under `remits_manifest::fuzzing::manifest_key`).
pub fn reference_values(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let _ = crate::refvalues::parse_registration(data);
    if let Ok(rv) = remits_policy::ReferenceValues::from_json(data) {
        let _ = rv.get("snp_launch_measurement");
    }
    let _ = crate::refvalues::manifest_reference_values(data, &[]);
    let key = remits_manifest::fuzzing::manifest_key().public_key();
    let _ = crate::refvalues::manifest_reference_values(data, &[key]);
}

#[cfg(feature = "fuzzing")]
pub use policy::evidence_policy;

/// FUZZING ONLY (feature `fuzzing`, never in a normal build): evidence through claim extraction
/// and the shipped policies, past the signatures.
#[cfg(feature = "fuzzing")]
mod policy {
    use std::sync::{Arc, OnceLock};

    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    use remits_policy::{shipped, PolicyEngine, ReferenceValues};
    use serde_json::Value;

    use super::{SystemTime, MAX_INPUT, UNIX_EPOCH};
    use crate::binding::ReportDataCheck;
    use crate::driver::{Expected, TeeDriver};
    use crate::drivers::{az::AzSnpVtpmDriver, snp::SnpDriver, tpm::TpmDriver};

    /// SNP and Azure drivers whose SEV-SNP verifier accepts every signature, and the TPM driver
    /// (its quotes are re-signed below with a fixed AK, so no backdoor is needed there).
    fn drivers() -> &'static [Arc<dyn TeeDriver>] {
        static D: OnceLock<Vec<Arc<dyn TeeDriver>>> = OnceLock::new();
        D.get_or_init(|| {
            let v = Arc::new(remits_snp::Verifier::with_backend(
                remits_snp::TrustAnchors::amd(),
                remits_snp::fuzzing::accept_all_signatures(),
            ));
            let roots = Arc::new(crate::drivers::snp::ProductionRoots::default());
            vec![
                Arc::new(SnpDriver::new(v.clone(), roots.clone())),
                Arc::new(AzSnpVtpmDriver::new(v, roots)),
                Arc::new(TpmDriver::new(None, true)),
            ]
        })
    }

    fn engine() -> &'static PolicyEngine {
        static E: OnceLock<PolicyEngine> = OnceLock::new();
        E.get_or_init(PolicyEngine::new)
    }

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// TPM evidence (`tpm_quote.message` present): the AK replaced by a fixed P-256 key and the
    /// quote signed with it, so the driver's real signature check passes on any message.
    fn resign_tpm(v: &mut Value) {
        // Azure evidence (an HCL report) carries its AK inside the HCL report: re-signing with
        // another key cannot pass, and its real quote signature already verifies.
        if v.get("hcl_report").is_some() {
            return;
        }
        let Some(msg) = v
            .pointer("/tpm_quote/message")
            .and_then(Value::as_str)
            .and_then(|m| remits_evidence::b64ser::decode_any(m).ok())
        else {
            return;
        };
        let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]) else {
            return;
        };
        let sig: p256::ecdsa::Signature = sk.sign(&msg);
        let (r, s) = sig.split_bytes();
        let mut tpmt = vec![0x00, 0x18, 0x00, 0x0b, 0x00, 0x20];
        tpmt.extend_from_slice(&r);
        tpmt.extend_from_slice(&[0x00, 0x20]);
        tpmt.extend_from_slice(&s);
        use p256::pkcs8::EncodePublicKey as _;
        let Ok(spki) = sk.verifying_key().to_public_key_der() else {
            return;
        };
        if let Some(quote) = v.get_mut("tpm_quote").and_then(Value::as_object_mut) {
            quote.insert("signature".into(), Value::String(b64(&tpmt)));
        }
        if let Some(members) = v.as_object_mut() {
            members.insert("ak_public".into(), Value::String(b64(spki.as_bytes())));
        }
    }

    /// Reference values that the input's own claims satisfy, so the policies' accepting
    /// branches run too.
    fn matching_values(input: &Value) -> ReferenceValues {
        let mut rv = ReferenceValues::new();
        for (name, ptr) in [
            ("snp_launch_measurement", "/snp/measurement"),
            ("snp_trusted_signer", "/snp/id_key_digest"),
            ("snp_enclave_id", "/snp/image_id"),
            ("measurement", "/az-snp-vtpm/measurement"),
            ("snp_pcr11", "/az-snp-vtpm/tpm/pcr11"),
            ("enclave_id", "/tpm/enclave_id"),
            ("tpm_pcr11", "/tpm/pcr11"),
            ("trusted_aks", "/tpm/ak_public"),
        ] {
            if let Some(v) = input.pointer(ptr) {
                rv.insert(name, [v.clone()]);
            }
        }
        rv
    }

    /// The `evidence_policy` target: `data` as evidence JSON through the SNP (envelope and
    /// trustee forms), Azure SNP vTPM and TPM drivers with signatures passing, then the claims
    /// through both shipped attestation policies, with no reference values and with values the
    /// claims match. Returns how many policy evaluations produced an outcome (for tests).
    pub fn evidence_policy(data: &[u8]) -> usize {
        let mut outcomes = 0;
        if data.len() > MAX_INPUT {
            return outcomes;
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
            return outcomes;
        };
        resign_tpm(&mut v);
        let now: SystemTime = UNIX_EPOCH + std::time::Duration::from_secs(1_793_491_200);
        let expected = Expected {
            report_data: ReportDataCheck::Unchecked,
            init_data: None,
        };
        for d in drivers() {
            let Ok(out) = d.verify(&v, &expected, now) else {
                continue;
            };
            let input = crate::service::annotated_input(
                d.name(),
                out,
                "unchecked",
                Value::Null,
                Value::Null,
            );
            let rvs = [
                Arc::new(ReferenceValues::new()),
                Arc::new(matching_values(&input)),
            ];
            for (id, text) in [
                (shipped::PRODUCTION_ID, shipped::PRODUCTION),
                (shipped::DEVELOPMENT_ID, shipped::DEVELOPMENT),
            ] {
                for rv in &rvs {
                    if engine()
                        .evaluate_attestation(id, text, &input, rv.clone())
                        .is_ok()
                    {
                        outcomes += 1;
                    }
                }
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_do_not_panic() {
        for seed in [
            &br#"{"svn":"1","report_data":"AAAA"}"#[..],
            br#"{"report":"AAAA","cert_chain":[]}"#,
            br#"{"attestation_report":{},"cert_chain":null}"#,
            br#"{"version":2,"tpm_quote":{"signature":"00","message":"00","pcrs":[]},"hcl_report":"","vcek":""}"#,
            br#"{"ak_public":"","tpm_quote":{"signature":"","message":"","pcrs":["zz"]},"event_log":"AAAA"}"#,
            br#"{"quote":{"signature":[1],"message":[2],"pcrs":[[3]]},"report":[],"vcek":"x"}"#,
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            b"\xff\xfe",
        ] {
            super::evidence_json(seed);
        }
    }
}
