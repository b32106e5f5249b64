//! The "Library" snippet of `docs/azure-vtpm.md`, compiled and run on the real Azure capture
//! `az-snp-vtpm/evidence-v0.json`.
//!
//! The text between the `snippet-start`/`snippet-end` markers is what the document shows (a
//! workspace test keeps the two identical). Vectors come from `$REMITS_TESTDATA` (default
//! `../shared/testdata`); the out-of-workspace `smoke/` crate runs [`run`] too.
//!
//! ```sh
//! cargo run -p remits-tpm --example azure_vtpm
//! ```
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// Any error of the snippet, boxed.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let dir = std::env::var_os("REMITS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    if !dir.join("az-snp-vtpm").is_dir() {
        eprintln!("SKIPPED: no test vectors in {}", dir.display());
        return ExitCode::from(if std::env::var_os("CI").is_some() {
            1
        } else {
            0
        });
    }
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azure_vtpm: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Verify `evidence-v0.json` (nonce "challenge") as the document shows.
pub(crate) fn run(testdata: &Path) -> Result<()> {
    let bytes = std::fs::read(testdata.join("az-snp-vtpm/evidence-v0.json"))?;
    let nonce = b"challenge";
    // 2026-11-01T00:00:00Z, inside the capture's VCEK validity window.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_200);

    // snippet-start: azure-vtpm
    use remits_tpm::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence};
    use remits_tpm::NonceCheck;

    let evidence = AzSnpVtpmEvidence::from_json(&bytes)?; // v0, v1 or v2
    let snp = remits_snp::Verifier::new(remits_snp::TrustAnchors::amd());
    let opts = remits_snp::VerifyOptions::at(now); // time is injected
    let claims = verify_az_snp_vtpm(&evidence, &snp, &opts, NonceCheck::Expected(nonce))?;
    assert_eq!(claims.snp().vmpl, 0);
    let pcr8 = claims.tpm().pcrs().get(remits_tpm::HashAlg::Sha256, 8);
    // snippet-end: azure-vtpm

    let pcr8 = pcr8.ok_or("PCR8 not quoted")?;
    println!(
        "Azure SNP vTPM evidence verified; sha256 PCR8 {}",
        hex::encode(pcr8)
    );
    Ok(())
}
