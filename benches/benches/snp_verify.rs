//! Full SEV-SNP report verification (real Milan report + VCEK + AMD chain), chain cached and
//! not, with the RustCrypto and aws-lc backends; baselines: one bare P-384 verification with
//! aws-lc-rs and with `p384`; comparison: the `sev` crate verifying the same report and chain.
//!
//! Target: cached verification <= 1.3x one aws-lc P-384 verification.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// criterion_group!/criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use remits_snp::backend::{AwsLc, RustCrypto, SignatureBackend};
use remits_snp::{Endorsement, TrustAnchors, Verifier, VerifyOptions};

struct Vectors {
    report: Vec<u8>,
    vcek: Vec<u8>,
    ask: Vec<u8>,
    ark: Vec<u8>,
}

fn vectors() -> Option<Vectors> {
    let dir = remits_testsupport::testdata::dir()?.join("snp");
    let report = std::fs::read(dir.join("milan-v2-sev-report.bin")).ok()?;
    let vcek = std::fs::read(dir.join("milan-v2-sev-vcek.der")).ok()?;
    let (ark, ask, _) = TrustAnchors::amd_certificates(remits_snp::Generation::Milan)?;
    Some(Vectors {
        report,
        vcek,
        ask,
        ark,
    })
}

fn bench(c: &mut Criterion) {
    let Some(v) = vectors() else {
        eprintln!("SKIPPED: snp_verify needs ../shared/testdata/snp");
        return;
    };
    // 2026-01-01: inside every certificate's validity.
    let opts = VerifyOptions::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    let end = Endorsement {
        leaf: v.vcek.clone(),
        chain: vec![v.ask.clone(), v.ark.clone()],
    };
    let mut g = c.benchmark_group("snp_verify");

    // Baselines: one P-384 signature verification over the same 672 bytes.
    let r = remits_snp::Report::parse(&v.report).unwrap();
    let sig = r.signature_be().unwrap();
    let leaf = remits_snp::cert::AmdCert::from_der(&v.vcek, remits_snp::CertRole::Vcek).unwrap();
    let remits_snp::cert::PublicKey::P384(point) = leaf.public_key().clone() else {
        panic!("not P-384")
    };
    let aws_key = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED,
        &point,
    )
    .unwrap();
    g.bench_function("baseline_p384_verify_aws_lc", |b| {
        b.iter(|| aws_key.verify_sig(r.signed_bytes(), &sig).unwrap())
    });
    let rc_key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let rc_sig = p384::ecdsa::Signature::from_slice(&sig).unwrap();
    g.bench_function("baseline_p384_verify_rustcrypto", |b| {
        b.iter(|| {
            use p384::ecdsa::signature::Verifier as _;
            rc_key.verify(r.signed_bytes(), &rc_sig).unwrap()
        })
    });

    let backends: [Arc<dyn SignatureBackend>; 2] = [Arc::new(AwsLc), Arc::new(RustCrypto)];
    for backend in backends {
        let name = backend.name();
        let verifier = Verifier::with_backend(TrustAnchors::amd(), backend.clone());
        let _ = verifier.verify(&v.report, &end, &opts).unwrap();
        g.bench_function(format!("remits_cached_{name}"), |b| {
            b.iter(|| {
                let out = verifier.verify(&v.report, &end, &opts).unwrap();
                debug_assert!(out.chain_cached());
                out
            })
        });
        g.bench_function(format!("remits_uncached_{name}"), |b| {
            b.iter(|| {
                verifier.clear_cache();
                verifier.verify(&v.report, &end, &opts).unwrap()
            })
        });
    }

    // The sev crate (crypto_nossl: RustCrypto) on the same report and chain. It re-parses and
    // re-verifies the whole chain every time (it has no cache) and checks signatures only.
    {
        use sev::certs::snp::{ca, Certificate, Chain, Verifiable};
        use sev::firmware::guest::AttestationReport;
        use sev::parser::ByteParser;
        let chain = Chain {
            ca: ca::Chain {
                ark: Certificate::from_der(&v.ark).unwrap(),
                ask: Certificate::from_der(&v.ask).unwrap(),
            },
            vek: Certificate::from_der(&v.vcek).unwrap(),
        };
        let report = AttestationReport::from_bytes(&v.report).unwrap();
        (&chain, &report).verify().unwrap();
        g.bench_function("sev_chain_and_report", |b| {
            b.iter(|| {
                let report = AttestationReport::from_bytes(&v.report).unwrap();
                (&chain, &report).verify().unwrap()
            })
        });
        let vek = Certificate::from_der(&v.vcek).unwrap();
        g.bench_function("sev_report_only", |b| {
            b.iter(|| {
                let report = AttestationReport::from_bytes(&v.report).unwrap();
                (&vek, &report).verify().unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
