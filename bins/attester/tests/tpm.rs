//! TPM end to end with swtpm on loopback: an AK provisioned with tpm2-tools at the attester's
//! persistent handle, a manifest whose PCR15 events come from remits-measure's definitions, the
//! attester extending them (`--extend-config`) and attesting with `--tee tpm` to the real dev
//! broker: the secret is delivered while PCR15 matches, and refused after one extra extend.
//! Also: the TPM gone (swtpm stopped) is a clear error and leaves no secret file.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::swtpm::*;
use common::*;
use remits_measure::predict::manifest::{Hex32, Manifest};
use sha2::{Digest, Sha256};

/// A manifest with remits-measure's PCR15 events for a generated image and configuration.
fn manifest() -> Manifest {
    let image = remits_measure::predict::image::ImageMeasurement {
        config_sha256: Sha256::digest(b"generated image config").into(),
        files_sha256: Sha256::digest(b"generated image files").into(),
        entries: 3,
        content_bytes: 42,
        layers: 1,
    };
    let config = remits_measure::predict::config::EnclaveConfig::from_yaml(
        b"entrypoint: [\"/bin/app\", \"--serve\"]\nenv:\n  MODE: test\n",
    )
    .unwrap();
    let events = remits_measure::predict::manifest::pcr15_events(&image, &config).unwrap();
    let mut all = BTreeMap::new();
    all.insert(15u32, events);
    Manifest {
        format: remits_measure::predict::manifest::FORMAT.into(),
        format_version: remits_measure::predict::manifest::FORMAT_VERSION,
        tool_version: "test".into(),
        bank: "sha256".into(),
        boot_chain: "uki".into(),
        pcrs: BTreeMap::new(),
        enclave_id: Hex32([0; 32]),
        enclave_id_version: 1,
        enclave_id_pcrs: vec![4, 5, 9, 15],
        events: all,
        signature: None,
    }
}

fn expected_pcr15(m: &Manifest) -> String {
    let mut pcr = [0u8; 32];
    for (i, d) in m.extend_plan() {
        assert_eq!(i, 15);
        let mut h = Sha256::new();
        h.update(pcr);
        h.update(d);
        pcr = h.finalize().into();
    }
    hex::encode(pcr)
}

#[test]
fn tpm_secret_delivered_when_pcr15_matches_denied_after_extra_extend() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = d.join("tpmstate");
    std::fs::create_dir(&state).unwrap();
    let (mut swtpm, tcti) = start_swtpm(&state);

    // AK under the EK, made persistent at the attester's default handle.
    let ak_pem = provision_ak(&tcti, d);

    let m = manifest();
    let manifest_path = d.join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();
    let want_pcr15 = expected_pcr15(&m);

    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    put(
        &broker,
        &b.url,
        &key,
        "default/tpm/key",
        b"tpm-bound secret",
        d,
    );
    // Reference values: the AK is trusted, the manifest's PCR15 is the expected one.
    let rv = d.join("rv.json");
    std::fs::write(
        &rv,
        serde_json::to_vec(
            &serde_json::json!({"trusted_aks": [ak_pem], "tpm_pcr15": [want_pcr15]}),
        )
        .unwrap(),
    )
    .unwrap();
    admin(
        &broker,
        &b.url,
        &key,
        &["register-reference-values".as_ref(), rv.as_os_str()],
    );
    // Resource policy: release only to a TPM whose quoted PCR15 is the manifest's.
    let pol = d.join("resource.rego");
    std::fs::write(
        &pol,
        format!(
            r#"package policy
import rego.v1
default allow := false
allow if {{
	count(input.submods) > 0
	every _, sub in input.submods {{
		sub["ear.status"] == "affirming"
		lower(sub["ear.veraison.annotated-evidence"].tpm.pcr15) == "{want_pcr15}"
	}}
}}
"#
        ),
    )
    .unwrap();
    admin(
        &broker,
        &b.url,
        &key,
        &["set-resource-policy".as_ref(), pol.as_os_str()],
    );

    let tpm_attester = || tpm_attester(&tcti);
    let secrets = d.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let out = tpm_attester()
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(&secrets)
        .arg("--extend-config")
        .arg(&manifest_path)
        .args(["--secret", "default/tpm/key=key", "--", "sh", "-c"])
        .arg(r#"sha256sum "$REMITS_SECRETS_DIR/key""#)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let got = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(got, sha256_hex(b"tpm-bound secret"));

    // One extra extend of PCR15: the same attester is now refused and starts nothing.
    tpm2(
        &tcti,
        d,
        &["tpm2_pcrextend", &format!("15:sha256={}", "11".repeat(32))],
    );
    let denied = d.join("denied");
    std::fs::create_dir(&denied).unwrap();
    let marker = d.join("started");
    let out = tpm_attester()
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(&denied)
        .args([
            "--secret",
            "default/tpm/key=key",
            "--",
            "sh",
            "-c",
            r#"touch "$0""#,
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!marker.exists());
    assert!(entries(&denied).is_empty(), "{:?}", entries(&denied));

    // The TPM gone (swtpm stopped): a clear TPM error, nothing started, no file.
    let _ = swtpm.child.kill();
    let _ = swtpm.child.wait();
    let gone = d.join("gone");
    std::fs::create_dir(&gone).unwrap();
    let out = tpm_attester()
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "2",
            "--secrets-dir",
        ])
        .arg(&gone)
        .args([
            "--secret",
            "default/tpm/key=key",
            "--",
            "sh",
            "-c",
            r#"touch "$0""#,
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("tpm"),
        "{}",
        show(&out)
    );
    assert!(!marker.exists());
    assert!(entries(&gone).is_empty(), "{:?}", entries(&gone));
}

/// swtpm serves one connection at a time: while another client holds it, the attester's TPM
/// calls would block forever. They must end, within `--tpm-timeout` per try, in a clear busy
/// error — no hang, no workload, no secret file.
#[test]
fn tpm_held_by_another_client_is_a_busy_error_not_a_hang() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = d.join("tpmstate");
    std::fs::create_dir(&state).unwrap();
    let (_swtpm, tcti) = start_swtpm(&state);
    let port: u16 = tcti.rsplit('=').next().unwrap().parse().unwrap();
    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);

    // Another client holds the TPM's only connection for the whole test.
    let _holder = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    let secrets = d.join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let marker = d.join("started");
    let started = Instant::now();
    // The TCTI from tpm2-tools' variable alone (no --tcti, no REMITS_TCTI), durations with
    // units: "busy" below is only reachable through that swtpm.
    let mut child = Command::new(ATTESTER)
        .env_remove("REMITS_TCTI")
        .env("TPM2TOOLS_TCTI", &tcti)
        .args(["--tee", "tpm", "--tpm-timeout", "2s"])
        .args(["--event-log", "/nonexistent/remits-test-event-log"])
        .args(["run", "--broker", &b.url, "--retry-for", "3s"])
        .arg("--secrets-dir")
        .arg(&secrets)
        .args(["--secret", "default/tpm/key=key", "--", "sh", "-c"])
        .arg(r#"touch "$0""#)
        .arg(&marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the attester hung on a busy TPM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    assert!(!status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("busy"), "{}", show(&out));
    assert!(!marker.exists(), "the workload was started");
    assert!(entries(&secrets).is_empty(), "{:?}", entries(&secrets));
}

/// Init-data on a TPM: the attester extends its digest into a zero PCR8 (once; a restart finds
/// it bound), the verifier checks PCR8 against the init-data sent, and other init-data is
/// denied by name without PCR8 being extended again.
#[test]
fn tpm_init_data_bound_to_pcr8_and_checked() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let state = d.join("tpmstate");
    std::fs::create_dir(&state).unwrap();
    let (_swtpm, tcti) = start_swtpm(&state);
    let ak_pem = provision_ak(&tcti, d);
    let dev = d.join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    put(&broker, &b.url, &key, "default/tpm/init", b"pcr8 bound", d);
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
    let init = d.join("initdata.toml");
    let doc = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"cdh.toml\" = 'socket = \"unix:///run/cdh.sock\"'\n";
    std::fs::write(&init, doc).unwrap();
    let get = |init: &Path| {
        tpm_attester(&tcti)
            .arg("--init-data")
            .arg(init)
            .args(["get-resource", "--broker", &b.url, "--retry-for", "5"])
            .args(["--path", "default/tpm/init"])
            .output()
            .unwrap()
    };
    // Bound: PCR8 extended from zero, checked by the verifier, released; a second run finds
    // PCR8 already bound and is released again.
    for run in 0..2 {
        let out = get(&init);
        assert!(out.status.success(), "run {run}: {}", show(&out));
        assert_eq!(out.stdout, b"pcr8 bound");
    }
    let pcr8 = |tcti: &str| {
        let out = Command::new("tpm2_pcrread")
            .arg("sha256:8")
            .env("TPM2TOOLS_TCTI", tcti)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(Sha256::digest(doc.as_bytes()));
    let want = hex::encode(h.finalize());
    assert!(
        pcr8(&tcti).contains(&want),
        "PCR8 extended once: {}",
        pcr8(&tcti)
    );
    // Other init-data: PCR8 is left alone and the verifier denies the binding by name.
    let other = d.join("other.toml");
    std::fs::write(&other, doc.replace("cdh.sock", "evil.sock")).unwrap();
    let out = get(&other);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("init_data"),
        "{}",
        show(&out)
    );
    assert!(pcr8(&tcti).contains(&want), "PCR8 unchanged");
}
