//! The fuzz entry points run over every real vector with bounded deterministic mutations and
//! truncations: none may panic. (The fuzz targets under `fuzz/` call the same functions.)
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;
mod common;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

use common::*;
use remits_snp::fuzzing;

/// `fuzzing::report` under the allocation cap of `alloc_cap`.
fn report(d: &[u8]) {
    alloc_cap::capped(&format_args!("report on {} bytes", d.len()), || {
        fuzzing::report(d)
    })
}

/// `fuzzing::cert` under the allocation cap of `alloc_cap`.
fn cert(d: &[u8]) {
    alloc_cap::capped(&format_args!("cert on {} bytes", d.len()), || {
        fuzzing::cert(d)
    })
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `rounds` mutants of `seed`: 1-4 byte changes, an insertion or deletion, or a truncation.
fn mutants(seed: &[u8], rounds: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut m = seed.to_vec();
        match rng.below(4) {
            0 | 1 => {
                for _ in 0..=rng.below(4) {
                    let i = rng.below(m.len());
                    m[i] = rng.next() as u8;
                }
            }
            2 => {
                let i = rng.below(m.len());
                if rng.next() & 1 == 0 {
                    m.insert(i, rng.next() as u8);
                } else {
                    m.remove(i);
                }
            }
            _ => m.truncate(rng.below(m.len())),
        }
        out.push(m);
    }
    out
}

fn files(dir: &std::path::Path, ext: &str) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn report_entry_survives_mutated_real_reports() {
    let _serial = alloc_cap::serial();
    let Some(dir) = snp_dir() else { return };
    let reports = files(&dir, "bin");
    let leaves = files(&dir, "der");
    assert!(reports.len() >= 4 && leaves.len() >= 6);
    let mut rng = Rng(0x5EED_0001);
    for r in &reports {
        report(r);
        for len in (0..r.len()).step_by(37) {
            report(&r[..len]);
        }
        for m in mutants(r, 300, &mut rng) {
            report(&m);
        }
        // Report followed by each leaf (the target's two-part input), mutated in both parts.
        for leaf in &leaves {
            let mut both = r.clone();
            both.extend_from_slice(leaf);
            report(&both);
            for m in mutants(&both, 40, &mut rng) {
                report(&m);
            }
        }
    }
}

#[test]
fn cert_entry_survives_mutated_real_certificates() {
    let _serial = alloc_cap::serial();
    let Some(dir) = snp_dir() else { return };
    let mut seeds = files(&dir, "der");
    for pem in files(&dir, "pem") {
        seeds.extend(
            remits_snp::cert::pem_bundle_to_der(std::str::from_utf8(&pem).unwrap()).unwrap(),
        );
        seeds.push(pem);
    }
    assert!(seeds.len() >= 15);
    let mut rng = Rng(0x5EED_0002);
    for s in &seeds {
        cert(s);
        for len in (0..s.len()).step_by(53) {
            cert(&s[..len]);
        }
        for m in mutants(s, 60, &mut rng) {
            cert(&m);
        }
    }
}

#[test]
fn entries_survive_edge_inputs() {
    let _serial = alloc_cap::serial();
    for data in [
        &[][..],
        &[0x30],
        &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0u8; 1184],
        &[0xFF; 2000],
    ] {
        report(data);
        cert(data);
    }
    cert(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    cert(b"-----BEGIN CERTIFICATE-----\n");
}

#[test]
fn crl_entry_survives_forged_crls_mutations_and_hostile_sizes() {
    let _serial = alloc_cap::serial();
    use std::time::{Duration, UNIX_EPOCH};
    let this = UNIX_EPOCH + Duration::from_secs(1_740_000_000);
    let next = this + Duration::from_secs(3600 * 24 * 365);
    let mut f = common::forge::Forged::milan(7);
    let mut runs = 0;
    let revoked: Vec<u32> = (1..40).collect();
    for (name, seed) in [
        ("crl", f.crl(&revoked, this, next)),
        (
            "crl with IDP",
            f.crl_full(
                &[3],
                this,
                None,
                Some("https://kdsintf.amd.com/vlek/v1/Milan/crl"),
            ),
        ),
        ("empty crl", f.crl(&[], this, next)),
    ] {
        runs += alloc_cap::exercise(name, &seed, 500, fuzzing::crl);
        let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &seed).unwrap();
        runs += alloc_cap::exercise(name, pem.as_bytes(), 50, fuzzing::crl);
        // As operators sometimes write it: one long Base64 line, CRLF line ends.
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let one = format!("-----BEGIN X509 CRL-----\r\n{b64}\r\n-----END X509 CRL-----\r\n");
        runs += alloc_cap::exercise(name, one.as_bytes(), 50, fuzzing::crl);
    }
    // Hostile sizes: 20,000 revoked serials (a 0.5 MiB list); a SEQUENCE declaring 4 GiB.
    let many: Vec<u32> = (1..20_000).collect();
    let big = f.crl(&many, this, next);
    runs += alloc_cap::exercise("20,000 revoked", &big, 3, fuzzing::crl);
    runs += alloc_cap::exercise(
        "4 GiB SEQUENCE",
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00],
        20,
        fuzzing::crl,
    );
    assert!(runs > 1600, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set): real reports (alone and followed by
/// their leaf), certificates, and forged CRLs.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    use std::time::{Duration, UNIX_EPOCH};
    let this = UNIX_EPOCH + Duration::from_secs(1_740_000_000);
    let mut f = common::forge::Forged::milan(7);
    let w = alloc_cap::write_seed;
    w(
        "snp_crl",
        "forged.crl",
        &f.crl(
            &(1..40).collect::<Vec<_>>(),
            this,
            this + Duration::from_secs(86_400 * 365),
        ),
    );
    w(
        "snp_crl",
        "forged-idp.crl",
        &f.crl_full(
            &[3],
            this,
            None,
            Some("https://kdsintf.amd.com/vlek/v1/Milan/crl"),
        ),
    );
    let Some(dir) = snp_dir() else { return };
    let reports = files(&dir, "bin");
    let leaves = files(&dir, "der");
    for (i, r) in reports.iter().enumerate() {
        w("snp_report", &format!("report-{i}"), r);
        let mut both = r.clone();
        both.extend_from_slice(&leaves[i % leaves.len()]);
        w("snp_report", &format!("report-leaf-{i}"), &both);
    }
    for (i, c) in leaves.iter().enumerate() {
        w("snp_cert", &format!("cert-{i}.der"), c);
    }
    for (i, p) in files(&dir, "pem").iter().enumerate() {
        w("snp_cert", &format!("bundle-{i}.pem"), p);
    }
}
