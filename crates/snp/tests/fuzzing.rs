//! The fuzz entry points run over every real vector with bounded deterministic mutations and
//! truncations: none may panic. (The fuzz targets under `fuzz/` call the same functions.)

mod common;

use common::*;
use remits_snp::fuzzing;

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
    let Some(dir) = snp_dir() else { return };
    let reports = files(&dir, "bin");
    let leaves = files(&dir, "der");
    assert!(reports.len() >= 4 && leaves.len() >= 6);
    let mut rng = Rng(0x5EED_0001);
    for r in &reports {
        fuzzing::report(r);
        for len in (0..r.len()).step_by(37) {
            fuzzing::report(&r[..len]);
        }
        for m in mutants(r, 300, &mut rng) {
            fuzzing::report(&m);
        }
        // Report followed by each leaf (the target's two-part input), mutated in both parts.
        for leaf in &leaves {
            let mut both = r.clone();
            both.extend_from_slice(leaf);
            fuzzing::report(&both);
            for m in mutants(&both, 40, &mut rng) {
                fuzzing::report(&m);
            }
        }
    }
}

#[test]
fn cert_entry_survives_mutated_real_certificates() {
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
        fuzzing::cert(s);
        for len in (0..s.len()).step_by(53) {
            fuzzing::cert(&s[..len]);
        }
        for m in mutants(s, 60, &mut rng) {
            fuzzing::cert(&m);
        }
    }
}

#[test]
fn entries_survive_edge_inputs() {
    for data in [
        &[][..],
        &[0x30],
        &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0u8; 1184],
        &[0xFF; 2000],
    ] {
        fuzzing::report(data);
        fuzzing::cert(data);
    }
    fuzzing::cert(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    fuzzing::cert(b"-----BEGIN CERTIFICATE-----\n");
}
