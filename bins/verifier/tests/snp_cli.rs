//! `remits-verifier snp` end to end on the real vectors: exit codes 0/1/2, one stderr line,
//! JSON claims.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn snp_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("snp"))
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .arg("snp")
        .args(args)
        .output()
        .unwrap()
}

fn p(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

fn stderr_line(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(
        s.trim_end().lines().count(),
        1,
        "expected one stderr line, got {s:?}"
    );
    s
}

#[test]
fn positive_vectors_exit_0_with_json_claims() {
    let Some(d) = snp_dir() else { return };
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
        "--chain",
        &p(&d, "milan-ask-ark.pem"),
        "--time",
        "2026-11-22T00:00:00Z",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["version"], 2);
    assert_eq!(j["generation"], "milan");
    assert_eq!(j["signer"], "vcek");
    assert_eq!(j["vmpl"], 0);
    assert_eq!(
        j["measurement"],
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    );
    assert_eq!(j["reported_tcb"]["microcode"], 115);
    assert_eq!(j["policy"]["smt"], true);
    assert_eq!(j["platform_info"]["smt_en"], true);
    for k in [
        "report_data",
        "host_data",
        "chip_id",
        "id_key_digest",
        "author_key_digest",
        "current_tcb",
        "committed_tcb",
        "launch_tcb",
    ] {
        assert!(j.get(k).is_some(), "{k}");
    }

    // Genoa v3 with built-in chain, expected host_data (zero-padded) and report_data.
    let o = run(&[
        "--report", &p(&d, "genoa-v3-report.bin"),
        "--vcek", &p(&d, "genoa-v3-vcek.der"),
        "--time", "2026-11-22T00:00:00Z",
        "--host-data", "00",
        "--report-data", "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0",
        "--generation", "genoa",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("verified: genoa"));

    // VLEK at a time inside its validity.
    let o = run(&[
        "--report",
        &p(&d, "milan-v3-vlek-report.bin"),
        "--vcek",
        &p(&d, "milan-vlek.der"),
        "--chain",
        &p(&d, "milan-ask-ark-asvk.pem"),
        "--time",
        "2025-06-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["signer"], "vlek");
    assert_eq!(j["vmpl"], 1);
}

#[test]
fn hex_report_and_pem_vcek_are_accepted() {
    let Some(d) = snp_dir() else { return };
    let tmp = std::env::temp_dir().join(format!("remits-snp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let raw = std::fs::read(d.join("milan-v2-trustee-report.bin")).unwrap();
    let hex_text: String = hex::encode(&raw)
        .as_bytes()
        .chunks(64)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    std::fs::write(tmp.join("r.hex"), hex_text).unwrap();
    let der = std::fs::read(d.join("milan-v2-trustee-vcek.der")).unwrap();
    let pem = remits_snp::cert::der_to_pem(&der);
    std::fs::write(tmp.join("v.pem"), pem).unwrap();
    let o = run(&[
        "--report",
        tmp.join("r.hex").to_str().unwrap(),
        "--vcek",
        tmp.join("v.pem").to_str().unwrap(),
        "--time",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn rejections_exit_1_with_one_stderr_line() {
    let Some(d) = snp_dir() else { return };
    // Expired VLEK at the real time.
    let o = run(&[
        "--report",
        &p(&d, "milan-v3-vlek-report.bin"),
        "--vcek",
        &p(&d, "milan-vlek.der"),
        "--chain",
        &p(&d, "milan-ask-ark-asvk.pem"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("VLEK certificate not valid"));

    // Wrong VCEK.
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "milan-v2-trustee-vcek.der"),
        "--time",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("report signature"));

    // Wrong expected host data.
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
        "--time",
        "2026-01-01T00:00:00Z",
        "--host-data",
        "01",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("host_data"));

    // Malformed evidence: a certificate as the report; synthetic VCEK.
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-vcek.der"),
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    stderr_line(&o);
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "synthetic-invalid-vcek-legacy.der"),
        "--chain",
        &p(&d, "milan-ask-ark-asvk.pem"),
        "--time",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("does not verify"));

    // Generation contradicting the report.
    let o = run(&[
        "--report",
        &p(&d, "genoa-v3-report.bin"),
        "--vcek",
        &p(&d, "genoa-v3-vcek.der"),
        "--generation",
        "turin",
        "--time",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("generation"));
}

#[test]
fn usage_errors_exit_2() {
    let Some(d) = snp_dir() else { return };
    let o = run(&[
        "--report",
        "/nonexistent/report.bin",
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    stderr_line(&o);
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
        "--time",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--vcek",
        &p(&d, "milan-v2-sev-vcek.der"),
        "--report-data",
        "zz",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--generation",
        "venice",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--vcek", &p(&d, "milan-v2-sev-vcek.der")]);
    assert_eq!(o.status.code(), Some(2));
}

/// Finding 7 of the trust-core review: `--report` / `--vcek` read whole files of any size (3-6
/// GB RSS on a 3 GiB file), and a `metadata().len()` cap let `/dev/zero` through. Both are now
/// refused at once, with a clear error, in bounded memory.
#[test]
fn huge_and_endless_inputs_are_refused_in_bounded_memory() {
    let Some(d) = snp_dir() else { return };
    if !std::path::Path::new("/usr/bin/time").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but /usr/bin/time is missing"
        );
        println!("SKIPPED: /usr/bin/time (package `time`) is not installed");
        return;
    }
    let t = tmpdir("huge");
    let huge = t.join("huge.bin");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(3 << 30).unwrap(); // sparse: 3 GiB of zeros, no disk used
    drop(f);
    let huge = huge.to_str().unwrap().to_owned();
    let vcek = p(&d, "milan-v2-sev-vcek.der");
    let report = p(&d, "milan-v2-sev-report.bin");
    for (what, args) in [
        (
            "--report /dev/zero",
            ["--report", "/dev/zero", "--vcek", &vcek],
        ),
        ("--report 3 GiB", ["--report", &huge, "--vcek", &vcek]),
        (
            "--vcek /dev/zero",
            ["--report", &report, "--vcek", "/dev/zero"],
        ),
        ("--vcek 3 GiB", ["--report", &report, "--vcek", &huge]),
    ] {
        let rss = t.join("rss");
        let started = std::time::Instant::now();
        let o = Command::new("/usr/bin/time")
            .args(["-f", "%M", "-o"])
            .arg(&rss)
            .arg(env!("CARGO_BIN_EXE_remits-verifier"))
            .arg("snp")
            .args(args)
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(o.status.code(), Some(2), "{what}: {o:?}");
        let line = stderr_line(&o);
        assert!(line.contains("larger than"), "{what}: {line}");
        // GNU time writes "Command exited with non-zero status 2" before the figure.
        let kib: u64 = std::fs::read_to_string(&rss)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        println!("{what}: refused in {elapsed:?}, peak RSS {} KiB", kib);
        assert!(kib < 64 * 1024, "{what}: peak RSS {kib} KiB");
    }
    let _ = std::fs::remove_dir_all(&t);
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("remits-snp-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn foreign_chain_needs_its_ark() {
    // A chain in AMD's profile under another root (the simulator's, labelled NOT AMD).
    use rand::SeedableRng;
    let chain = remits_sim::SimChain::generate(&mut rand::rngs::StdRng::seed_from_u64(9)).unwrap();
    let d = tmpdir("foreign");
    chain.write_to(&d.join("sim")).unwrap();
    let report = chain
        .report(&remits_sim::ReportParams::default(), b"foreign")
        .unwrap();
    std::fs::write(d.join("report.bin"), &report).unwrap();
    let bundle = remits_snp::cert::der_to_pem(chain.ask_der())
        + &remits_snp::cert::der_to_pem(chain.ark_der());
    std::fs::write(d.join("chain.pem"), bundle).unwrap();
    let s = |p: PathBuf| p.to_str().unwrap().to_owned();
    let base = [
        "--report".to_owned(),
        s(d.join("report.bin")),
        "--vcek".to_owned(),
        s(d.join("sim/vcek.der")),
        "--chain".to_owned(),
        s(d.join("chain.pem")),
    ];
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let o = run(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_line(&o).contains("untrusted root"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let ark = s(d.join("sim/ark.pem"));
    let mut with_ark = args.clone();
    with_ark.extend(["--ark", &ark, "--json"]);
    let o = run(&with_ark);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["report_data"]
        .as_str()
        .unwrap()
        .starts_with(&hex::encode(b"foreign")));

    // Another root passed with --ark does not vouch for this chain.
    let other = remits_sim::SimChain::generate(&mut rand::rngs::StdRng::seed_from_u64(10)).unwrap();
    other.write_to(&d.join("other")).unwrap();
    let other_ark = s(d.join("other/ark.pem"));
    let mut wrong = args.clone();
    wrong.extend(["--ark", &other_ark]);
    let o = run(&wrong);
    assert_eq!(o.status.code(), Some(1));
    stderr_line(&o);
    // An ASK given as --ark is refused.
    let mut bad = args.clone();
    let ask_pem = d.join("ask.pem");
    std::fs::write(&ask_pem, remits_snp::cert::der_to_pem(chain.ask_der())).unwrap();
    let ask_s = s(ask_pem);
    bad.extend(["--ark", &ask_s]);
    let o = run(&bad);
    assert_eq!(o.status.code(), Some(1));
    // `--ark` is the hidden alias of `--trust-ark`; the message names the canonical flag and
    // the file.
    let line = stderr_line(&o);
    assert!(
        line.contains("--trust-ark ") && line.contains(&ask_s),
        "{line}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn certs_dir_offline_and_crl() {
    let Some(d) = snp_dir() else { return };
    let t = tmpdir("certs");
    let report = std::fs::read(d.join("genoa-v3-report.bin")).unwrap();
    let chip = &report[0x1A0..0x1E0];
    let vdir = t.join("vcek").join(hex::encode(chip));
    std::fs::create_dir_all(&vdir).unwrap();
    std::fs::copy(
        d.join("genoa-v3-vcek.der"),
        vdir.join("bl10_tee00_snp23_ucode25_vcek.der"),
    )
    .unwrap();
    std::fs::create_dir_all(t.join("Genoa")).unwrap();
    std::fs::copy(
        d.join("genoa-ask-ark-asvk.pem"),
        t.join("Genoa/cert_chain.pem"),
    )
    .unwrap();
    let dir = t.to_str().unwrap();
    let rep = p(&d, "genoa-v3-report.bin");
    let o = run(&[
        "--report",
        &rep,
        "--certs-dir",
        dir,
        "--time",
        "2026-11-22T00:00:00Z",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Not in the directory: rejected, naming the file.
    let o = run(&[
        "--report",
        &p(&d, "milan-v2-sev-report.bin"),
        "--certs-dir",
        dir,
        "--generation",
        "milan",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_line(&o).contains("offline"));
    // Neither --vcek nor --certs-dir: usage.
    let o = run(&["--report", &rep]);
    assert_eq!(o.status.code(), Some(2));
    // A CRL that is not AMD's: rejected (fail-closed).
    std::fs::write(t.join("crl.der"), [0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
    let crl = t.join("crl.der");
    let o = run(&[
        "--report",
        &rep,
        "--certs-dir",
        dir,
        "--crl",
        crl.to_str().unwrap(),
        "--time",
        "2026-11-22T00:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_line(&o).contains("crl: invalid"),
        "{}",
        stderr_line(&o)
    );
    std::fs::remove_dir_all(&t).unwrap();
}

/// Every input error names the flag, the file and what was expected; evidence JSON given as
/// `--report` points at `remits-verifier verify`.
#[test]
fn errors_name_the_flag_the_file_and_the_expectation() {
    let Some(d) = snp_dir() else { return };
    let t = std::env::temp_dir().join(format!("remits-snp-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&t).unwrap();
    let rep = p(&d, "milan-v2-sev-report.bin");
    let vcek = p(&d, "milan-v2-sev-vcek.der");

    let ev = p(&d, "genoa-v3-evidence.json");
    let o = run(&["--report", &ev, "--vcek", &vcek]);
    assert_eq!(o.status.code(), Some(2));
    let line = stderr_line(&o);
    assert!(
        line.contains(&format!("--report {ev}: this is JSON"))
            && line.contains("remits-verifier verify --tee snp --evidence"),
        "{line}"
    );

    // A text file that is no certificate: not "certificate certificate: malformed".
    let junk = t.join("vcek.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let junk_s = junk.to_str().unwrap();
    let o = run(&["--report", &rep, "--vcek", junk_s]);
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(
        line.contains(&format!("--vcek {junk_s}: not a certificate")),
        "{line}"
    );
    assert!(line.contains("expected the VCEK or VLEK"), "{line}");
    assert!(!line.contains("certificate certificate"), "{line}");

    // A DER blob that does not parse.
    let der = t.join("vcek.der");
    std::fs::write(&der, [0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
    let der_s = der.to_str().unwrap();
    let o = run(&["--report", &rep, "--vcek", der_s]);
    let line = stderr_line(&o);
    assert!(line.contains(&format!("--vcek {der_s}:")), "{line}");
    assert!(!line.contains("certificate certificate"), "{line}");

    // --chain that is not PEM, and an empty one.
    let o = run(&["--report", &rep, "--vcek", &vcek, "--chain", der_s]);
    let line = stderr_line(&o);
    assert!(line.contains(&format!("--chain {der_s}:")), "{line}");
    assert!(line.contains("expected a PEM bundle of the ASK"), "{line}");
    let o = run(&["--report", &rep, "--vcek", &vcek, "--chain", junk_s]);
    let line = stderr_line(&o);
    assert!(
        line.contains(&format!("--chain {junk_s}: no PEM certificate")),
        "{line}"
    );

    // --trust-ark with a non-certificate; a missing file names the flag too (exit 2).
    let o = run(&["--report", &rep, "--vcek", &vcek, "--trust-ark", junk_s]);
    let line = stderr_line(&o);
    assert!(
        line.contains(&format!("--trust-ark {junk_s}: not a certificate")),
        "{line}"
    );
    assert!(
        line.contains("expected an AMD root key certificate"),
        "{line}"
    );
    let missing = t.join("missing.bin");
    let o = run(&["--report", missing.to_str().unwrap(), "--vcek", &vcek]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr_line(&o).contains("--report "), "{:?}", o.stderr);

    // A report that is neither raw nor hex.
    let o = run(&["--report", junk_s, "--vcek", &vcek]);
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(
        line.contains(&format!("--report {junk_s}: neither")),
        "{line}"
    );
    assert!(
        line.contains("expected an SNP attestation report"),
        "{line}"
    );
    std::fs::remove_dir_all(&t).unwrap();
}
