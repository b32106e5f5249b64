//! The fuzz entry points (`remits_measure::fuzzing`) over real inputs and bounded, deterministic
//! mutations and truncations of them: none may panic. The real inputs are the OVMF and SVSM
//! fixtures of `../shared/testdata/measure`, Debian's OVMF, shim and GRUB when installed, and
//! disk and container images built by the test helpers.
mod predict_util;

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
        if catch_unwind(AssertUnwindSafe(|| entry(data))).is_err() {
            panic!("{name}: panicked on {what} ({} bytes)", data.len());
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
    let Some(dir) = remits_evidence::testdata::dir().map(|d| d.join("measure")) else {
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
