//! `remits-measure image` and `verify` end to end: a signed manifest that verifies, byte-identical
//! reruns, refusals with the documented exit codes, the progress bar on a terminal, and peak
//! memory that stays small while a 1 GiB file is hashed.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#[path = "../../../crates/measure/tests/predict_util/mod.rs"]
mod predict_util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use predict_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_remits-measure");

struct Inputs {
    dir: tempfile::TempDir,
    disk: PathBuf,
    image: PathBuf,
    config: PathBuf,
}

impl Inputs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let w = |n: &str, d: &[u8]| {
            let p = dir.path().join(n);
            std::fs::write(&p, d).unwrap();
            p
        };
        let disk = w(
            "disk.raw",
            &gpt_disk(&shim_grub_esp(b"kernel", "ro quiet"), [7; 16]),
        );
        let image = w("image.tar", &docker_save(&layers(b"app"), false));
        let config = w("enclave.yaml", ENCLAVE_YAML.as_bytes());
        Inputs {
            dir,
            disk,
            image,
            config,
        }
    }
    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn write(&self, n: &str, d: &[u8]) -> PathBuf {
        let p = self.path(n);
        std::fs::write(&p, d).unwrap();
        p
    }
    fn image_args(&self, disk: &Path, image: &Path, out: &Path) -> Vec<String> {
        [
            "image",
            "--disk",
            &disk.display().to_string(),
            "--image",
            &image.display().to_string(),
            "--config",
            &self.config.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

fn run(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn signed_manifest_verifies_and_refusals_have_exit_codes() {
    let t = Inputs::new();
    let (sk, pk) = ed25519_pem(9);
    let (_, other_pk) = p384_pem(4);
    let key = t.write("key.pem", sk.as_bytes());
    let pub_key = t.write("key.pub.pem", pk.as_bytes());
    let other = t.write("other.pub.pem", other_pk.as_bytes());
    let out = t.path("m.json");
    let mut args = t.image_args(&t.disk, &t.image, &out);
    args.extend(["--signing-key".into(), key.display().to_string()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("enclave_id "), "{}", stderr(&o));
    let first = std::fs::read(&out).unwrap();
    // The manifest's shape: PCRs 4, 5, 9, 15, 16 as lowercase hex, events with type,
    // description and digest, versions.
    let m: serde_json::Value = serde_json::from_slice(&first).unwrap();
    for i in ["4", "5", "9", "15", "16"] {
        let v = m["pcrs"][i].as_str().unwrap();
        assert!(v.len() == 64 && v == v.to_lowercase(), "PCR{i} {v}");
        let ev = m["events"][i].as_array().unwrap();
        assert!(!ev.is_empty(), "PCR{i} has no events");
        for e in ev {
            assert!(e["type"].is_string() && e["description"].is_string(), "{e}");
            assert_eq!(e["digest"].as_str().unwrap().len(), 64);
        }
    }
    assert_eq!(m["enclave_id"].as_str().unwrap().len(), 64);
    assert_eq!(m["format_version"], 1);
    assert!(m["tool_version"]
        .as_str()
        .unwrap()
        .starts_with("remits-measure "));
    assert_eq!(m["signature"]["alg"], "ed25519");
    // A rerun writes the same bytes.
    assert!(run(&args).status.success());
    assert_eq!(std::fs::read(&out).unwrap(), first);
    // verify: OK with the right key; exit 1 with another key, on tampering, when unsigned.
    let verify = |manifest: &Path, key: &Path| {
        run(&[
            "verify".into(),
            "--manifest".into(),
            manifest.display().to_string(),
            "--key".into(),
            key.display().to_string(),
        ])
    };
    let o = verify(&out, &pub_key);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("OK: signature valid (ed25519)"));
    assert_eq!(verify(&out, &other).status.code(), Some(1));
    let text = String::from_utf8(first.clone()).unwrap();
    let env_digest = m["events"]["15"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["description"] == "remits.enclave.env")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let tampered = t.write(
        "t.json",
        text.replacen(&env_digest, &"ab".repeat(32), 1).as_bytes(),
    );
    let o = verify(&tampered, &pub_key);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let unsigned = t.path("u.json");
    assert!(run(&t.image_args(&t.disk, &t.image, &unsigned))
        .status
        .success());
    let o = verify(&unsigned, &pub_key);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not signed"), "{}", stderr(&o));
    // An endless or huge --manifest (or --key) is refused at once, not read into memory.
    for (m, k) in [
        (Path::new("/dev/zero"), pub_key.as_path()),
        (out.as_path(), Path::new("/dev/zero")),
    ] {
        let o = verify(m, k);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("larger than"), "{}", stderr(&o));
    }
    // Unsupported disk format: exit 2 and the conversion hint.
    let mut q = b"QFI\xfb".to_vec();
    q.resize(1 << 16, 0);
    let qcow = t.write("d.qcow2", &q);
    let o = run(&t.image_args(&qcow, &t.image, &t.path("q.json")));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("qemu-img convert -O raw"),
        "{}",
        stderr(&o)
    );
    assert!(!t.path("q.json").exists());
    // A missing input: exit 2.
    let o = run(&t.image_args(&t.path("nope.raw"), &t.image, &t.path("n.json")));
    assert_eq!(o.status.code(), Some(2));
}

/// `script` gives the command a pseudo-terminal, as a user's shell would.
fn under_pty(cmd: &[String]) -> Option<Output> {
    let ok = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but `script` (util-linux) is missing"
        );
        println!("SKIPPED: `script` (util-linux) is not installed");
        return None;
    }
    let line = cmd
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    Some(
        Command::new("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .unwrap(),
    )
}

#[test]
fn progress_bar_on_a_terminal_only() {
    let t = Inputs::new();
    // A 64 MiB file, so the bar has time to draw.
    let mut l = layers(b"app");
    l[0].push(("data/large.bin", Some(vec![3u8; 64 << 20]), 0o644));
    let big = t.write("big.tar", &docker_save(&l, false));
    let out = t.path("p.json");
    let mut cmd = vec![BIN.to_string()];
    cmd.extend(t.image_args(&t.disk, &big, &out));
    let Some(o) = under_pty(&cmd) else { return };
    let tty = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{tty}");
    assert!(
        tty.contains("hashing image"),
        "no progress bar on the terminal: {tty:?}"
    );
    // --no-progress on a terminal, and any run whose stderr is not a terminal: no bar.
    cmd.push("--no-progress".into());
    let o = under_pty(&cmd).unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("hashing image"));
    let o = run(&t.image_args(&t.disk, &big, &out));
    assert!(o.status.success());
    assert!(!stderr(&o).contains("hashing image"), "{}", stderr(&o));
}

/// A `docker save` tarball holding one layer with one file of `size` bytes, written sparse:
/// the content is a hole, so the test needs no disk space and little time to build it.
fn sparse_image(path: &Path, size: u64) {
    use std::os::unix::fs::FileExt;
    fn header(name: &str, size: u64) -> [u8; 512] {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        *h.as_bytes()
    }
    let pad = |n: u64| n.div_ceil(512) * 512;
    let layer_len = 512 + pad(size) + 1024;
    let f = std::fs::File::create(path).unwrap();
    f.write_all_at(&header("layer0/layer.tar", layer_len), 0)
        .unwrap();
    f.write_all_at(&header("big.bin", size), 512).unwrap();
    let mut off = 512 + layer_len;
    let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest =
        br#"[{"Config":"config.json","RepoTags":["big:1"],"Layers":["layer0/layer.tar"]}]"#;
    for (n, d) in [
        ("config.json", &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        f.write_all_at(&header(n, d.len() as u64), off).unwrap();
        f.write_all_at(d, off + 512).unwrap();
        off += 512 + pad(d.len() as u64);
    }
    f.set_len(off + 1024).unwrap();
}

#[test]
fn memory_stays_bounded_while_hashing_a_1_gib_file() {
    let time_ok = Path::new("/usr/bin/time").is_file();
    if !time_ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but /usr/bin/time is missing"
        );
        println!("SKIPPED: /usr/bin/time (package `time`) is not installed");
        return;
    }
    let t = Inputs::new();
    let img = t.path("sparse.tar");
    let size = 1u64 << 30;
    sparse_image(&img, size);
    let rss = t.path("rss");
    let out = t.path("big.json");
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(BIN)
        .args(t.image_args(&t.disk, &img, &out))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let kib: u64 = std::fs::read_to_string(&rss)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!(
        "peak RSS {} MiB while hashing a {} MiB file",
        kib / 1024,
        size >> 20
    );
    assert!(kib < 128 * 1024, "peak RSS {kib} KiB for a 1 GiB image");
    // The file really was measured: a 1 GiB zero file's digest is part of PCR15.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m["pcrs"]["15"].as_str().unwrap().len(), 64);
}

/// Issue 16's finding, end to end: a small GPT disk whose ESP holds an `EFI/BOOT/BOOTX64.EFI`
/// with six sections of 1 GiB VirtualSize made `remits-measure image` allocate about 6 GiB. It is
/// refused with an error naming the file and the zero fill, at a small peak RSS.
#[test]
fn hostile_pe_virtual_sizes_on_the_esp_are_refused_with_little_memory() {
    if !Path::new("/usr/bin/time").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but /usr/bin/time is missing"
        );
        println!("SKIPPED: /usr/bin/time (package `time`) is not installed");
        return;
    }
    let t = Inputs::new();
    let body = vec![0x90u8; 4096];
    let mut pe_img = pe(&[".a", ".b", ".c", ".d", ".e", ".f"].map(|n| (n, &body[..])));
    for i in 0..6 {
        let sh = 0x44 + 20 + 240 + 40 * i;
        pe_img[sh + 8..sh + 12].copy_from_slice(&(1u32 << 30).to_le_bytes());
    }
    let esp = fat(1 << 20, &[("EFI/BOOT/BOOTX64.EFI", pe_img)]);
    let disk = t.write("hostile.raw", &gpt_disk(&esp, [9; 16]));
    let rss = t.path("rss");
    let out = t.path("hostile.json");
    let started = std::time::Instant::now();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(BIN)
        .args(t.image_args(&disk, &t.image, &out))
        .output()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let err = stderr(&o);
    println!(
        "hostile disk ({} KiB): exit {:?} in {:?}, peak RSS {} MiB: {}",
        std::fs::metadata(&disk).unwrap().len() >> 10,
        o.status.code(),
        started.elapsed(),
        kib / 1024,
        err.trim()
    );
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("BOOTX64.EFI") && err.contains("zero fill"),
        "unclear error: {err}"
    );
    assert!(!out.exists(), "a manifest was written");
    assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
}
