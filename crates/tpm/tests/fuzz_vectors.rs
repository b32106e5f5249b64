//! Every fuzz entry point of `remits_tpm::fuzzing` over the real vectors, every single-byte
//! mutation or truncation of the small ones and a bounded deterministic sample of the large
//! ones: none may panic. This runs the fuzz targets' code in CI without libFuzzer.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use remits_tpm::fuzzing;

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

/// Deterministic xorshift, so a failure names a reproducible input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Run `f` on `seed`, its mutations and truncations; returns how many inputs were run.
fn exercise(f: fn(&[u8]), seed: &[u8]) -> usize {
    let mut runs = 0;
    let mut run = |b: &[u8]| {
        alloc_cap::capped(&format_args!("input of {} bytes", b.len()), || f(b));
        runs += 1;
    };
    run(seed);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.len() as u64);
    let small = seed.len() <= 512;
    let positions: Vec<usize> = if small {
        (0..seed.len()).collect()
    } else {
        (0..48).map(|_| rng.below(seed.len())).collect()
    };
    for &i in &positions {
        for v in [0x00u8, 0xFF, seed[i] ^ 0x01, seed[i].wrapping_add(0x80)] {
            let mut m = seed.to_vec();
            m[i] = v;
            run(&m);
        }
    }
    let cuts: Vec<usize> = if small {
        (0..seed.len()).collect()
    } else {
        (0..48)
            .map(|k| k * seed.len() / 48)
            .chain([seed.len() - 1])
            .collect()
    };
    for n in cuts {
        run(&seed[..n]);
    }
    // Appended garbage and a length field blown up at a random place.
    let mut m = seed.to_vec();
    m.extend([0xAA; 9]);
    run(&m);
    if seed.len() > 8 {
        let mut m = seed.to_vec();
        let i = rng.below(seed.len() - 4);
        m[i..i + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F]);
        run(&m);
    }
    runs
}

struct Seeds {
    attest: Vec<Vec<u8>>,
    signature: Vec<Vec<u8>>,
    public: Vec<Vec<u8>>,
    logs: Vec<Vec<u8>>,
    hcl: Vec<Vec<u8>>,
    evidence: Vec<Vec<u8>>,
}

fn seeds() -> Option<Seeds> {
    let d = remits_testsupport::testdata::dir()?;
    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    let msg = read("tpm/azure-snp-vtpm-quote.msg");
    let raw_sig = read("tpm/azure-snp-vtpm-quote.sig");
    let mut tpmt = vec![0x00, 0x14, 0x00, 0x0B, 0x01, 0x00];
    tpmt.extend(&raw_sig);
    let mut pss = tpmt.clone();
    pss[1] = 0x16;
    let mut ecdsa = vec![0x00, 0x18, 0x00, 0x0B, 0x00, 0x20];
    ecdsa.extend([0x11; 32]);
    ecdsa.extend([0x00, 0x20]);
    ecdsa.extend([0x22; 32]);

    // The Azure HCLAkPub as a tpm2_createak-style TPM2B_PUBLIC (RSA-2048, RSASSA/SHA-256),
    // and the same template for ECC P-256.
    let pem = String::from_utf8(read("tpm/azure-snp-vtpm-akpub.pem")).unwrap();
    let spki = remits_tpm::AttestationKey::from_spki_pem(&pem)
        .unwrap()
        .spki_der()
        .to_vec();
    let modulus = &spki[spki.len() - 5 - 256..spki.len() - 5];
    let mut t =
        hex::decode("0001000b000500720000001000140 00b080000000000 0100".replace(' ', "")).unwrap();
    t.extend(modulus);
    let mut rsa_pub = (t.len() as u16).to_be_bytes().to_vec();
    rsa_pub.extend(t);
    let mut t = hex::decode("0023000b00050072000000100018000b000300100020").unwrap();
    // The P-256 base point.
    t.extend(
        hex::decode("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296").unwrap(),
    );
    t.extend([0x00, 0x20]);
    t.extend(
        hex::decode("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5").unwrap(),
    );
    let mut ecc_pub = (t.len() as u16).to_be_bytes().to_vec();
    ecc_pub.extend(t);

    let mut logs = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(d.join("tpm/eventlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    names.sort();
    for p in names {
        logs.push(std::fs::read(p).unwrap());
    }
    let evidence: Vec<Vec<u8>> = ["evidence-v0.json", "evidence-v1.json", "evidence-v2.json"]
        .iter()
        .map(|n| read(&format!("az-snp-vtpm/{n}")))
        .collect();
    let mut hcl = vec![read("az-snp-vtpm/hcl-report.bin")];
    let mut attest = vec![msg];
    for e in &evidence {
        let e = remits_tpm::azure::AzSnpVtpmEvidence::from_json(e).unwrap();
        hcl.push(e.hcl_report);
        attest.push(e.message);
    }
    attest.push(read("tpm/azure-snp-vtpm-quote-pcrs.json"));
    Some(Seeds {
        attest,
        signature: vec![tpmt, pss, ecdsa, raw_sig],
        public: vec![rsa_pub, ecc_pub, pem.into_bytes(), spki],
        logs,
        hcl,
        evidence,
    })
}

#[test]
fn tpm_attest_and_pcr_files() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    let n: usize = s
        .attest
        .iter()
        .map(|b| exercise(fuzzing::tpm_attest, b))
        .sum();
    assert!(n > 1000, "{n}");
}

#[test]
fn tpm_signature() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    let n: usize = s
        .signature
        .iter()
        .map(|b| exercise(fuzzing::tpm_signature, b))
        .sum();
    assert!(n > 1000, "{n}");
}

#[test]
fn tpm_public() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    // The seeds themselves parse: the mutations start from valid structures.
    for b in &s.public {
        remits_tpm::AttestationKey::from_any(b).unwrap();
    }
    let n: usize = s
        .public
        .iter()
        .map(|b| exercise(fuzzing::tpm_public, b))
        .sum();
    assert!(n > 1000, "{n}");
}

#[test]
fn event_log() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    assert_eq!(s.logs.len(), 12);
    let n: usize = s.logs.iter().map(|b| exercise(fuzzing::event_log, b)).sum();
    assert!(n > 12 * 200, "{n}");
}

#[test]
fn hcl_report() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    for b in &s.hcl {
        remits_tpm::azure::HclReport::parse(b).unwrap();
    }
    let n: usize = s.hcl.iter().map(|b| exercise(fuzzing::hcl_report, b)).sum();
    assert!(n > 800, "{n}");
}

#[test]
fn az_evidence_json() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    let n: usize = s
        .evidence
        .iter()
        .map(|b| exercise(fuzzing::az_evidence_json, b))
        .sum();
    assert!(n > 600, "{n}");
}

/// Issue 16's audit for the TPM parsers: every offset of the real structures set in turn to a
/// maximal 16- and 32-bit value (TPM2B sizes, TPML counts, event sizes, digest counts, the
/// Spec ID event's algorithm count and vendor-info size, HCL sizes), each input under the
/// allocation cap.
#[test]
fn hostile_declared_sizes_stay_under_the_cap() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    let mut runs = 0;
    for b in &s.attest[..1] {
        runs += alloc_cap::size_sweep("TPMS_ATTEST", b, fuzzing::tpm_attest);
    }
    for b in &s.public[..2] {
        runs += alloc_cap::size_sweep("TPM2B_PUBLIC", b, fuzzing::tpm_public);
    }
    runs += alloc_cap::size_sweep("TPMT_SIGNATURE", &s.signature[0], fuzzing::tpm_signature);
    for b in &s.logs[..2] {
        runs += alloc_cap::size_sweep("event log", &b[..b.len().min(8192)], fuzzing::event_log);
    }
    runs += alloc_cap::size_sweep("HCL report", &s.hcl[0], fuzzing::hcl_report);
    assert!(runs > 20_000, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set): the structures this test builds
/// from `$REMITS_TESTDATA`, one directory per target.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    let Some(s) = seeds() else { return };
    for (target, list) in [
        ("tpm_attest", &s.attest),
        ("tpm_signature", &s.signature),
        ("tpm_public", &s.public),
        ("event_log", &s.logs),
        ("hcl_report", &s.hcl),
        ("az_evidence_json", &s.evidence),
    ] {
        for (i, b) in list.iter().enumerate() {
            assert!(alloc_cap::write_seed(target, &format!("seed-{i}"), b));
        }
    }
}
