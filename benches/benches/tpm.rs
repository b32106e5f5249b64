//! TPM verification speed on real vectors: the Azure vTPM quote (RSA-2048 RSASSA/SHA-256, 24
//! SHA-256 PCRs) through the whole quote checklist and parsing alone; a real TCG event log
//! (ubuntu-2104-no-dbx, 111 events, sha1/sha256/sha384) parsed and replayed; and the complete
//! Azure SNP vTPM evidence check (HCL report, SNP report + VCEK chain, binding, quote).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// criterion_group!/criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use remits_tpm::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence};
use remits_tpm::{replay, EventLog};
use remits_tpm::{verify_quote, Attest, AttestationKey, HashAlg, NonceCheck, PcrValues, Signature};

fn bench(c: &mut Criterion) {
    let Some(d) = remits_testsupport::testdata::dir() else {
        eprintln!("SKIPPED: tpm benches need ../shared/testdata");
        return;
    };
    let read = |p: &str| std::fs::read(d.join(p)).expect(p);
    let msg = read("tpm/azure-snp-vtpm-quote.msg");
    let sig = Signature::rsassa_raw(HashAlg::Sha256, &read("tpm/azure-snp-vtpm-quote.sig"));
    let ak = AttestationKey::from_spki_pem(
        &String::from_utf8(read("tpm/azure-snp-vtpm-akpub.pem")).expect("PEM"),
    )
    .expect("AK");
    let pcrs = PcrValues::from_json(&read("tpm/azure-snp-vtpm-quote-pcrs.json")).expect("PCRs");
    let _ =
        verify_quote(&msg, &sig, &ak, &pcrs, NonceCheck::Expected(b"challenge")).expect("verifies");

    let mut g = c.benchmark_group("tpm");
    g.bench_function("quote_verify_azure", |b| {
        b.iter(|| verify_quote(&msg, &sig, &ak, &pcrs, NonceCheck::Expected(b"challenge")).is_ok())
    });
    g.bench_function("attest_parse", |b| b.iter(|| Attest::parse(&msg).is_ok()));

    let log = read("tpm/eventlog/ubuntu-2104-no-dbx.bin");
    replay(&EventLog::parse(&log).expect("log")).expect("replays");
    g.bench_function("eventlog_parse_ubuntu_2104", |b| {
        b.iter(|| EventLog::parse(&log).map(|l| l.events().len()))
    });
    g.bench_function("eventlog_parse_replay_ubuntu_2104", |b| {
        b.iter(|| {
            let l = EventLog::parse(&log).expect("log");
            replay(&l).map(|r| r.pcrs().banks().len())
        })
    });

    let ev = AzSnpVtpmEvidence::from_json(&read("az-snp-vtpm/evidence-v1.json")).expect("v1");
    let snp = remits_snp::Verifier::new(remits_snp::TrustAnchors::amd());
    // 2026-11-01: inside the VCEK's validity.
    let opts =
        remits_snp::VerifyOptions::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_200));
    let _ =
        verify_az_snp_vtpm(&ev, &snp, &opts, NonceCheck::Expected(b"challenge")).expect("verifies");
    g.bench_function("az_snp_vtpm_verify_v1", |b| {
        b.iter(|| verify_az_snp_vtpm(&ev, &snp, &opts, NonceCheck::Expected(b"challenge")).is_ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
