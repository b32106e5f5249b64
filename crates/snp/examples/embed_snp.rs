//! The "Verifying an SEV-SNP report" snippet of `docs/embedding.md`, compiled and run.
//!
//! The text between the `snippet-start`/`snippet-end` markers is what the document shows (a
//! workspace test keeps the two identical); the rest loads a real Milan vector from
//! `$REMITS_TESTDATA` (default `../shared/testdata`). The out-of-workspace `smoke/` crate runs
//! [`run`] as an embedding project would build it.
//!
//! ```sh
//! cargo run -p remits-snp --example embed_snp
//! ```
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Any error of the snippet, boxed.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let dir = std::env::var_os("REMITS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    if !dir.join("snp").is_dir() {
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
            eprintln!("embed_snp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Verify `snp/milan-v2-sev-report.bin` with its VCEK as the document shows.
pub(crate) fn run(testdata: &Path) -> Result<()> {
    let report_bytes = std::fs::read(testdata.join("snp/milan-v2-sev-report.bin"))?;
    let vcek_bytes = std::fs::read(testdata.join("snp/milan-v2-sev-vcek.der"))?;
    // The nonce hash the verifier put into the guest's request; for this vector, the
    // REPORT_DATA it carries (bytes 0x50..0x90 of the report).
    let nonce_hash: [u8; 64] = report_bytes
        .get(0x50..0x90)
        .and_then(|s| s.try_into().ok())
        .ok_or("report: shorter than 0x90 bytes")?;

    // snippet-start: embedding-snp
    use remits_snp::{Endorsement, TrustAnchors, Verifier, VerifyOptions};

    // Once per process: AMD's pinned Milan/Genoa/Turin roots; Send + Sync; caches verified chains.
    let verifier = Verifier::new(TrustAnchors::amd());

    // Per report: the raw 1184 bytes as received and the VCEK/VLEK (DER). An empty chain means
    // AMD's built-in ASK/ASVK; pass the ASK/ASVK and ARK you received in `chain` otherwise.
    let leaf = remits_snp::cert::der_or_pem(&vcek_bytes)?;
    let mut opts = VerifyOptions::at(std::time::SystemTime::now());
    opts.expected_report_data = Some(nonce_hash.to_vec()); // compared in full, zero-padded
    let verified = verifier.verify(&report_bytes, &Endorsement::leaf(leaf), &opts)?;

    // Only now are the fields trustworthy. A VerifiedReport can only come from `verify`.
    let claims = verified.claims();
    assert!(!claims.policy.debug);
    println!("{} {}", claims.generation, hex::encode(&claims.measurement));
    // snippet-end: embedding-snp

    if !hex::encode(&claims.measurement).starts_with("7a1e5c26") || !verified.amd_root() {
        return Err("unexpected claims for the Milan vector".into());
    }
    Ok(())
}
