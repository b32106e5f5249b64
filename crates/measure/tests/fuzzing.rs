//! The fuzz entry points (`remits_measure::fuzzing`) over real inputs and bounded, deterministic
//! mutations and truncations of them: none may panic. The real inputs are the OVMF and SVSM
//! fixtures of `../shared/testdata/measure`, Debian's OVMF, shim and GRUB when installed, and
//! disk and container images built by the test helpers.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;
mod predict_util;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use predict_util::*;
use remits_measure::fuzzing;

/// A small deterministic generator (xorshift64*), so failures reproduce.
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

/// Values that stress size and offset fields.
const INTERESTING: [u32; 8] = [
    0,
    1,
    0x7f,
    0xff,
    0x1000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// Runs `entry` on `input`, on truncations of it and on `rounds` mutated copies. Mutated
/// positions favour the first and last 8 KiB, where the headers and footers are.
fn exercise(name: &str, input: &[u8], rounds: usize, entry: fn(&[u8])) -> usize {
    let run = |what: String, data: &[u8]| {
        let label = format!("{name}: {what} ({} bytes)", data.len());
        let r = alloc_cap::capped(&label, || catch_unwind(AssertUnwindSafe(|| entry(data))));
        if r.is_err() {
            panic!("{label}: panicked");
        }
    };
    let len = input.len();
    run("the original".into(), input);
    let mut cuts: Vec<usize> = (0..=32).map(|k| len * k / 32).collect();
    cuts.extend([1, 2, 8, 92, 512, 4096, 8192].iter().filter(|c| **c < len));
    cuts.extend(
        [1, 18, 32, 50, 512, 4096]
            .iter()
            .filter_map(|d| len.checked_sub(*d)),
    );
    cuts.sort_unstable();
    cuts.dedup();
    for c in &cuts {
        run(format!("a truncation to {c} bytes"), &input[..*c]);
        // The tail alone, too: footers are found from the end.
        run(format!("the last {} bytes", len - c), &input[*c..]);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ len as u64);
    let hot = 8192.min(len);
    let mut data = input.to_vec();
    for round in 0..rounds {
        if len == 0 {
            break;
        }
        let pos = match rng.below(4) {
            0 | 1 => rng.below(hot),
            2 => len - 1 - rng.below(hot),
            _ => rng.below(len),
        };
        let saved: Vec<u8> = data[pos..(pos + 4).min(len)].to_vec();
        let what = if rng.below(2) == 0 {
            let x = (rng.next() as u8) | 1;
            data[pos] ^= x;
            format!("round {round}: byte {pos:#x} ^= {x:#04x}")
        } else {
            let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
            let n = saved.len();
            data[pos..pos + n].copy_from_slice(&v[..n]);
            format!(
                "round {round}: u32 at {pos:#x} = {:#x}",
                u32::from_le_bytes(v)
            )
        };
        run(what, &data);
        data[pos..pos + saved.len()].copy_from_slice(&saved);
    }
    1 + 2 * cuts.len() + rounds
}

fn read_if(p: &Path) -> Option<Vec<u8>> {
    p.is_file().then(|| std::fs::read(p).unwrap())
}

#[test]
fn ovmf_entry_survives_real_firmware_and_mutations() {
    let _serial = alloc_cap::serial();
    let Some(dir) = remits_testsupport::testdata::dir().map(|d| d.join("measure")) else {
        return;
    };
    let mut runs = 0;
    for (name, rounds) in [
        ("ovmf_AmdSev_suffix.bin", 600),
        ("ovmf_OvmfX64_suffix.bin", 600),
        ("svsm_ovmf.fd", 30),
        ("svsm.bin", 40),
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        runs += exercise(name, &data, rounds, fuzzing::ovmf);
    }
    // Debian's OVMF, when the `ovmf` package is installed.
    if let Some(d) = read_if(Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd")) {
        runs += exercise("OVMF_CODE_4M.fd", &d, 30, fuzzing::ovmf);
    }
    assert!(runs > 1000, "{runs}");
}

#[test]
fn gpt_entry_survives_disk_images_and_mutations() {
    let _serial = alloc_cap::serial();
    let mut runs = 0;
    for (name, disk) in [
        (
            "shim+grub disk",
            gpt_disk(&shim_grub_esp(b"kernel", "console=ttyS0"), [3; 16]),
        ),
        (
            "uki disk",
            gpt_disk(&uki_esp("console=ttyS0 quiet"), [4; 16]),
        ),
    ] {
        runs += exercise(name, &disk, 400, fuzzing::gpt);
        // The ESP alone, as a "disk" (no GPT), and its mutations.
        let esp = &disk[2048 * 512..];
        runs += exercise(
            &format!("{name} ESP"),
            &esp[..esp.len().min(1 << 20)],
            200,
            fuzzing::gpt,
        );
    }
    let cfg = b"set timeout=0\nmenuentry L {\n linux /vmlinuz ro quiet\n initrd /a /b\n}\n";
    runs += exercise("grub.cfg", cfg, 300, fuzzing::gpt);
    assert!(runs > 1500, "{runs}");
}

fn debian_efi_binaries() -> Vec<PathBuf> {
    [
        "/usr/lib/shim/shimx64.efi.signed",
        "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| p.is_file())
    .collect()
}

#[test]
fn pe_entry_survives_efi_binaries_and_mutations() {
    let _serial = alloc_cap::serial();
    let mut runs = 0;
    let synthetic = pe(&[
        (".text", b"code"),
        (".vendor_cert", b"cert"),
        (".sbat", b"sbat,1\n"),
    ]);
    runs += exercise("synthetic PE", &synthetic, 1500, fuzzing::pe);
    let linux = pe(&[(".text", b"kernel")]);
    let uki = pe(&[
        (".osrel", b"ID=x\n"),
        (".cmdline", b"ro"),
        (".linux", &linux),
    ]);
    runs += exercise("synthetic UKI", &uki, 1000, fuzzing::pe);
    for f in debian_efi_binaries() {
        let data = std::fs::read(&f).unwrap();
        runs += exercise(&f.display().to_string(), &data, 120, fuzzing::pe);
    }
    assert!(runs > 2500, "{runs}");
}

#[test]
fn tar_entry_survives_layers_and_mutations() {
    let _serial = alloc_cap::serial();
    use std::io::Write as _;
    let mut runs = 0;
    let mut files = layers(b"app")[0].clone();
    files.retain(|f| f.0 != "big.bin");
    files.push(("link", Some(b"x".to_vec()), 0o777));
    let plain = layer_tar(&files, false);
    runs += exercise("layer tar", &plain, 1500, fuzzing::tar);
    let whiteouts = layer_tar(&layers(b"app")[1], true);
    runs += exercise("layer tar with whiteouts", &whiteouts, 800, fuzzing::tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    runs += exercise("gzip layer", &gz, 800, fuzzing::tar);
    // A whole docker-save archive read as a layer (nested tar members, JSON files).
    let mut small = layers(b"app");
    small[0].retain(|f| f.0 != "big.bin");
    let save = docker_save(&small, false);
    runs += exercise("docker save archive", &save, 500, fuzzing::tar);
    assert!(runs > 3000, "{runs}");
}

/// Issue 16's finding: a small PE whose six sections declare a 1 GiB VirtualSize each made the
/// parser zero-fill 6 GiB. It is refused before anything is allocated; so is a section table
/// that points many sections at the same raw data.
#[test]
fn hostile_virtual_sizes_are_refused_before_allocating() {
    let _serial = alloc_cap::serial();
    let body = vec![0x90u8; 4096];
    let sections: Vec<(&str, &[u8])> = [".a", ".b", ".c", ".d", ".e", ".f"]
        .iter()
        .map(|n| (*n, &body[..]))
        .collect();
    let mut img = pe(&sections);
    let opt = 0x44 + 20;
    for i in 0..6 {
        let sh = opt + 240 + 40 * i;
        img[sh + 8..sh + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    }
    let started = std::time::Instant::now();
    let e = remits_measure::predict::pe::parse("BOOTX64.EFI", &img).unwrap_err();
    assert!(e.to_string().contains("zero fill"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    fuzzing::pe(&img);
    // 4,000 sections declaring 40 KiB each, all over the same raw data: 156 MiB declared from a
    // 16 MiB file.
    let many: Vec<(&str, &[u8])> = (0..4000).map(|_| (".x", &body[..])).collect();
    let mut img = pe(&many);
    let raw0 = u32::from_le_bytes(img[opt + 240 + 20..opt + 240 + 24].try_into().unwrap());
    for i in 0..4000 {
        let sh = opt + 240 + 40 * i;
        img[sh + 20..sh + 24].copy_from_slice(&raw0.to_le_bytes());
        img[sh + 8..sh + 12].copy_from_slice(&(40u32 << 10).to_le_bytes());
    }
    let e = remits_measure::predict::pe::parse("many.efi", &img).unwrap_err();
    assert!(e.to_string().contains("zero fill"), "{e}");
}

/// Sets the FAT entry of `cluster` to `next` (FAT12 or FAT16, every FAT copy).
fn set_fat_entry(fs: &mut [u8], cluster: usize, next: u16) {
    let bps = u16::from_le_bytes([fs[11], fs[12]]) as usize;
    let spc = fs[13] as usize;
    let reserved = u16::from_le_bytes([fs[14], fs[15]]) as usize;
    let nfats = fs[16] as usize;
    let root_entries = u16::from_le_bytes([fs[17], fs[18]]) as usize;
    let total = match u16::from_le_bytes([fs[19], fs[20]]) {
        0 => u32::from_le_bytes(fs[32..36].try_into().unwrap()) as usize,
        n => n as usize,
    };
    let fat_sectors = u16::from_le_bytes([fs[22], fs[23]]) as usize;
    let data_sectors = total - reserved - nfats * fat_sectors - (root_entries * 32).div_ceil(bps);
    let fat12 = data_sectors / spc < 4085;
    for k in 0..nfats {
        let fat = &mut fs[(reserved + k * fat_sectors) * bps..];
        if fat12 {
            let o = cluster * 3 / 2;
            let v = u16::from_le_bytes([fat[o], fat[o + 1]]);
            let v = if cluster % 2 == 0 {
                (v & 0xf000) | (next & 0x0fff)
            } else {
                (v & 0x000f) | (next << 4)
            };
            fat[o..o + 2].copy_from_slice(&v.to_le_bytes());
        } else {
            fat[cluster * 2..cluster * 2 + 2].copy_from_slice(&next.to_le_bytes());
        }
    }
}

/// An ESP whose `EFI/BOOT/BOOTX64.EFI` declares `size` bytes over a cluster chain that loops
/// back on its first cluster.
fn looping_esp(size: u32) -> Vec<u8> {
    let mut esp = fat(4 << 20, &[("EFI/BOOT/BOOTX64.EFI", pe(&[(".text", b"x")]))]);
    let at = esp
        .windows(11)
        .position(|w| w == b"BOOTX64 EFI")
        .expect("directory entry");
    let cluster = u16::from_le_bytes([esp[at + 26], esp[at + 27]]) as usize;
    esp[at + 28..at + 32].copy_from_slice(&size.to_le_bytes());
    set_fat_entry(&mut esp, cluster, cluster as u16);
    esp
}

/// Issue 16's audit, one hostile declared size per parser of this crate: each input is refused
/// (or measured) without the declared size becoming an allocation.
#[test]
fn hostile_declared_sizes_stay_bounded() {
    let _serial = alloc_cap::serial();
    // Each stays within a small multiple of the input (the FAT file: of its 4 MiB partition).
    let small = |what: &str, peak: usize| {
        assert!(peak < 16 << 20, "{what}: peak {} KiB", peak >> 10);
    };
    // GPT: 32,768 entries (the 4 MiB maximum) declared on a disk too small to hold them.
    let mut disk = gpt_disk(&fat(1 << 20, &[]), [5; 16]);
    let hdr = 512;
    disk[hdr + 80..hdr + 84].copy_from_slice(&32_768u32.to_le_bytes());
    let near_end = (disk.len() as u64 / 512) - 8;
    disk[hdr + 72..hdr + 80].copy_from_slice(&near_end.to_le_bytes());
    disk[hdr + 16..hdr + 20].fill(0);
    let c = crc32fast::hash(&disk[hdr..hdr + 92]);
    disk[hdr + 16..hdr + 20].copy_from_slice(&c.to_le_bytes());
    let (r, peak) =
        alloc_cap::peak_of(|| remits_measure::predict::gpt::Gpt::read(disk.as_slice()).err());
    let e = r.expect("refused").to_string();
    assert!(e.contains("PartitionEntryLBA"), "{e}");
    small("GPT entry array", peak);
    // FAT: a 4 GiB file over a cluster chain that loops (a 4 MiB disk).
    let disk = gpt_disk(&looping_esp(u32::MAX), [6; 16]);
    let (r, peak) =
        alloc_cap::peak_of(|| remits_measure::predict::predict_boot(disk.as_slice()).err());
    let e = r.expect("refused").to_string();
    assert!(e.contains("BOOTX64.EFI") && e.contains("partition"), "{e}");
    small("FAT looping chain", peak);
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::gpt(&disk));
    small("FAT looping chain (fuzz entry)", peak);
    // tar: a member declaring 8 GiB followed by 1 KiB, plain and gzip.
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(8 << 30);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend([0u8; 1024]);
    let (r, peak) = alloc_cap::peak_of(|| {
        remits_measure::predict::image::layer::read_layer("hostile", t.as_slice()).err()
    });
    assert!(r.is_some(), "an 8 GiB member in 1.5 KiB was accepted");
    small("tar member size", peak);
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::tar(&t));
    small("tar member size (fuzz entry)", peak);
    // PE: six sections of 1 GiB VirtualSize (the finding), through the fuzz entry.
    let body = vec![0x90u8; 4096];
    let mut img = pe(&[".a", ".b", ".c", ".d", ".e", ".f"].map(|n| (n, &body[..])));
    for i in 0..6 {
        let sh = 0x44 + 20 + 240 + 40 * i;
        img[sh + 8..sh + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    }
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::pe(&img));
    small("PE VirtualSize", peak);
    // The must-show input of issue 16: that PE as EFI/BOOT/BOOTX64.EFI on a GPT disk's ESP,
    // through the disk entry point (`remits-measure image` on it: bins/measure/tests/image_cli.rs).
    let disk = gpt_disk(&fat(1 << 20, &[("EFI/BOOT/BOOTX64.EFI", img)]), [8; 16]);
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::gpt(&disk));
    println!(
        "issue 16 disk ({} KiB) through fuzzing::gpt: peak {} KiB",
        disk.len() >> 10,
        peak >> 10
    );
    assert!(peak < alloc_cap::CAP, "peak {} KiB", peak >> 10);
    // OVMF: the SEV metadata declaring 2^32 - 1 items.
    let Some(dir) = remits_testsupport::testdata::dir() else {
        return;
    };
    let mut fw = std::fs::read(dir.join("measure/ovmf_AmdSev_suffix.bin")).unwrap();
    let at = fw
        .windows(4)
        .rposition(|w| w == b"ASEV")
        .expect("SEV metadata");
    fw[at + 12..at + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let (r, peak) = alloc_cap::peak_of(|| remits_measure::launch::Firmware::parse(&fw).map(|_| ()));
    assert!(r.is_err(), "2^32 - 1 metadata items accepted");
    small("OVMF metadata count", peak);
}

/// A signed manifest (under the fuzz entry's key) of a small disk, container image and config.
fn signed_manifest() -> Vec<u8> {
    use remits_measure::predict::manifest;
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str, d: &[u8]| {
        let p = dir.path().join(n);
        std::fs::write(&p, d).unwrap();
        p
    };
    let disk = w("disk.raw", &gpt_disk(&shim_grub_esp(b"k", "ro"), [1; 16]));
    let mut small = layers(b"app");
    small[0].retain(|f| f.0 != "big.bin");
    let image = w("image.tar", &docker_save(&small, false));
    let config = w("enclave.yaml", ENCLAVE_YAML.as_bytes());
    let m = manifest::measure(
        &manifest::Inputs {
            disk: &disk,
            image: &image,
            config: &config,
            image_options: Default::default(),
        },
        Some(&fuzzing::manifest_key()),
    )
    .unwrap();
    m.to_json().unwrap()
}

#[test]
fn manifest_entry_survives_signed_manifests_and_mutations() {
    let _serial = alloc_cap::serial();
    let signed = signed_manifest();
    // The seed passes every check, signature included: mutants start past it.
    remits_measure::predict::manifest::verify_signed(
        &signed,
        &fuzzing::manifest_key().public_key(),
    )
    .unwrap();
    let mut runs = exercise("signed manifest", &signed, 1500, fuzzing::manifest);
    let mut v: serde_json::Value = serde_json::from_slice(&signed).unwrap();
    v["signature"] = serde_json::Value::Null;
    let unsigned = serde_json::to_vec(&v).unwrap();
    runs += exercise("unsigned manifest", &unsigned, 800, fuzzing::manifest);
    // Hostile sizes: 20,000 events on one PCR (memory stays within a small multiple of the
    // 2 MiB document: JSON values, then the typed manifest), a 4 MiB description.
    v["events"]["15"] = serde_json::json!(vec![
        serde_json::json!({"type": "x", "description": "d", "digest": "00".repeat(32)});
        20_000
    ]);
    let doc = serde_json::to_vec(&v).unwrap();
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::manifest(&doc));
    assert!(
        peak < 16 * doc.len(),
        "20,000 events: {} MiB for {} KiB",
        peak >> 20,
        doc.len() >> 10
    );
    v["events"]["15"] =
        serde_json::json!([{"type": "x", "description": "d".repeat(4 << 20), "digest": "00"}]);
    runs += exercise(
        "long description",
        &serde_json::to_vec(&v).unwrap(),
        3,
        fuzzing::manifest,
    );
    assert!(runs > 2300, "{runs}");
}

#[test]
fn enclave_yaml_entry_survives_configs_mutations_and_alias_bombs() {
    let _serial = alloc_cap::serial();
    let mut runs = 0;
    for seed in [
        ENCLAVE_YAML.as_bytes(),
        include_bytes!("../../../scripts/demo/enclave.yaml"),
    ] {
        runs += exercise("enclave.yaml", seed, 1500, fuzzing::enclave_yaml);
    }
    // YAML aliases: nine levels of nine references each (a "billion laughs") in 1 KiB.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(", ")
        ));
    }
    bomb.push_str("entrypoint: *i\n");
    let started = std::time::Instant::now();
    let ((), peak) = alloc_cap::peak_of(|| fuzzing::enclave_yaml(bomb.as_bytes()));
    assert!(peak < alloc_cap::CAP, "alias bomb: {} MiB", peak >> 20);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Deep nesting.
    let deep = format!("entrypoint: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    runs += exercise("deep nesting", deep.as_bytes(), 3, fuzzing::enclave_yaml);
    assert!(runs > 3000, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set): disks, PE images, layers, manifests
/// and configurations this test builds. The firmware seeds come from `$REMITS_TESTDATA`.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    use alloc_cap::write_seed as w;
    use std::io::Write as _;
    let shim = gpt_disk(&shim_grub_esp(b"kernel", "console=ttyS0"), [3; 16]);
    w("measure_gpt", "shim-grub.disk", &shim);
    let esp = &shim[2048 * 512..];
    w(
        "measure_gpt",
        "shim-grub.esp",
        &esp[..esp.len().min(1 << 20)],
    );
    w(
        "measure_gpt",
        "uki.disk",
        &gpt_disk(&uki_esp("console=ttyS0 quiet"), [4; 16]),
    );
    w(
        "measure_gpt",
        "grub.cfg",
        b"set timeout=0\nmenuentry L {\n linux /vmlinuz ro quiet\n initrd /a /b\n}\n",
    );
    let linux = pe(&[(".text", b"kernel")]);
    w(
        "measure_pe",
        "synthetic.efi",
        &pe(&[
            (".text", b"code"),
            (".vendor_cert", b"cert"),
            (".sbat", b"sbat,1\n"),
        ]),
    );
    w(
        "measure_pe",
        "uki.efi",
        &pe(&[
            (".osrel", b"ID=x\n"),
            (".cmdline", b"ro"),
            (".linux", &linux),
        ]),
    );
    let mut files = layers(b"app")[0].clone();
    files.retain(|f| f.0 != "big.bin");
    files.push(("link", Some(b"x".to_vec()), 0o777));
    let plain = layer_tar(&files, false);
    w("measure_tar", "layer.tar", &plain);
    w(
        "measure_tar",
        "whiteouts.tar",
        &layer_tar(&layers(b"app")[1], true),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    w("measure_tar", "layer.tar.gz", &gz.finish().unwrap());
    let signed = signed_manifest();
    let mut v: serde_json::Value = serde_json::from_slice(&signed).unwrap();
    v["signature"] = serde_json::Value::Null;
    let unsigned = serde_json::to_vec(&v).unwrap();
    for t in ["measure_manifest", "reference_values"] {
        w(t, "signed.json", &signed);
        w(t, "unsigned.json", &unsigned);
    }
    w("enclave_yaml", "enclave.yaml", ENCLAVE_YAML.as_bytes());
    assert!(w(
        "enclave_yaml",
        "demo.yaml",
        include_bytes!("../../../scripts/demo/enclave.yaml")
    ));
}
