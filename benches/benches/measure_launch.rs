//! SEV-SNP / SEV-ES / SEV launch digests (`remits_measure::launch`) on the sev-snp-measure
//! vectors' inputs (`../shared/testdata/measure`) and on Debian's full OVMF when installed, plus
//! the ID block. Compare with `sev-snp-measure` end to end using `hyperfine` (docs/measure.md).
//!
//! Run: `cargo bench -p remits-benches --bench measure_launch`.
#![allow(missing_docs)]
// criterion_group! generates undocumented functions
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use remits_measure::launch::idblock::{self, IdBlock};
use remits_measure::launch::{
    launch_digest, snp_ovmf_hash, LaunchInputs, Mode, SevHashes, VmmType,
};

const EPYC_V4: u32 = 0x0080_0f12;

fn measure_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("measure"))
}

/// A deterministic pseudo-kernel of `n` bytes.
fn blob(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt ^ (i >> 12) as u8)
        .collect()
}

fn launch(c: &mut Criterion) {
    let Some(dir) = measure_dir() else { return };
    let read = |n: &str| std::fs::read(dir.join(n)).expect("test vector");
    let amdsev = read("ovmf_AmdSev_suffix.bin");
    let svsm = read("svsm.bin");
    let svsm_ovmf = read("svsm_ovmf.fd");
    let kernel = blob(12 << 20, 1);
    let initrd = blob(48 << 20, 2);
    let hashes = SevHashes::new(&kernel, Some(&initrd), Some("console=ttyS0 loglevel=7"));

    let mut g = c.benchmark_group("launch_digest");
    // The AmdSev firmware with a direct kernel boot (kernel hashes precomputed: the SEV hashes
    // table page), 4 vCPUs, on each VMM type.
    for vmm in [VmmType::Qemu, VmmType::Ec2, VmmType::Gce] {
        let mut i = LaunchInputs::new(Mode::Snp, &amdsev);
        i.vcpus = 4;
        i.vcpu_sig = Some(EPYC_V4);
        i.vmm = vmm;
        i.kernel_hashes = Some(hashes);
        g.bench_with_input(
            BenchmarkId::new("snp_amdsev_kernel_initrd_4vcpu", format!("{vmm:?}")),
            &i,
            |b, i| b.iter(|| launch_digest(i).expect("digest")),
        );
    }
    // COCONUT-SVSM + its OVMF (the two real-launch vectors' inputs).
    let mut i = LaunchInputs::new(Mode::SnpSvsm, &svsm_ovmf);
    i.svsm = Some((&svsm).into());
    i.vcpus = 1;
    i.vcpu_sig = Some(EPYC_V4);
    i.ovmf_vars_size = 540_672;
    g.throughput(Throughput::Bytes((svsm.len() + svsm_ovmf.len()) as u64));
    g.bench_function("snp_svsm", |b| {
        b.iter(|| launch_digest(&i).expect("digest"))
    });
    g.throughput(Throughput::Bytes(svsm_ovmf.len() as u64));
    g.bench_function("snp_ovmf_hash_svsm_ovmf", |b| {
        b.iter(|| snp_ovmf_hash(&svsm_ovmf).expect("hash"))
    });
    g.throughput(Throughput::Elements(1));
    let mut i = LaunchInputs::new(Mode::SevEs, &amdsev);
    i.vcpus = 4;
    i.vcpu_sig = Some(EPYC_V4);
    i.kernel_hashes = Some(hashes);
    g.bench_function("seves_amdsev_kernel_4vcpu", |b| {
        b.iter(|| launch_digest(&i).expect("digest"))
    });
    // Debian's `ovmf` package: the whole 4 MiB firmware is measured page by page.
    if let Ok(debian) = std::fs::read("/usr/share/OVMF/OVMF_CODE_4M.fd") {
        let mut i = LaunchInputs::new(Mode::Snp, &debian);
        i.vcpus = 4;
        i.vcpu_sig = Some(EPYC_V4);
        g.throughput(Throughput::Bytes(debian.len() as u64));
        g.bench_function("snp_debian_ovmf_code_4m_4vcpu", |b| {
            b.iter(|| launch_digest(&i).expect("digest"))
        });
        let mut i = LaunchInputs::new(Mode::Sev, &debian);
        i.vcpus = 1;
        g.bench_function("sev_debian_ovmf_code_4m", |b| {
            b.iter(|| launch_digest(&i).expect("digest"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("launch_inputs");
    g.throughput(Throughput::Bytes((kernel.len() + initrd.len()) as u64));
    g.bench_function("sev_hashes_kernel12m_initrd48m", |b| {
        b.iter(|| SevHashes::new(&kernel, Some(&initrd), Some("console=ttyS0")))
    });
    g.finish();

    let id_pem = String::from_utf8(read("id_key_test.pem")).expect("pem");
    let author_pem = String::from_utf8(read("author_key_test.pem")).expect("pem");
    let id_key = idblock::signing_key_from_pem(&id_pem).expect("id key");
    let author_key = idblock::signing_key_from_pem(&author_pem).expect("author key");
    let block = IdBlock::new([0x42; 48]);
    let signed = idblock::sign_id_block(&block, &id_key, &author_key);
    let mut g = c.benchmark_group("id_block");
    g.bench_function("sign", |b| {
        b.iter(|| idblock::sign_id_block(&block, &id_key, &author_key))
    });
    g.bench_function("verify_id_auth", |b| {
        b.iter(|| idblock::verify_id_auth(&signed.id_block, &signed.id_auth[..]).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, launch);
criterion_main!(benches);
