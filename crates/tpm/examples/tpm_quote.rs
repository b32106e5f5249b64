//! The "Library use" snippets of `docs/tpm.md`, compiled and run on real vectors: the Azure
//! vTPM quote, then a real event log replayed and compared with PCR values.
//!
//! The text between the `snippet-start`/`snippet-end` markers is what the document shows (a
//! workspace test keeps the two identical). Vectors come from `$REMITS_TESTDATA` (default
//! `../shared/testdata`); the out-of-workspace `smoke/` crate runs [`run`] too.
//!
//! ```sh
//! cargo run -p remits-tpm --example tpm_quote
//! ```
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Any error of the snippets, boxed.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let dir = std::env::var_os("REMITS_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    if !dir.join("tpm").is_dir() {
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
            eprintln!("tpm_quote: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Verify the Azure vTPM quote, then replay `gdc-host.bin` against its known PCRs.
pub(crate) fn run(testdata: &Path) -> Result<()> {
    let tpm = testdata.join("tpm");
    let attest = std::fs::read(tpm.join("azure-snp-vtpm-quote.msg"))?;
    let raw_signature = std::fs::read(tpm.join("azure-snp-vtpm-quote.sig"))?;
    let ak_bytes = std::fs::read(tpm.join("azure-snp-vtpm-akpub.pem"))?;
    let pcrs_json = std::fs::read(tpm.join("azure-snp-vtpm-quote-pcrs.json"))?;
    let nonce = b"challenge";

    // snippet-start: tpm-quote
    use remits_tpm::{replay, CompareMode, EventLog};
    use remits_tpm::{verify_quote, AttestationKey, HashAlg, NonceCheck, PcrValues, Signature};

    let ak = AttestationKey::from_any(&ak_bytes)?; // SPKI (PEM or DER) or TPM2B_PUBLIC

    // A TPMT_SIGNATURE is `Signature::parse(&bytes)?`; Azure's vTPM gives the bare RSA one:
    let sig = Signature::rsassa_raw(HashAlg::Sha256, &raw_signature);
    let pcrs = PcrValues::from_json(&pcrs_json)?; // or from_tpm2_values / _serialized / _pcrread
    let quote = verify_quote(&attest, &sig, &ak, &pcrs, NonceCheck::Expected(nonce))?;
    // snippet-end: tpm-quote

    if quote.pcrs().bank(HashAlg::Sha256).map(|b| b.len()) != Some(24) {
        return Err("the Azure quote should cover sha256:0-23".into());
    }
    println!("quote verified: {}", quote.signature_scheme());

    // No public vector has both a quote and its event log: compare a real GCE log with its
    // known PCR values instead of `quote.pcrs()`.
    let log_bytes = std::fs::read(tpm.join("eventlog/gdc-host.bin"))?;
    let quoted = PcrValues::from_json(&std::fs::read(tpm.join("eventlog/gdc-host.pcrs.json"))?)?;

    // snippet-start: tpm-eventlog
    let log = EventLog::parse(&log_bytes)?;
    replay(&log)?.compare(&quoted, CompareMode::AllQuoted)?; // names the PCR and event on mismatch
                                                             // snippet-end: tpm-eventlog

    println!("event log replayed: {} events", log.events().len());
    Ok(())
}
