//! `remits-attester unlock` against the real dev broker with the SNP simulator: a LUKS2 volume
//! on a regular file (made with `cryptsetup luksFormat`) opens with the released key
//! (`--test-passphrase`, and a real `open` where device-mapper is usable); a key that is not the
//! volume's is exit 1; a denied attestation is exit 1 and cryptsetup is never run with a key.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// `cryptsetup` on this machine, or SKIPPED (a failure under `CI`).
fn cryptsetup_or_skip() -> bool {
    let ok = Command::new("cryptsetup")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let msg = "cryptsetup missing (bash scripts/setup.sh installs cryptsetup-bin)";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        println!("SKIPPED: {msg}");
    }
    ok
}

/// A 24 MiB LUKS2 container on a regular file, keyed with `pass` (fast PBKDF for tests).
pub fn luks_format(file: &Path, pass: &[u8]) {
    std::fs::File::create(file)
        .unwrap()
        .set_len(24 << 20)
        .unwrap();
    let mut child = Command::new("cryptsetup")
        .args([
            "luksFormat",
            "--type",
            "luks2",
            "--batch-mode",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--key-file=-",
        ])
        .arg(file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(pass).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "luksFormat: {}", show(&out));
}

/// Whether a real `cryptsetup open` can work here (root, device-mapper and loop devices).
fn device_mapper_usable() -> bool {
    Path::new("/dev/mapper/control").exists()
        && Path::new("/dev/loop-control").exists()
        && Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false)
}

fn unlock(
    sim: &Path,
    url: &str,
    path: &str,
    device: &Path,
    extra: &[&str],
) -> std::process::Output {
    sim_attester(sim)
        .args([
            "unlock",
            "--broker",
            url,
            "--retry-for",
            "5",
            "--path",
            path,
            "--device",
        ])
        .arg(device)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn released_key_opens_the_volume_and_denial_opens_nothing() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !cryptsetup_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let volume = d.join("volume.luks");
    let pass = b"disk passphrase \x00\x01 from the broker";
    luks_format(&volume, pass);

    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    let sim = dev.join("sim");
    put(&broker, &b.url, &key, "default/disk/volume", pass, d);
    put(
        &broker,
        &b.url,
        &key,
        "default/disk/other",
        b"not this volume's key",
        d,
    );

    // The released key opens a keyslot.
    let out = unlock(
        &sim,
        &b.url,
        "default/disk/volume",
        &volume,
        &["--test-passphrase"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the released key opens"),
        "{}",
        show(&out)
    );

    // A released key that is not this volume's: exit 1 with cryptsetup's reason.
    let out = unlock(
        &sim,
        &b.url,
        "default/disk/other",
        &volume,
        &["--test-passphrase"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No key available"),
        "{}",
        show(&out)
    );

    // Not a LUKS volume: refused before attesting (exit 2, names --device).
    let plain = d.join("plain.img");
    std::fs::write(&plain, vec![0u8; 1 << 20]).unwrap();
    let out = unlock(
        &sim,
        &b.url,
        "default/disk/volume",
        &plain,
        &["--test-passphrase"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--device"),
        "{}",
        show(&out)
    );

    // A real open, where this machine allows device-mapper.
    if device_mapper_usable() {
        let name = format!("remits-test-{}", std::process::id());
        let out = unlock(
            &sim,
            &b.url,
            "default/disk/volume",
            &volume,
            &["--name", &name],
        );
        let mapped = Path::new("/dev/mapper").join(&name);
        let opened = out.status.success() && mapped.exists();
        let _ = Command::new("cryptsetup").args(["close", &name]).output();
        if opened || std::env::var_os("REMITS_REQUIRE_DM").is_some() {
            assert!(opened, "{}", show(&out));
        } else {
            println!(
                "SKIPPED real open (device-mapper not usable here): {}",
                show(&out)
            );
        }
    } else {
        println!("SKIPPED real open: no device-mapper/loop control or not root");
    }

    // Denial: a registered launch measurement the simulated guest does not have. The attester
    // exits 1 and the volume is not opened (test mode never maps anything; the check is the
    // exit status and that cryptsetup reported nothing).
    let rv = d.join("rv.json");
    std::fs::write(
        &rv,
        format!(r#"{{"snp_launch_measurement": ["{}"]}}"#, "ab".repeat(48)),
    )
    .unwrap();
    admin(
        &broker,
        &b.url,
        &key,
        &["register-reference-values".as_ref(), rv.as_os_str()],
    );
    let name = format!("remits-denied-{}", std::process::id());
    let out = unlock(
        &sim,
        &b.url,
        "default/disk/volume",
        &volume,
        &["--name", &name],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("denied"), "{}", show(&out));
    assert!(!err.contains("cryptsetup"), "{}", show(&out));
    assert!(!Path::new("/dev/mapper").join(&name).exists());
}
