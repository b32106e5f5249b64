//! The `sev_cert` fuzz entry point over mutated real chains and certificates (what CI runs in
//! place of a fuzzing campaign): no panic on any of them.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;
mod common;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

use remits_sev::fuzzing;

/// `fuzzing::cert` under the allocation cap of `alloc_cap`.
fn cert(d: &[u8]) {
    alloc_cap::capped(&format_args!("cert on {} bytes", d.len()), || {
        fuzzing::cert(d)
    })
}

/// xorshift64*: deterministic mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(m.len());
                if let Some(b) = m.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => m.truncate(rng.below(m.len() + 1)),
        2 => {
            // A declared size or usage field set to an extreme value.
            let i = rng.below(m.len().saturating_sub(4));
            if let Some(w) = m.get_mut(i..i + 4) {
                w.copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
        }
        _ => {
            let extra = rng.below(64);
            m.extend(std::iter::repeat_n(0xA5, extra));
        }
    }
    m
}

#[test]
fn sev_entry_survives_mutated_real_chains() {
    let _serial = alloc_cap::serial();
    let mut seeds: Vec<Vec<u8>> = remits_sev::Generation::ALL
        .iter()
        .flat_map(|g| [g.ark().to_vec(), g.ask().to_vec()])
        .collect();
    if let Some(d) = common::sev_dir() {
        for gen in ["naples", "rome", "milan"] {
            let chain = common::chain(&d, gen);
            seeds.push(chain.to_sevctl_export());
            seeds.extend([chain.cek, chain.oca, chain.pek, chain.pdh]);
        }
    }
    let mut rng = Rng(0x5eed_5e5e_c0de_0001);
    let mut runs = 0;
    for seed in &seeds {
        cert(seed);
        for _ in 0..60 {
            cert(&mutate(seed, &mut rng));
            runs += 1;
        }
    }
    for len in [0usize, 1, 47, 48, 127, 128, 0x823, 0x824, 4 * 0x824] {
        cert(&vec![0u8; len]);
        cert(&vec![0xffu8; len]);
    }
    println!("{runs} mutated inputs through remits_sev::fuzzing::cert");
    assert!(runs >= 600);
}

/// Issue 16's audit for the SEV formats: every offset of the real Milan ARK and ASK set in turn
/// to a maximal 16- and 32-bit value (key sizes, usage fields), each input under the allocation
/// cap. (SEV certificates have a fixed size; the chains' mutations run in the test above.)
#[test]
fn hostile_declared_sizes_stay_under_the_cap() {
    let _serial = alloc_cap::serial();
    let g = remits_sev::Generation::Milan;
    let mut runs = alloc_cap::size_sweep("milan ARK", g.ark(), fuzzing::cert);
    runs += alloc_cap::size_sweep("milan ASK", g.ask(), fuzzing::cert);
    assert!(runs > 4000, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set): the built-in roots and the real
/// platform chains.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    for g in remits_sev::Generation::ALL {
        alloc_cap::write_seed("sev_cert", &format!("{g:?}-ark"), g.ark());
        alloc_cap::write_seed("sev_cert", &format!("{g:?}-ask"), g.ask());
    }
    if let Some(d) = common::sev_dir() {
        for gen in ["naples", "rome", "milan"] {
            let chain = common::chain(&d, gen);
            alloc_cap::write_seed(
                "sev_cert",
                &format!("{gen}-export"),
                &chain.to_sevctl_export(),
            );
            alloc_cap::write_seed("sev_cert", &format!("{gen}-pdh"), &chain.pdh);
        }
    }
}
