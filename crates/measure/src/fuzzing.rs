//! Entry points for the `measure_*` fuzz targets, one per parser of untrusted input:
//! [`ovmf`] (firmware images and the launch digest over them), [`gpt`] (a whole disk image: GPT,
//! FAT ESP, boot chain and `grub.cfg`), [`pe`] (PE/COFF and Authenticode), [`tar`](mod@tar) (a
//! container-image layer, plain or gzip), [`manifest`] (measurement manifest JSON, signed or not)
//! and [`enclave_yaml`] (the enclave configuration). Each must return — never panic, hang or
//! allocate without bound — whatever the input. `crates/measure/tests/fuzzing.rs` runs them over real
//! inputs and bounded mutations of them.

use std::io::Read as _;

use crate::launch::{self, LaunchInputs, Mode, SevHashes, VmmType};
use crate::predict::image::{fslist, layer};
use crate::predict::{gpt::Gpt, parse_grub_cfg, predict_boot};

/// The `measure_manifest` target and its key live with the manifest format.
pub use remits_manifest::fuzzing::{manifest, manifest_key};

/// Largest decompressed layer the [`tar`] entry reads (keeps one run bounded).
const MAX_LAYER_BYTES: u64 = 64 << 20;

/// Parses `data` as an OVMF (or SVSM) image and computes every launch digest over it: SNP with
/// and without a kernel, on each VMM type, SEV-ES, SEV and `snp:svsm`.
pub fn ovmf(data: &[u8]) {
    let Ok(fw) = launch::Firmware::parse(data) else {
        return;
    };
    let _ = fw.sev_es_reset_eip();
    let _ = fw.sev_hashes_table_gpa();
    let _ = fw.svsm_entry();
    let _ = launch::snp_ovmf_hash(data);
    let hashes = SevHashes::new(b"kernel", Some(b"initrd"), Some("console=ttyS0"));
    for (mode, vmm, kernel) in [
        (Mode::Snp, VmmType::Qemu, false),
        (Mode::Snp, VmmType::Qemu, true),
        (Mode::Snp, VmmType::Ec2, true),
        (Mode::Snp, VmmType::Gce, false),
        (Mode::SevEs, VmmType::Qemu, true),
        (Mode::Sev, VmmType::Qemu, true),
    ] {
        let mut i = LaunchInputs::new(mode, data);
        i.vcpus = 2;
        i.vcpu_sig = Some(0x00a0_0f11);
        i.vmm = vmm;
        i.kernel_hashes = kernel.then_some(hashes);
        let _ = launch::launch_digest(&i);
    }
    // The same bytes as the SVSM binary of an `snp:svsm` launch.
    let mut i = LaunchInputs::new(Mode::SnpSvsm, data);
    i.svsm = Some(data.into());
    i.vcpus = 1;
    i.vcpu_sig = Some(0x00a0_0f11);
    i.ovmf_vars_size = 4096;
    let _ = launch::launch_digest(&i);
}

/// Treats `data` as a whole disk image: GPT (with its event data), then the ESP, the boot chain
/// on it, the PE images and `grub.cfg` it finds.
pub fn gpt(data: &[u8]) {
    if let Ok(g) = Gpt::read(data) {
        let _ = g.event();
        let _ = g.esp();
    }
    let _ = predict_boot(data);
    let _ = parse_grub_cfg(data);
}

/// Parses `data` as a PE/COFF image (Authenticode digest and sections).
pub fn pe(data: &[u8]) {
    if let Ok(img) = crate::predict::pe::parse("fuzz", data) {
        let _ = img.section(".linux");
    }
}

/// Reads `data` as a container-image layer (uncompressed tar, or gzip when it starts with the
/// gzip magic) and flattens it onto an empty filesystem.
pub fn tar(data: &[u8]) {
    let read = if data.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(data).take(MAX_LAYER_BYTES);
        layer::read_layer("fuzz", gz)
    } else {
        layer::read_layer("fuzz", data)
    };
    if let Ok(l) = read {
        let mut fs = std::collections::BTreeMap::new();
        if fslist::apply(&mut fs, l).is_ok() {
            let _ = fslist::files_digest(&fs);
        }
    }
}

/// The `enclave_yaml` target: `data` as an enclave configuration (YAML): parsed and validated,
/// its canonical parts and PCR15 events computed.
pub fn enclave_yaml(data: &[u8]) {
    if let Ok(c) = crate::predict::config::EnclaveConfig::from_yaml(data) {
        let _ = c.canonical_parts();
        let _ = c.events();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_and_tiny_inputs_do_not_panic() {
        for seed in [
            &b""[..],
            b"\0",
            b"MZ",
            b"EFI PART",
            &[0u8; 4096][..],
            &[0xff; 1024][..],
        ] {
            super::ovmf(seed);
            super::gpt(seed);
            super::pe(seed);
            super::tar(seed);
        }
    }
}
