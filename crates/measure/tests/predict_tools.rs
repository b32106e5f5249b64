//! Cross-checks against independent tools (Debian packages): pesign and osslsigncode recompute
//! Authenticode digests; sbsigntool (`sbattach`, `sbsign`, `sbverify`) extracts the digest the
//! signers of Debian's shim (Microsoft) and GRUB (Debian) put into their signatures and signs
//! binaries itself; sgdisk + mkfs.vfat + mtools build the GPT and ESP; swtpm + tpm2-tools replay
//! the manifest's events into real PCRs. Each test prints "SKIPPED: ..." when a tool is
//! missing, and fails when `CI` is set.
//!
//! Packages: `gdisk dosfstools mtools pesign osslsigncode sbsigntool openssl shim-signed
//! grub-efi-amd64-signed swtpm swtpm-tools tpm2-tools`.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod predict_util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use predict_util::*;
use remits_measure::predict::disk::Disk;
use remits_measure::predict::gpt::{guid_string, Gpt};
use remits_measure::predict::image::ImageOptions;
use remits_measure::predict::manifest::{self, Inputs};
use remits_measure::predict::{pe, predict_disk, Chain};

const SHIM: &str = "/usr/lib/shim/shimx64.efi.signed";
const GRUB: &str = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed";

fn have(tools: &[&str], files: &[&str]) -> bool {
    let missing: Vec<String> = tools
        .iter()
        .filter(|t| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {t}"))
                .stdout(Stdio::null())
                .status()
                .map(|s| !s.success())
                .unwrap_or(true)
        })
        .map(|s| s.to_string())
        .chain(
            files
                .iter()
                .filter(|f| !Path::new(f).exists())
                .map(|s| s.to_string()),
        )
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {missing:?} are missing (apt-get install gdisk dosfstools mtools pesign osslsigncode sbsigntool openssl shim-signed grub-efi-amd64-signed swtpm tpm2-tools)");
    }
    println!("SKIPPED: {missing:?} not installed");
    false
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pesign_hash(f: &str) -> String {
    let out = run(Command::new("pesign").args(["-h", "-i", f]));
    out.trim().strip_prefix("hash: ").unwrap().to_lowercase()
}

#[test]
fn authenticode_matches_pesign_and_osslsigncode_on_debian_binaries() {
    if !have(&["pesign", "osslsigncode"], &[SHIM, GRUB]) {
        return;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for d in ["/usr/lib/shim", "/usr/lib/grub/x86_64-efi-signed"] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let n = p.to_string_lossy().into_owned();
            if n.ends_with(".efi") || n.ends_with(".signed") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 4);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let ours = hex::encode(pe::parse("x", &data).unwrap().authenticode_sha256);
        assert_eq!(ours, pesign_hash(&f.to_string_lossy()), "pesign {f:?}");
    }
    // osslsigncode's "Calculated message digest" on GRUB (it refuses shim's certificate table).
    let out = Command::new("osslsigncode")
        .args(["verify", "-in", GRUB])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("Calculated message digest"))
        .unwrap();
    let theirs = line.split(':').nth(1).unwrap().trim().to_lowercase();
    let ours = hex::encode(
        pe::parse("grub", &std::fs::read(GRUB).unwrap())
            .unwrap()
            .authenticode_sha256,
    );
    assert_eq!(ours, theirs);
}

/// The digest a signer put into an Authenticode signature (SpcIndirectDataContent's DigestInfo),
/// read with `openssl asn1parse` from a PKCS#7 blob that `sbattach --detach` extracted.
fn signed_digest(p7: &Path) -> String {
    let out = run(Command::new("openssl")
        .args(["asn1parse", "-inform", "DER", "-in"])
        .arg(p7));
    let mut in_spc = false;
    for line in out.lines() {
        if line.contains(":1.3.6.1.4.1.311.2.1.4") || line.contains(":SPC_INDIRECT_DATA") {
            in_spc = true;
        }
        if in_spc && line.contains("l=  32 prim: OCTET STRING") {
            return line.rsplit(':').next().unwrap().trim().to_lowercase();
        }
    }
    panic!("no SpcIndirectDataContent digest in {p7:?}:\n{out}");
}

fn signed_efi_binaries() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for d in ["/usr/lib/shim", "/usr/lib/grub/x86_64-efi-signed"] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().ends_with(".efi.signed") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn authenticode_matches_the_digest_inside_the_signatures_sbsigntool() {
    if !have(
        &["sbattach", "sbsign", "sbverify", "openssl"],
        &[SHIM, GRUB],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Debian's shim (signed by Microsoft) and GRUB (signed by Debian): the digest their signers
    // computed, extracted by sbsigntool, equals ours.
    let files = signed_efi_binaries();
    assert!(files.len() >= 4, "{files:?}");
    for f in &files {
        let p7 = dir.path().join("sig.p7");
        let _ = std::fs::remove_file(&p7);
        run(Command::new("sbattach").arg("--detach").arg(&p7).arg(f));
        let ours = hex::encode(
            pe::parse("x", &std::fs::read(f).unwrap())
                .unwrap()
                .authenticode_sha256,
        );
        assert_eq!(ours, signed_digest(&p7), "{f:?}");
    }
    // Sign unsigned binaries ourselves with sbsign and a throwaway key: the digest sbsign
    // embeds equals ours, before and after the signature is attached.
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=remits test",
            "-days",
            "1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let synthetic = dir.path().join("synthetic.efi");
    std::fs::write(
        &synthetic,
        pe(&[(".text", &[0x90u8; 700][..]), (".data", b"data")]),
    )
    .unwrap();
    let mut unsigned: Vec<PathBuf> = vec![synthetic];
    unsigned.extend(
        ["/usr/lib/shim/shimx64.efi", "/usr/lib/shim/mmx64.efi"]
            .iter()
            .map(PathBuf::from)
            .filter(|p| p.is_file()),
    );
    for u in &unsigned {
        let signed = dir.path().join("signed.efi");
        let p7 = dir.path().join("own.p7");
        let _ = std::fs::remove_file(&signed);
        let _ = std::fs::remove_file(&p7);
        run(Command::new("sbsign")
            .arg("--key")
            .arg(&key)
            .arg("--cert")
            .arg(&cert)
            .arg("--output")
            .arg(&signed)
            .arg(u));
        run(Command::new("sbverify")
            .arg("--cert")
            .arg(&cert)
            .arg(&signed));
        run(Command::new("sbattach")
            .arg("--detach")
            .arg(&p7)
            .arg(&signed));
        let before = hex::encode(
            pe::parse("u", &std::fs::read(u).unwrap())
                .unwrap()
                .authenticode_sha256,
        );
        let after = hex::encode(
            pe::parse("s", &std::fs::read(&signed).unwrap())
                .unwrap()
                .authenticode_sha256,
        );
        assert_eq!(after, signed_digest(&p7), "{u:?}");
        // sbsign first pads the image to a multiple of 8 bytes (the certificate table's
        // alignment); the padding is hashed. Without padding, signing leaves the digest alone.
        let len = std::fs::metadata(u).unwrap().len();
        if len % 8 == 0 {
            assert_eq!(
                after, before,
                "{u:?}: attaching a signature must not change the digest"
            );
        } else {
            let mut padded = std::fs::read(u).unwrap();
            padded.resize(padded.len().next_multiple_of(8), 0);
            let p = hex::encode(pe::parse("p", &padded).unwrap().authenticode_sha256);
            assert_eq!(after, p, "{u:?} padded to 8 bytes");
        }
    }
}

/// Builds a 24 MiB disk with sgdisk (pinned GUIDs), a FAT ESP with mkfs.vfat and mtools,
/// holding Debian's signed shim and GRUB, a grub.cfg, a kernel and an initrd.
fn sgdisk_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("disk.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(24 << 20)
        .unwrap();
    run(Command::new("sgdisk")
        .args([
            "-o",
            "-U",
            "11111111-2222-3333-4444-555555555555",
            "-n",
            "1:2048:+16M",
            "-t",
            "1:ef00",
            "-c",
            "1:EFI System",
            "-u",
            "1:AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
            "-n",
            "2:0:0",
            "-t",
            "2:8300",
            "-c",
            "2:root",
            "-u",
            "2:12345678-9ABC-DEF0-1234-56789ABCDEF0",
        ])
        .arg(&disk));
    let esp = dir.join("esp.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-i", "12345678"])
        .arg(&esp)
        .arg("16384"));
    let cfg = dir.join("grub.cfg");
    std::fs::write(&cfg, "set timeout=0\nmenuentry Debian {\n  linux /vmlinuz root=/dev/vda2 console=ttyS0\n  initrd /initrd.img\n}\n").unwrap();
    std::fs::write(dir.join("vmlinuz"), b"not really a kernel").unwrap();
    std::fs::write(dir.join("initrd.img"), b"not really an initrd").unwrap();
    let img = esp.to_string_lossy().into_owned();
    run(Command::new("mmd").args(["-i", &img, "::/EFI", "::/EFI/BOOT"]));
    for (src, dst) in [
        (PathBuf::from(SHIM), "::/EFI/BOOT/BOOTX64.EFI"),
        (PathBuf::from(GRUB), "::/EFI/BOOT/grubx64.efi"),
        (cfg, "::/EFI/BOOT/grub.cfg"),
        (dir.join("vmlinuz"), "::/vmlinuz"),
        (dir.join("initrd.img"), "::/initrd.img"),
    ] {
        run(Command::new("mcopy").args(["-i", &img]).arg(&src).arg(dst));
    }
    let data = std::fs::read(&esp).unwrap();
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&disk)
        .unwrap()
        .write_all_at(&data, 2048 * 512)
        .unwrap();
    disk
}

#[test]
fn gpt_and_esp_built_by_sgdisk_and_mtools() {
    if !have(
        &["sgdisk", "mkfs.vfat", "mcopy", "mmd", "pesign"],
        &[SHIM, GRUB],
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk_path = sgdisk_disk(dir.path());
    let disk = Disk::open(&disk_path).unwrap();
    let gpt = Gpt::read(&disk).unwrap();
    // What sgdisk says about the disk.
    let p = run(Command::new("sgdisk").arg("-p").arg(&disk_path));
    assert!(
        p.contains(&format!(
            "Disk identifier (GUID): {}",
            guid_string(&gpt.disk_guid)
        )),
        "{p}"
    );
    assert_eq!(
        guid_string(&gpt.disk_guid),
        "11111111-2222-3333-4444-555555555555"
    );
    assert!(
        p.contains(&format!("last usable sector is {}", gpt.last_usable_lba)),
        "{p}"
    );
    assert_eq!(gpt.entries.len(), 2);
    for e in &gpt.entries {
        let i = run(Command::new("sgdisk")
            .arg("-i")
            .arg(e.number.to_string())
            .arg(&disk_path));
        assert!(
            i.contains(&format!(
                "Partition unique GUID: {}",
                guid_string(&e.unique_guid)
            )),
            "{i}"
        );
        assert!(
            i.contains(&format!("First sector: {} ", e.first_lba)),
            "{i}"
        );
        assert!(i.contains(&format!("Last sector: {} ", e.last_lba)), "{i}");
        assert!(i.contains(&format!("Partition name: '{}'", e.name)), "{i}");
    }
    // UEFI_GPT_DATA = the on-disk header bytes + count + the used entries as on disk.
    let raw = std::fs::read(&disk_path).unwrap();
    let data = gpt.event_data();
    assert_eq!(data.len(), 92 + 8 + 2 * 128);
    assert_eq!(&data[..92], &raw[512..604]);
    assert_eq!(&data[92..100], &2u64.to_le_bytes());
    assert_eq!(&data[100..356], &raw[1024..1024 + 256]);
    // The boot chain on the mtools-built ESP: PCR4 holds pesign's hashes of shim and GRUB.
    let b = predict_disk(&disk_path).unwrap();
    assert_eq!(b.chain, Chain::ShimGrub);
    assert_eq!(b.pcr4.len(), 4);
    assert_eq!(hex::encode(b.pcr4[2].digest), pesign_hash(SHIM));
    assert_eq!(hex::encode(b.pcr4[3].digest), pesign_hash(GRUB));
    // PCR9: grub.cfg, kernel, initrd, LoadOptions, initrd tag.
    assert_eq!(b.pcr9.len(), 5);
    use sha2::Digest;
    assert_eq!(
        b.pcr9[1].digest,
        <[u8; 32]>::from(sha2::Sha256::digest(b"not really a kernel"))
    );
}

struct Swtpm {
    tpm: remits_testsupport::swtpm::Swtpm,
    _dir: tempfile::TempDir,
}

fn start_swtpm() -> Swtpm {
    let dir = tempfile::tempdir().unwrap();
    let tpm = remits_testsupport::swtpm::Swtpm::start(dir.path());
    Swtpm { tpm, _dir: dir }
}

#[test]
fn replaying_the_manifest_into_swtpm_gives_its_pcrs() {
    if !have(&["swtpm", "tpm2_pcrextend", "tpm2_pcrread"], &[]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.raw");
    std::fs::write(&disk, gpt_disk(&uki_esp("console=ttyS0 quiet"), [9; 16])).unwrap();
    let image = dir.path().join("image.tar");
    std::fs::write(&image, docker_save(&layers(b"app"), false)).unwrap();
    let cfg = dir.path().join("enclave.yaml");
    std::fs::write(&cfg, ENCLAVE_YAML).unwrap();
    let (sk, _) = ed25519_pem(5);
    let key = remits_measure::predict::signing::SigningKey::from_pem(&sk).unwrap();
    let m = manifest::measure(
        &Inputs {
            disk: &disk,
            image: &image,
            config: &cfg,
            image_options: ImageOptions::default(),
        },
        Some(&key),
    )
    .unwrap();
    let tpm = start_swtpm();
    let tcti = tpm.tpm.tcti().to_owned();
    for (pcr, events) in &m.events {
        for e in events {
            run(Command::new("tpm2_pcrextend")
                .env("TPM2TOOLS_TCTI", &tcti)
                .arg(format!("{pcr}:sha256={}", hex::encode(e.digest))));
        }
    }
    let sel: Vec<String> = m.pcrs.keys().map(|k| k.to_string()).collect();
    let out = run(Command::new("tpm2_pcrread")
        .env("TPM2TOOLS_TCTI", &tcti)
        .arg(format!("sha256:{}", sel.join(","))));
    let mut seen = 0;
    for line in out.lines() {
        let Some((idx, val)) = line.split_once(':') else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<u32>() else {
            continue;
        };
        let val = val.trim().strip_prefix("0x").unwrap();
        assert_eq!(val.to_lowercase(), hex::encode(m.pcrs[&idx].0), "PCR{idx}");
        seen += 1;
    }
    assert_eq!(seen, m.pcrs.len(), "{out}");
    // The attester's extend plan alone reproduces PCR15 and PCR16 on a fresh TPM.
    drop(tpm);
    let tpm = start_swtpm();
    let tcti = tpm.tpm.tcti().to_owned();
    for (pcr, d) in m.extend_plan() {
        run(Command::new("tpm2_pcrextend")
            .env("TPM2TOOLS_TCTI", &tcti)
            .arg(format!("{pcr}:sha256={}", hex::encode(d))));
    }
    let out = run(Command::new("tpm2_pcrread")
        .env("TPM2TOOLS_TCTI", &tcti)
        .arg("sha256:15,16"));
    assert!(out.contains(&hex::encode_upper(m.pcrs[&15].0)), "{out}");
    assert!(out.contains(&hex::encode_upper(m.pcrs[&16].0)), "{out}");
}
