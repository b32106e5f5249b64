//! Entry point for the `evidence_json` fuzz target: every evidence JSON form the verifier
//! accepts, through every built-in driver (snp in both forms, az-snp-vtpm v0/v1/v2, tpm,
//! sample), with and without expected bindings, plus the runtime-data and reference-value
//! parsers. Must never panic, hang or allocate without bound on any input.
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
