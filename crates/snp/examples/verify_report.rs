//! Verify a real SEV-SNP report with remits-snp, as a project embedding remits would.
//!
//! ```sh
//! cargo run -p remits-snp --example verify_report                # the bundled real Milan vector
//! cargo run -p remits-snp --example verify_report -- REPORT VCEK [RFC3339-TIME]
//! ```
//!
//! Exit status 0 when the report verifies, 1 when it is rejected, 2 on usage errors.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::ExitCode;
use std::time::SystemTime;

use remits_snp::{Endorsement, TrustAnchors, Verifier, VerifyOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (report_path, vcek_path) = match args.as_slice() {
        [r, v, ..] => (r.into(), v.into()),
        [] => match remits_testsupport::testdata::dir() {
            Some(d) => (
                d.join("snp/milan-v2-sev-report.bin"),
                d.join("snp/milan-v2-sev-vcek.der"),
            ),
            None => return ExitCode::from(2),
        },
        _ => {
            eprintln!("usage: verify_report [REPORT VCEK [RFC3339-TIME]]");
            return ExitCode::from(2);
        }
    };
    let time = match args.get(2) {
        Some(t) => {
            match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
                Ok(t) => SystemTime::from(t),
                Err(e) => {
                    eprintln!("time {t:?}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => SystemTime::now(),
    };
    let (report, vcek) = match (std::fs::read(&report_path), std::fs::read(&vcek_path)) {
        (Ok(r), Ok(v)) => (r, v),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cannot read input: {e}");
            return ExitCode::from(2);
        }
    };

    // One verifier per process: it is Send + Sync and caches verified chains.
    let verifier = Verifier::new(TrustAnchors::amd());
    // The VCEK (DER or PEM); the ASK and ARK are AMD's built-ins.
    let leaf = match remits_snp::cert::der_or_pem(&vcek) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rejected: {e}");
            return ExitCode::FAILURE;
        }
    };
    match verifier.verify(&report, &Endorsement::leaf(leaf), &VerifyOptions::at(time)) {
        Ok(v) => {
            let c = &v.claims();
            println!(
                "verified: {} v{} report signed by its {} (AMD root: {})",
                c.generation,
                c.version,
                c.signer,
                v.amd_root()
            );
            println!("measurement  {}", hex::encode(&c.measurement));
            println!("report_data  {}", hex::encode(&c.report_data));
            println!(
                "reported_tcb bl {} tee {} snp {} ucode {}",
                c.reported_tcb.bootloader,
                c.reported_tcb.tee,
                c.reported_tcb.snp,
                c.reported_tcb.microcode
            );
            println!("debug allowed {}, vmpl {}", c.policy.debug, c.vmpl);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rejected: {e}");
            ExitCode::FAILURE
        }
    }
}
