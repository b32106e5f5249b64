//! `remits-measure snp` end to end: every sev-snp-measure vector through the command line
//! (same single output line, same error text), and, when both are installed, a side-by-side
//! comparison with the real `sev-snp-measure` on Debian's OVMF builds.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_remits-measure");

/// `../shared/testdata/measure` (env `REMITS_TESTDATA`; missing under `CI` fails).
fn measure_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("measure"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("remits-snp-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[String], cwd: &Path) -> Output {
    Command::new(BIN)
        .arg("snp")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// The command line sev-snp-measure's CLI would get for a vector.
fn vector_args(dir: &Path, v: &Value) -> Vec<String> {
    let mut a = vec!["--mode".to_owned(), v["mode"].as_str().unwrap().to_owned()];
    let path = |name: &str| {
        if name == "/dev/null" {
            name.to_owned()
        } else {
            dir.join(name).display().to_string()
        }
    };
    a.extend(["--ovmf".into(), path(v["ovmf"].as_str().unwrap())]);
    if let Some(n) = v["vcpus"].as_u64() {
        a.extend(["--vcpus".into(), n.to_string()]);
    }
    if let Some(t) = v["vcpu_type"].as_str() {
        a.extend(["--vcpu-type".into(), t.to_owned()]);
    } else if let Some(s) = v["vcpu_sig"].as_str() {
        a.extend(["--vcpu-sig".into(), s.to_owned()]);
    } else if v["vmm_type"] == "QEMU" && v["mode"] != "sev" && v["mode"] != "snp:ovmf-hash" {
        // The library-level vectors pass signature 0 where the CLI demands one.
        a.extend(["--vcpu-type".into(), "EPYC-v4".into()]);
    }
    for (key, opt) in [
        ("kernel", "--kernel"),
        ("initrd", "--initrd"),
        ("svsm", "--svsm"),
    ] {
        if let Some(p) = v[key].as_str() {
            a.extend([opt.into(), path(p)]);
        }
    }
    if let Some(s) = v["append"].as_str() {
        a.push(format!("--append={s}"));
    }
    for (key, opt) in [
        ("guest_features", "--guest-features"),
        ("vmm_type", "--vmm-type"),
        ("snp_ovmf_hash", "--snp-ovmf-hash"),
    ] {
        if let Some(s) = v[key].as_str() {
            a.extend([opt.into(), s.to_owned()]);
        }
    }
    if let Some(n) = v["ovmf_vars_size"].as_u64() {
        a.extend(["--vars-size".into(), n.to_string()]);
    }
    a
}

#[test]
fn every_vector_through_the_cli() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("sev-snp-measure-vectors.json")).unwrap())
            .unwrap();
    let cwd = scratch("vectors");
    for v in &vectors {
        let name = v["test"].as_str().unwrap();
        let args = vector_args(&dir, v);
        let out = run(&args, &cwd);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        if let Some(expected) = v["expected"].as_str() {
            assert!(out.status.success(), "{name}: {stderr}");
            assert_eq!(stdout, format!("{expected}\n"), "{name}");
        } else {
            let expected = v["expected_error"].as_str().unwrap();
            assert_eq!(out.status.code(), Some(1), "{name}");
            assert_eq!(stderr, format!("Error: {expected}\n"), "{name}");
            assert!(stdout.is_empty());
        }
    }
    std::fs::remove_dir_all(cwd).unwrap();
}

#[test]
fn output_formats_and_usage_errors() {
    let Some(dir) = measure_dir() else { return };
    let cwd = scratch("formats");
    let ovmf = dir.join("ovmf_AmdSev_suffix.bin").display().to_string();
    let base: Vec<String> = [
        "--mode",
        "snp",
        "--vcpus",
        "1",
        "--vcpu-type",
        "EPYC-v4",
        "--ovmf",
        &ovmf,
    ]
    .map(String::from)
    .to_vec();
    // Defaults: guest features 0x1, no kernel.
    let expected = "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ec\
                    abe033c48dd6f6db5d6d76e7c5df632d";
    let out = run(&base, &cwd);
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), expected);
    let mut b64 = base.clone();
    b64.extend(["--output-format".into(), "base64".into(), "-v".into()]);
    let out = run(&b64, &cwd);
    let line = String::from_utf8(out.stdout).unwrap();
    let b64_value = line
        .trim()
        .strip_prefix("Calculated SEV_SNP guest measurement: ")
        .unwrap();
    let bytes = hex::decode(expected).unwrap();
    assert_eq!(b64_value.len(), 64);
    assert_ne!(b64_value, expected);
    assert!(!bytes.is_empty());

    let usage_cases: &[(&[&str], &str)] = &[
        (
            &["--mode", "snp", "--vcpu-type", "EPYC-v4"],
            "missing --vcpus N in guest mode 'snp'",
        ),
        (
            &["--mode", "snp", "--vcpus", "2"],
            "missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode 'snp'",
        ),
        (
            &[
                "--mode",
                "snp",
                "--vcpus",
                "2",
                "--vcpu-sig",
                "1",
                "--vmm-type",
                "kvm",
            ],
            "unknown VMM type 'kvm'",
        ),
        (
            &["--mode", "sev", "--initrd", "x"],
            "--kernel required when using --initrd",
        ),
        (
            &["--mode", "sev", "--append", "x"],
            "--kernel required when using --append",
        ),
        (
            &[
                "--mode",
                "snp:svsm",
                "--vcpus",
                "1",
                "--vcpu-sig",
                "1",
                "--svsm",
                "x",
            ],
            "snp:svsm mode requires --vars-size or --vars-file",
        ),
        (
            &["--mode", "sev", "--dump-vmsa"],
            "--dump-vmsa is not available in the selected mode",
        ),
    ];
    for (args, msg) in usage_cases {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.extend(["--ovmf".into(), ovmf.clone()]);
        let out = run(&a, &cwd);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains(&format!("error: {msg}")),
            "{args:?}: {stderr}"
        );
    }
    // Missing file: I/O error, exit 1 as sev-snp-measure (2 is for usage errors only).
    let out = run(
        &[
            "--mode".into(),
            "sev".into(),
            "--ovmf".into(),
            "/nonexistent/ovmf".into(),
        ],
        &cwd,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "Error: cannot read OVMF /nonexistent/ovmf: No such file or directory (os error 2)\n"
    );
    // argparse forms: an empty path counts as absent, a negative number is a value, a
    // value that looks like an option is not.
    let sev = |extra: &[&str]| {
        let mut a: Vec<String> = ["--mode", "sev", "--ovmf", &ovmf]
            .map(String::from)
            .to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        run(&a, &cwd)
    };
    let plain = sev(&[]);
    assert_eq!(plain.status.code(), Some(0));
    for extra in [&["--kernel", "", "--initrd", ""][..], &["--vcpus", "-1"]] {
        let o = sev(extra);
        assert_eq!(o.status.code(), Some(0), "{extra:?}");
        assert_eq!(o.stdout, plain.stdout, "{extra:?}");
    }
    assert_eq!(
        sev(&["--kernel", &ovmf, "--append", "-x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        sev(&["--kernel", &ovmf, "--append=-x"]).status.code(),
        Some(0)
    );
    // OVMF hash in another mode.
    let mut a = base.clone();
    a[1] = "seves".into();
    a.extend(["--snp-ovmf-hash".into(), "00".repeat(48)]);
    let out = run(&a, &cwd);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "Error: SNP OVMF hash only works with SNP\n"
    );
    std::fs::remove_dir_all(cwd).unwrap();
}

/// `--version`, and the `sev-snp-measure` entry point: the binary started under that name (a
/// symlink) is `remits-measure snp`, usage errors naming sev-snp-measure.
#[test]
fn version_and_sev_snp_measure_entry_point() {
    let out = Command::new(BIN)
        .args(["snp", "--version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.starts_with("sev-snp-measure 0.0.13 (remits-measure "),
        "{line}"
    );
    let dir = scratch("entry");
    let link = dir.join("sev-snp-measure");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = Command::new(&link).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), line);
    let out = Command::new(&link)
        .args(["--mode", "snp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("Usage: sev-snp-measure "), "{err}");
    let out = Command::new(&link)
        .args(["--mode", "sev", "--ovmf", "/nonexistent/ovmf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    if let Some(d) = measure_dir() {
        let ovmf = d.join("ovmf_AmdSev_suffix.bin");
        let args = ["--mode", "sev", "--ovmf", ovmf.to_str().unwrap()];
        let ours = Command::new(BIN).arg("snp").args(args).output().unwrap();
        let linked = Command::new(&link).args(args).output().unwrap();
        assert_eq!(ours.status.code(), Some(0));
        assert_eq!(linked.stdout, ours.stdout);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `sev-snp-measure` from `PATH` or from the venv `scripts/setup.sh` creates
/// (`$REMITS_VENV`, default `~/.cache/remits-venv`).
fn sev_snp_measure() -> Option<PathBuf> {
    let venv = std::env::var_os("REMITS_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/remits-venv")));
    let mut candidates = vec![PathBuf::from("sev-snp-measure")];
    if let Some(v) = venv {
        candidates.push(v.join("bin/sev-snp-measure"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Debian's `ovmf` package builds (every `OVMF_CODE*.fd`: plain, 4M, Secure Boot, MS keys) and
/// an AMD SEV build where a distribution ships one.
fn real_ovmfs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "/usr/share/OVMF/OVMF.amdsev.fd",
        "/usr/share/ovmf/OVMF.amdsev.fd",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| p.is_file())
    .collect();
    if let Ok(rd) = std::fs::read_dir("/usr/share/OVMF") {
        let mut code: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                n.starts_with("OVMF_CODE") && n.ends_with(".fd") && p.is_file()
            })
            .collect();
        code.sort();
        out.extend(code);
    }
    out
}

/// Same output line, exit code, error text and dumped VMSAs as sev-snp-measure on real OVMF.
#[test]
fn matches_sev_snp_measure_on_real_ovmf() {
    let (tool, ovmfs) = (sev_snp_measure(), real_ovmfs());
    let Some(tool) = tool.filter(|_| !ovmfs.is_empty()) else {
        let msg =
            "needs `sev-snp-measure` (pip install sev-snp-measure) and Debian's `ovmf` package";
        assert!(
            std::env::var_os("CI").is_none(),
            "{msg}; CI is set, so this is a failure"
        );
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let cwd = scratch("real");
    let kernel = cwd.join("kernel");
    let initrd = cwd.join("initrd");
    std::fs::write(
        &kernel,
        (0..3_000_000u32)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(&initrd, vec![0x5au8; 700_000]).unwrap();
    let (k, i) = (kernel.display().to_string(), initrd.display().to_string());
    let cases: Vec<Vec<&str>> = vec![
        vec!["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4"],
        vec![
            "--mode",
            "snp",
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--guest-features",
            "0x21",
        ],
        vec![
            "--mode",
            "snp",
            "--vcpus",
            "3",
            "--vcpu-sig",
            "0xa10f10",
            "--vmm-type",
            "ec2",
        ],
        vec![
            "--mode",
            "snp",
            "--vcpus",
            "8",
            "--vmm-type",
            "gce",
            "--output-format",
            "base64",
        ],
        vec![
            "--mode",
            "snp",
            "--vcpus",
            "1",
            "--vcpu-family",
            "26",
            "--vcpu-model",
            "0",
            "--vcpu-stepping",
            "0",
            "-v",
        ],
        vec!["--mode", "snp:ovmf-hash"],
        vec![
            "--mode",
            "seves",
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Rome",
        ],
        vec!["--mode", "sev"],
        vec![
            "--mode",
            "sev",
            "--kernel",
            &k,
            "--initrd",
            &i,
            "--append",
            "console=ttyS0",
        ],
        vec![
            "--mode",
            "snp",
            "--vcpus",
            "1",
            "--vcpu-type",
            "EPYC-v4",
            "--kernel",
            &k,
            "--append",
            "ro",
        ],
    ];
    let (mut compared, mut measured) = (0, 0);
    for ovmf in &ovmfs {
        for case in &cases {
            let mut args: Vec<String> = case.iter().map(|s| s.to_string()).collect();
            args.extend(["--ovmf".into(), ovmf.display().to_string()]);
            let theirs = Command::new(&tool)
                .args(&args)
                .current_dir(&cwd)
                .output()
                .unwrap();
            let ours = run(&args, &cwd);
            assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
            assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
            if theirs.status.success() {
                measured += 1;
            } else {
                assert_eq!(ours.stderr, theirs.stderr, "{args:?}");
            }
            compared += 1;
        }
        // Dumped VMSAs are byte-identical.
        for vmm in ["QEMU", "ec2", "gce"] {
            let (d_ours, d_theirs) = (cwd.join(format!("o-{vmm}")), cwd.join(format!("t-{vmm}")));
            std::fs::create_dir_all(&d_ours).unwrap();
            std::fs::create_dir_all(&d_theirs).unwrap();
            let args: Vec<String> = [
                "--mode",
                "snp",
                "--vcpus",
                "2",
                "--vcpu-type",
                "EPYC-Genoa",
                "--vmm-type",
                vmm,
                "--dump-vmsa",
                "--ovmf",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([ovmf.display().to_string()])
            .collect();
            let theirs = Command::new(&tool)
                .args(&args)
                .current_dir(&d_theirs)
                .output()
                .unwrap();
            let ours = Command::new(BIN)
                .arg("snp")
                .args(&args)
                .current_dir(&d_ours)
                .output()
                .unwrap();
            assert!(
                theirs.status.success() && ours.status.success(),
                "{vmm} {ovmf:?}"
            );
            assert_eq!(ours.stdout, theirs.stdout, "{vmm} {ovmf:?}");
            for n in ["vmsa0.bin", "vmsa1.bin"] {
                assert_eq!(
                    std::fs::read(d_ours.join(n)).unwrap(),
                    std::fs::read(d_theirs.join(n)).unwrap(),
                    "{vmm} {n}"
                );
            }
        }
    }
    // Debian's OVMF carries the SEV metadata: the comparison is not only over error texts.
    assert!(
        measured * 2 > compared,
        "only {measured} of {compared} runs produced a digest"
    );
    eprintln!(
        "compared {compared} runs ({measured} digests) on {} real OVMF images",
        ovmfs.len()
    );
    std::fs::remove_dir_all(cwd).unwrap();
}

/// The command-line parity harness (`scripts/compare_cli.py`, 138 cases: measurements, usage
/// and runtime errors, dumps) against the real sev-snp-measure: no case may differ.
#[test]
fn cli_parity_harness() {
    let Some(tool) = sev_snp_measure() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "needs `sev-snp-measure`; CI is set, so this is a failure"
        );
        eprintln!("SKIPPED: needs `sev-snp-measure` (pip install sev-snp-measure)");
        return;
    };
    if measure_dir().is_none() || !Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").exists() {
        eprintln!("SKIPPED: needs the measure test data and Debian's `ovmf` package");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/compare_cli.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(BIN)
        .arg(tool)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" 0 differ"), "{text}");
}
