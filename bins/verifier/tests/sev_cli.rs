//! `remits-verifier sev-*`: the guest owner's SEV pre-launch steps end to end, the real
//! platform chains, and a simulated platform playing the firmware (LAUNCH_START,
//! LAUNCH_MEASURE, LAUNCH_SECRET) between the commands.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use rand::rngs::OsRng;
use remits_sev::sim::SimPlatform;
use remits_sev::{LaunchPolicy, SecretPacket, SessionBlob, TransportKeys};

const BIN: &str = env!("CARGO_BIN_EXE_remits-verifier");
const GUID: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sev_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("sev"))
}

#[test]
fn real_chains_verify_and_tampered_ones_name_the_link() {
    let Some(d) = sev_dir() else { return };
    for gen in ["naples", "rome", "milan"] {
        let f = |c: &str| d.join(format!("{gen}-{c}.cert"));
        let o = run(&[
            "sev-chain",
            "--cek",
            s(&f("cek")),
            "--oca",
            s(&f("oca")),
            "--pek",
            s(&f("pek")),
            "--pdh",
            s(&f("pdh")),
        ]);
        assert_eq!(o.status.code(), Some(0), "{gen}: {o:?}");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(gen) && out.contains("AMD's pinned"), "{out}");
    }
    // Milan's chain under Rome: the ASK → CEK link fails, exit 1.
    let f = |c: &str| d.join(format!("milan-{c}.cert"));
    let o = run(&[
        "sev-chain",
        "--generation",
        "rome",
        "--cek",
        s(&f("cek")),
        "--oca",
        s(&f("oca")),
        "--pek",
        s(&f("pek")),
        "--pdh",
        s(&f("pdh")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ASK → CEK"),
        "{o:?}"
    );
    // Rome's PDH with Milan's PEK: PEK → PDH.
    let o = run(&[
        "sev-chain",
        "--cek",
        s(&f("cek")),
        "--oca",
        s(&f("oca")),
        "--pek",
        s(&f("pek")),
        "--pdh",
        s(&d.join("rome-pdh.cert")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("PEK → PDH"),
        "{o:?}"
    );
    // Not a certificate: exit 1, no panic; a missing file: exit 2.
    let o = run(&["sev-chain", "--chain", "/dev/null"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let o = run(&["sev-chain", "--chain", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn session_measurement_and_secret_against_a_simulated_platform() {
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("chain.cert"), sim.chain().to_sevctl_export()).unwrap();
    std::fs::write(d.join("ark.cert"), sim.ark()).unwrap();
    std::fs::write(d.join("ask.cert"), sim.ask()).unwrap();
    let (chain_p, ark_p, ask_p) = (d.join("chain.cert"), d.join("ark.cert"), d.join("ask.cert"));
    let chain = ["--chain", s(&chain_p)];
    let roots = ["--ark", s(&ark_p), "--ask", s(&ask_p)];

    // The simulated chain is refused under AMD's roots, accepted under its own.
    let o = run(&["sev-chain", chain[0], chain[1]]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let o = run(&[&["sev-chain"][..], &chain, &roots].concat());
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    let o = run(&[
        &[
            "sev-session",
            "--policy",
            "0x7",
            "--name",
            "vm1",
            "--out-dir",
            s(d),
        ][..],
        &chain,
        &roots,
    ]
    .concat());
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let b64 = base64::engine::general_purpose::STANDARD;
    let godh = b64
        .decode(std::fs::read(d.join("vm1_godh.b64")).unwrap())
        .unwrap();
    let blob = b64
        .decode(std::fs::read(d.join("vm1_session.b64")).unwrap())
        .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("vm1_tik.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Running it again never overwrites the keys.
    let o = run(&[
        &[
            "sev-session",
            "--policy",
            "0x7",
            "--name",
            "vm1",
            "--out-dir",
            s(d),
        ][..],
        &chain,
        &roots,
    ]
    .concat());
    assert_eq!(o.status.code(), Some(2), "{o:?}");

    // The platform (simulated firmware) accepts the session and unwraps the owner's keys.
    let policy = LaunchPolicy(7);
    let keys = sim
        .launch_start(&godh, &SessionBlob::from_bytes(&blob).unwrap(), policy)
        .unwrap();
    let tek_tik = keys.to_bytes();
    assert_eq!(
        std::fs::read(d.join("vm1_tek.bin")).unwrap(),
        &tek_tik[..16]
    );
    let digest = [0x42u8; 32];
    let m = sim.launch_measure(&keys, policy, &digest, &mut OsRng);
    let b = sim.build();
    let (maj, min, bid) = (
        b.api_major.to_string(),
        b.api_minor.to_string(),
        b.build.to_string(),
    );
    let launch = |digest_hex: &str, policy: &str| -> Vec<String> {
        [
            "--tik",
            s(&d.join("vm1_tik.bin")),
            "--measurement",
            &m.to_b64(),
            "--api-major",
            &maj,
            "--api-minor",
            &min,
            "--build-id",
            &bid,
            "--policy",
            policy,
            "--digest",
            digest_hex,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let good = hex::encode(digest);
    let o = Command::new(BIN)
        .arg("sev-measurement")
        .args(launch(&good, "7"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let mut wrong = digest;
    wrong[0] ^= 1;
    let o = Command::new(BIN)
        .arg("sev-measurement")
        .args(launch(&hex::encode(wrong), "7"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("measurement mismatch"),
        "{o:?}"
    );
    // A policy other than the session's (debugging allowed) does not match either.
    let o = Command::new(BIN)
        .arg("sev-measurement")
        .args(launch(&good, "6"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    // The secret packet: refused for a wrong digest (nothing written), built for the right one.
    std::fs::write(d.join("pass"), b"luks passphrase").unwrap();
    let secret_args = |digest_hex: &str, tag: &str| -> Vec<String> {
        let mut v = launch(digest_hex, "7");
        v.extend([
            "--tek".to_string(),
            s(&d.join("vm1_tek.bin")).into(),
            "--secret".into(),
            format!("{GUID}={}", s(&d.join("pass"))),
            "--out-header".into(),
            s(&d.join(format!("{tag}.header"))).into(),
            "--out-secret".into(),
            s(&d.join(format!("{tag}.secret"))).into(),
        ]);
        v
    };
    let o = Command::new(BIN)
        .arg("sev-secret")
        .args(secret_args(&hex::encode(wrong), "bad"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(!d.join("bad.header").exists() && !d.join("bad.secret").exists());
    let o = Command::new(BIN)
        .arg("sev-secret")
        .args(secret_args(&good, "ok"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let header = b64
        .decode(std::fs::read(d.join("ok.header")).unwrap())
        .unwrap();
    let ciphertext = b64
        .decode(std::fs::read(d.join("ok.secret")).unwrap())
        .unwrap();
    assert!(!ciphertext.windows(15).any(|w| w == b"luks passphrase"));
    let packet = SecretPacket {
        header: header.try_into().unwrap(),
        ciphertext,
    };
    // The platform authenticates it for this launch and places the table in guest memory.
    let placed = SimPlatform::launch_secret(&keys, &m, &packet).unwrap();
    let entries = remits_sev::table::parse_secret_table(&placed).unwrap();
    assert_eq!(entries[0].0, GUID);
    assert_eq!(&entries[0].1[..], b"luks passphrase");
    // Another session's keys cannot open it.
    let other = TransportKeys::generate(&mut OsRng);
    assert!(SimPlatform::launch_secret(&other, &m, &packet).is_err());
}

/// The expected digest comes from remits' own launch-digest code: Debian's OVMF measured in SEV
/// mode by `remits_measure` (the code behind `remits-measure snp --mode sev`, cross-checked
/// with sev-snp-measure in crates/measure), a guest launched from that firmware on the simulated
/// platform is accepted, and the same guest checked against another firmware build is not.
#[test]
fn digest_from_remits_measure_of_a_real_ovmf() {
    let ovmf = std::path::Path::new("/usr/share/OVMF/OVMF_CODE.fd");
    let other = std::path::Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
    if !ovmf.is_file() || !other.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but Debian's ovmf is missing"
        );
        println!("SKIPPED: Debian's ovmf package is not installed");
        return;
    }
    let digest_of = |p: &Path| -> [u8; 32] {
        let fw = std::fs::read(p).unwrap();
        let m = remits_measure::launch::launch_digest(&remits_measure::launch::LaunchInputs::new(
            remits_measure::launch::Mode::Sev,
            &fw,
        ))
        .unwrap();
        m.as_bytes().try_into().unwrap()
    };
    let (digest, wrong) = (digest_of(ovmf), digest_of(other));
    assert_ne!(digest, wrong);
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let keys = TransportKeys::generate(&mut OsRng);
    let tk = keys.to_bytes();
    std::fs::write(d.join("tik.bin"), &tk[16..]).unwrap();
    let policy = LaunchPolicy(1);
    let m = sim.launch_measure(&keys, policy, &digest, &mut OsRng);
    let b = sim.build();
    let check = |digest: &[u8; 32]| {
        Command::new(BIN)
            .args([
                "sev-measurement",
                "--tik",
                s(&d.join("tik.bin")),
                "--measurement",
                &m.to_b64(),
            ])
            .args([
                "--api-major",
                &b.api_major.to_string(),
                "--api-minor",
                &b.api_minor.to_string(),
            ])
            .args([
                "--build-id",
                &b.build.to_string(),
                "--policy",
                "1",
                "--digest",
                &hex::encode(digest),
            ])
            .output()
            .unwrap()
    };
    let o = check(&digest);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = check(&wrong);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}
