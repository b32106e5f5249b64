//! The library snippets of `docs/verifier.md` ("Library use") and `docs/embedding.md`
//! ("Appraising evidence with a binding"), compiled and run on the real Milan SEV-SNP vector
//! with the shipped production policy.
//!
//! The text between the `snippet-start`/`snippet-end` markers is what the documents show (a
//! workspace test keeps them identical). Vectors come from `$REMITS_TESTDATA` (default
//! `../shared/testdata`); the out-of-workspace `smoke/` crate runs [`run`] too.
//!
//! ```sh
//! cargo run -p remits-verify --example appraise
//! ```
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;

/// Any error of the snippets, boxed.
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
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Into::into)
        .and_then(|rt| rt.block_on(run(&dir)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appraise: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Appraise `snp/milan-v2-sev-report.bin` (remits evidence envelope, bound to the nonce it
/// carries) with the production policy and its reference values: affirming, twice.
pub(crate) async fn run(testdata: &Path) -> Result<()> {
    let report = std::fs::read(testdata.join("snp/milan-v2-sev-report.bin"))?;
    let vcek = std::fs::read(testdata.join("snp/milan-v2-sev-vcek.der"))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let evidence_json = serde_json::json!({
        "report": b64(&report),
        "cert_chain": [{"cert_type": "VCEK", "data": b64(&vcek)}],
    });
    // The nonce the verifier chose; for this vector, the REPORT_DATA it carries.
    let nonce = report
        .get(0x50..0x90)
        .ok_or("report: shorter than 0x90 bytes")?;
    // The launch measurement and minimum TCB this workload must show.
    let reference_values = serde_json::json!({
        "snp_launch_measurement": ["7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"],
        "snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}],
    })
    .to_string();

    // snippet-start: verifier-library
    use remits_verify::{AttestationService, Binding};
    use std::sync::Arc;

    // Every input in memory, no file read (from a TOML config naming files instead:
    // `AttestationService::new(ServiceConfig, store, clock)`).
    let svc = AttestationService::builder()
        .store(Arc::new(remits_store::MemoryStore::new())) // or EmbeddedStore / PostgresStore
        .clock(Arc::new(remits_evidence::clock::SystemClock))
        .ephemeral_token_signing_key() // or .token_signing_key_pem(&pem)?
        .production_policy() // or .policy_text(rego); sample refused unless .allow_sample(true)
        // Trust anchors besides AMD's: .snp_ark(der_or_pem); signed manifests:
        // .manifest_signer_pem(&pem)?
        .build()
        .await?;
    // {"snp_launch_measurement": ["7a1e…"], …}; a signed manifest: `register_manifest`.
    svc.register_reference_values(reference_values.as_bytes())
        .await?;
    // The binding is required: RuntimeData (KBS), ReportData (a nonce you chose) or, spelled
    // out, Unchecked (recorded in the token; denied by the production policy).
    let a = svc
        .appraise(
            "snp",
            &evidence_json,
            &Binding::ReportData(nonce.to_vec()),
            None,
        )
        .await?;
    println!("{} {} {}", a.status, a.binding, a.explanation.summary());
    // snippet-end: verifier-library

    if a.status != remits_verify::EarStatus::Affirming {
        return Err(format!("appraise: expected affirming, got {}", a.explanation).into());
    }
    let tee = remits_evidence::TeeKind::Snp;
    let evidence = evidence_json;

    // snippet-start: embedding-attest
    use remits_verify::{AttestationRequest, Error};

    // A nonce you chose, compared in full with the evidence's report data (no key is signed):
    let binding = Binding::ReportData(nonce.to_vec());
    // Or a KBS-style request: the runtime data's SHA-384 must be in the evidence's report data;
    // only then does the token carry its `tee-pubkey` (the key secrets are encrypted to):
    //     Binding::RuntimeData(runtime_data)
    // Or, spelled out: nothing is compared; the token records `remits_binding.kind: "unchecked"`
    // and the shipped production policy denies it:
    //     Binding::Unchecked
    // From optional request fields (refuses runtime data + report data that disagree):
    //     Binding::from_parts(runtime_data, report_data, /* unchecked = */ false)?
    let a = svc
        .attest(AttestationRequest {
            tee,
            evidence,
            binding,
            init_data: None,
        })
        .await;
    match &a {
        Ok(a) => println!("{}: token of {} bytes", a.status, a.token.len()),
        // The leaf crate's error, typed, with the failed check's name.
        Err(Error::EvidenceRejected { source, .. }) => eprintln!("{}: {source}", source.check()),
        Err(Error::PolicyDenied(why)) => eprintln!("{}", why.summary()),
        Err(other) => eprintln!("{other}"),
    }
    // snippet-end: embedding-attest

    let _ = a?;
    Ok(())
}
