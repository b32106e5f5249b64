//! `remits-attester unlock` against the real dev broker with the SNP simulator: a LUKS2 volume
//! on a regular file (made with `cryptsetup luksFormat`) opens with the released key
//! (`--test-passphrase`, and a real `open` where device-mapper is usable); a key that is not the
//! volume's is exit 1; a denied attestation is exit 1 and cryptsetup is never run with a key.
//!
//! The passphrase from a workload registration (`remits-broker admin register-workload`), for
//! the SNP simulator (seed form, the simulator's launch measurement) and for swtpm (remits'
//! form, `tee = "tpm"`, the ENCLAVE ID of the TPM's PCRs): released to the registered
//! measurement only, replaced by a re-registration, gone after `delete-workload`.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

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
    unlock_with(sim_attester(sim), url, path, device, extra)
}

fn unlock_with(
    mut attester: Command,
    url: &str,
    path: &str,
    device: &Path,
    extra: &[&str],
) -> std::process::Output {
    attester
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

/// `remits-broker admin register-workload FILE` with `body` as the file.
fn register(broker: &Path, url: &str, key: &Path, body: &serde_json::Value, tmp: &Path) {
    let f = tmp.join("workload.json");
    std::fs::write(&f, serde_json::to_vec(body).unwrap()).unwrap();
    admin(
        broker,
        url,
        key,
        &["register-workload".as_ref(), f.as_os_str()],
    );
}

fn delete_workload(broker: &Path, url: &str, key: &Path, id: &str) {
    admin(broker, url, key, &["delete-workload".as_ref(), id.as_ref()]);
}

/// The released key opened the volume (test mode).
fn assert_opens(out: &std::process::Output) {
    assert!(out.status.success(), "{}", show(out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the released key opens"),
        "{}",
        show(out)
    );
}

/// A key was released but it is not this volume's: exit 1 with cryptsetup's reason.
fn assert_wrong_key(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(1), "{}", show(out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No key available"),
        "{}",
        show(out)
    );
}

/// Nothing released: exit 1, the broker's denial (naming `why`), cryptsetup never run with a
/// key.
fn assert_denied(out: &std::process::Output, why: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", show(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("denied"), "{}", show(out));
    assert!(!err.contains("cryptsetup"), "{}", show(out));
    assert!(!err.contains("opens"), "{}", show(out));
    assert!(err.contains(why), "{why}: {}", show(out));
}

#[test]
fn registered_snp_measurement_gets_the_passphrase_others_denied() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !cryptsetup_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (pass1, pass2) = ("first disk passphrase", "second disk passphrase");
    let volume1 = d.join("volume1.luks");
    let volume2 = d.join("volume2.luks");
    luks_format(&volume1, pass1.as_bytes());
    luks_format(&volume2, pass2.as_bytes());

    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    let sim = dev.join("sim");
    // The simulated guest's launch measurement, as the simulator (written by `serve --dev`)
    // reports it.
    let measurement = hex::encode(
        remits_sim::SimSnpAttester::load(&sim)
            .unwrap()
            .params()
            .measurement,
    );
    let seed = |id: &str, m: &str, pass: &str| {
        serde_json::json!({
            "workload_id": id,
            "launch_measurement": m,
            "tee_config": r#"{"flags":{"bits":3},"minfw":{"major":0,"minor":0}}"#,
            "passphrase": pass,
        })
    };
    register(&broker, &b.url, &key, &seed("vm1", &measurement, pass1), d);
    // Another workload, another measurement, the same passphrase: only the measurement differs.
    register(
        &broker,
        &b.url,
        &key,
        &seed("vm2", &"ab".repeat(48), pass1),
        d,
    );
    let run =
        |path: &str, volume: &Path| unlock(&sim, &b.url, path, volume, &["--test-passphrase"]);

    assert_opens(&run("workload/vm1/passphrase", &volume1));
    assert_denied(
        &run("workload/vm2/passphrase", &volume1),
        "resource policy does not allow",
    );

    // Re-registration with a new passphrase: the old one is no longer released.
    register(&broker, &b.url, &key, &seed("vm1", &measurement, pass2), d);
    assert_wrong_key(&run("workload/vm1/passphrase", &volume1));
    assert_opens(&run("workload/vm1/passphrase", &volume2));

    // Deleted: nothing released.
    // (Its measurement left the reference values: the simulated guest is no longer affirming.)
    delete_workload(&broker, &b.url, &key, "vm1");
    assert_denied(&run("workload/vm1/passphrase", &volume2), "identity");
}

/// ENCLAVE ID v1 of the TPM's current PCRs 4, 5, 9, 15 (what the verifier recomputes from the
/// quote).
fn enclave_id(tcti: &str) -> String {
    let pcrs = remits_measure::predict::enclave_id::PCRS_V1
        .iter()
        .map(|&i| (i, common::swtpm::pcr_read(tcti, i)))
        .collect();
    hex::encode(remits_measure::predict::enclave_id::enclave_id_v1(&pcrs).unwrap())
}

#[test]
fn registered_tpm_enclave_id_gets_the_passphrase_extra_extend_denied() {
    use common::swtpm::*;
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !cryptsetup_or_skip() || !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (pass1, pass2) = (b"tpm disk passphrase \x00\xff", b"tpm disk passphrase two");
    let volume1 = d.join("volume1.luks");
    let volume2 = d.join("volume2.luks");
    luks_format(&volume1, pass1);
    luks_format(&volume2, pass2);

    let state = d.join("tpmstate");
    std::fs::create_dir(&state).unwrap();
    let (_swtpm, tcti) = start_swtpm(&state);
    let ak_pem = provision_ak(&tcti, d);
    // The workload's measured boot, reduced to one PCR15 event.
    pcr_extend(&tcti, d, 15, &[0x5a; 32]);
    let id = enclave_id(&tcti);

    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    let rv = d.join("rv.json");
    std::fs::write(
        &rv,
        serde_json::to_vec(&serde_json::json!({"trusted_aks": [ak_pem]})).unwrap(),
    )
    .unwrap();
    admin(
        &broker,
        &b.url,
        &key,
        &["register-reference-values".as_ref(), rv.as_os_str()],
    );
    let remits = |wid: &str, m: &str, pass: &[u8]| {
        use base64::Engine as _;
        serde_json::json!({
            "workload_id": wid,
            "tee": "tpm",
            "launch_measurement": m,
            "secrets": [{"name": "passphrase",
                         "value": base64::engine::general_purpose::STANDARD.encode(pass)}],
        })
    };
    register(&broker, &b.url, &key, &remits("tpm1", &id, pass1), d);
    register(
        &broker,
        &b.url,
        &key,
        &remits("tpm2", &"cd".repeat(32), pass1),
        d,
    );
    let run = |path: &str, volume: &Path| {
        unlock_with(
            tpm_attester(&tcti),
            &b.url,
            path,
            volume,
            &["--test-passphrase"],
        )
    };

    assert_opens(&run("workload/tpm1/passphrase", &volume1));
    assert_denied(
        &run("workload/tpm2/passphrase", &volume1),
        "resource policy does not allow",
    );

    // Re-registration with a new passphrase: the old one is no longer released.
    register(&broker, &b.url, &key, &remits("tpm1", &id, pass2), d);
    assert_wrong_key(&run("workload/tpm1/passphrase", &volume1));
    assert_opens(&run("workload/tpm1/passphrase", &volume2));

    // Deleted: nothing released; registered again: released again.
    delete_workload(&broker, &b.url, &key, "tpm1");
    assert_denied(&run("workload/tpm1/passphrase", &volume2), "not found");
    register(&broker, &b.url, &key, &remits("tpm1", &id, pass2), d);
    assert_opens(&run("workload/tpm1/passphrase", &volume2));

    // One extra extend: another ENCLAVE ID, the same TPM and AK are denied.
    pcr_extend(&tcti, d, 15, &[0x11; 32]);
    assert_ne!(enclave_id(&tcti), id);
    assert_denied(
        &run("workload/tpm1/passphrase", &volume2),
        "resource policy does not allow",
    );
}
