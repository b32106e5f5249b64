//! swtpm on loopback for the TPM tests: start-up, tpm2-tools calls, AK provisioning at the
//! attester's default persistent handle, PCR reads, and the attester pointed at it.

use std::path::Path;
use std::process::Command;

use super::{show, Proc, ATTESTER};

/// The persistent handle the AK is made resident at (the attester's `--ak-handle`).
pub const AK_HANDLE: &str = "0x81010002";

/// swtpm and the tpm2-tools the tests call are installed, or SKIPPED (a failure under `CI`).
pub fn tools_or_skip() -> bool {
    remits_testsupport::swtpm::tools_or_skip(&[
        "swtpm",
        "tpm2_createek",
        "tpm2_createak",
        "tpm2_evictcontrol",
        "tpm2_pcrextend",
        "tpm2_pcrread",
    ])
}

/// swtpm with its state in `state` on loopback: the process (killed on drop) and its TCTI.
pub fn start_swtpm(state: &Path) -> (Proc, String) {
    let t = remits_testsupport::swtpm::Swtpm::start(state);
    let tcti = t.tcti().to_owned();
    (t.proc, tcti)
}

/// Runs a tpm2-tools command (`args[0]`) in `dir` against `tcti`; asserts success.
pub fn tpm2(tcti: &str, dir: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .env("TPM2TOOLS_TCTI", tcti)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", show(&out));
    // No resource manager in front of swtpm: flush the transient objects and sessions each
    // tool leaves loaded, or the TPM runs out of object slots.
    for flag in ["-t", "-l", "-s"] {
        let _ = Command::new("tpm2_flushcontext")
            .arg(flag)
            .env("TPM2TOOLS_TCTI", tcti)
            .output();
    }
}

/// An ECC AK under the EK, made persistent at [`AK_HANDLE`]; returns its public key (PEM),
/// what `trusted_aks` lists.
pub fn provision_ak(tcti: &str, dir: &Path) -> String {
    tpm2(
        tcti,
        dir,
        &["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"],
    );
    tpm2(
        tcti,
        dir,
        &[
            "tpm2_createak",
            "-C",
            "ek.ctx",
            "-c",
            "ak.ctx",
            "-G",
            "ecc",
            "-g",
            "sha256",
            "-s",
            "ecdsa",
            "-u",
            "ak.pub",
            "-f",
            "pem",
            "-n",
            "ak.name",
        ],
    );
    tpm2(
        tcti,
        dir,
        &["tpm2_evictcontrol", "-C", "o", "-c", "ak.ctx", AK_HANDLE],
    );
    std::fs::read_to_string(dir.join("ak.pub")).unwrap()
}

/// Extends `digest` into sha256 PCR `pcr`.
pub fn pcr_extend(tcti: &str, dir: &Path, pcr: u32, digest: &[u8; 32]) {
    tpm2(
        tcti,
        dir,
        &[
            "tpm2_pcrextend",
            &format!("{pcr}:sha256={}", hex::encode(digest)),
        ],
    );
}

/// The sha256 bank value of PCR `pcr`.
pub fn pcr_read(tcti: &str, pcr: u32) -> [u8; 32] {
    let out = Command::new("tpm2_pcrread")
        .arg(format!("sha256:{pcr}"))
        .env("TPM2TOOLS_TCTI", tcti)
        .output()
        .unwrap();
    assert!(out.status.success(), "tpm2_pcrread: {}", show(&out));
    // `  15: 0xABCD…`
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .lines()
        .find_map(|l| l.split_once("0x").map(|(_, h)| h.trim().to_string()))
        .unwrap_or_else(|| panic!("tpm2_pcrread output: {text}"));
    let mut d = [0u8; 32];
    hex::decode_to_slice(&v, &mut d).unwrap();
    d
}

/// The attester with `--tee tpm` on `tcti` and the AK at [`AK_HANDLE`] (no event log).
pub fn tpm_attester(tcti: &str) -> Command {
    let mut c = Command::new(ATTESTER);
    c.args(["--tee", "tpm", "--tcti", tcti, "--ak-handle", AK_HANDLE])
        .args(["--event-log", "/nonexistent/remits-test-event-log"]);
    c
}
