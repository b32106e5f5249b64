//! `remits-verifier tpm-quote | az-snp-vtpm | eventlog` end to end on the real vectors:
//! exit codes 0/1/2, one stderr line on failure, JSON output.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHALLENGE_HEX: &str = "6368616c6c656e6765"; // "challenge"
const V2_NONCE: &str = "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef";
const TIME: &str = "2026-11-01T00:00:00Z";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .args(args)
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 1 with exactly one stderr line that contains `needle`.
fn assert_rejected(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(code(o), 1, "expected rejection, stderr {e:?}");
    assert_eq!(e.trim_end().lines().count(), 1, "one stderr line: {e:?}");
    assert!(e.contains("rejected"), "{e}");
    assert!(e.contains(needle), "{needle:?} not in {e:?}");
    assert!(o.stdout.is_empty(), "nothing on stdout when rejected");
}

fn assert_usage(o: &Output) {
    assert_eq!(code(o), 2, "expected usage error, stderr {:?}", stderr(o));
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "stderr {:?}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "remits-tpm-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let f = self.0.join(name);
        std::fs::write(&f, bytes).unwrap();
        f
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct AzureQuote {
    msg: PathBuf,
    sig: PathBuf,
    ak: PathBuf,
    pcrs: PathBuf,
}

fn azure_quote() -> Option<AzureQuote> {
    let d = remits_testsupport::testdata::dir()?.join("tpm");
    Some(AzureQuote {
        msg: d.join("azure-snp-vtpm-quote.msg"),
        sig: d.join("azure-snp-vtpm-quote.sig"),
        ak: d.join("azure-snp-vtpm-akpub.pem"),
        pcrs: d.join("azure-snp-vtpm-quote-pcrs.json"),
    })
}

fn quote_args<'a>(q: &'a AzureQuote, msg: &'a Path, pcrs: &'a Path) -> Vec<&'a str> {
    vec![
        "tpm-quote",
        "--attest",
        p(msg),
        "--signature",
        p(&q.sig),
        "--ak",
        p(&q.ak),
        "--pcrs",
        p(pcrs),
    ]
}

#[test]
fn tpm_quote_real_azure_quote() {
    let Some(q) = azure_quote() else { return };
    // JSON PCRs, nonce checked.
    let mut a = quote_args(&q, &q.msg, &q.pcrs);
    a.extend(["--nonce", CHALLENGE_HEX, "--json"]);
    let j = json(&run(&a));
    assert_eq!(j["quote"]["extra_data"], CHALLENGE_HEX);
    assert_eq!(
        j["quote"]["pcr_digest"],
        "0daff74c2fca14910b1e9b54a384707434c3365db9f163cc73a39a9f7500833f"
    );
    assert_eq!(j["nonce_checked"], true);
    assert_eq!(j["signature"], "rsassa-sha256");
    assert_eq!(j["pcrs"]["sha256"].as_object().unwrap().len(), 24);
    assert_eq!(
        j["quote"]["pcr_select"]["sha256"].as_array().unwrap().len(),
        24
    );

    // Text output; no nonce means the output says freshness was not checked.
    let o = run(&quote_args(&q, &q.msg, &q.pcrs));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("verified: TPM quote"), "{out}");
    assert!(out.contains("nonce NOT checked"), "{out}");

    // The same values in tpm2-tools' `values` format (digests concatenated in selection order).
    let s = Scratch::new("values");
    let pj: serde_json::Value = serde_json::from_slice(&std::fs::read(&q.pcrs).unwrap()).unwrap();
    let mut values = Vec::new();
    for i in 0..24 {
        values.extend(hex::decode(pj["sha256"][i.to_string()].as_str().unwrap()).unwrap());
    }
    let vf = s.write("quote.pcrs", &values);
    let mut a = quote_args(&q, &q.msg, &vf);
    a.extend(["--report-data", CHALLENGE_HEX]);
    assert_eq!(code(&run(&a)), 0);
    // The TPM2B_ATTEST form (u16 size prefix) is accepted too.
    let msg = std::fs::read(&q.msg).unwrap();
    let mut prefixed = (msg.len() as u16).to_be_bytes().to_vec();
    prefixed.extend(&msg);
    let pf = s.write("quote.tpm2b", &prefixed);
    let mut a = quote_args(&q, &pf, &q.pcrs);
    a.extend(["--nonce", CHALLENGE_HEX]);
    assert_eq!(code(&run(&a)), 0);
}

#[test]
fn tpm_quote_rejections_and_usage() {
    let Some(q) = azure_quote() else { return };
    let s = Scratch::new("reject");
    // Wrong nonce.
    let mut a = quote_args(&q, &q.msg, &q.pcrs);
    a.extend(["--report-data", "6368616c6c656e6766"]);
    assert_rejected(&run(&a), "nonce");
    // Tampered quote (clock byte).
    let mut msg = std::fs::read(&q.msg).unwrap();
    msg[60] ^= 1;
    let mf = s.write("tampered.msg", &msg);
    let mut a = quote_args(&q, &mf, &q.pcrs);
    a.extend(["--nonce", CHALLENGE_HEX]);
    assert_rejected(&run(&a), "signature");
    // A changed PCR value.
    let mut pj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&q.pcrs).unwrap()).unwrap();
    pj["sha256"]["7"] = serde_json::json!("00".repeat(32));
    let pf = s.write("changed.json", pj.to_string().as_bytes());
    let mut a = quote_args(&q, &q.msg, &pf);
    a.extend(["--nonce", CHALLENGE_HEX]);
    assert_rejected(&run(&a), "PCR digest");
    // Relabelled selection: PCR values shifted down by one index.
    let orig: serde_json::Value = serde_json::from_slice(&std::fs::read(&q.pcrs).unwrap()).unwrap();
    let mut shifted = serde_json::Map::new();
    for i in 1..24 {
        shifted.insert((i - 1).to_string(), orig["sha256"][i.to_string()].clone());
    }
    let sf = s.write(
        "shifted.json",
        serde_json::json!({ "sha256": shifted })
            .to_string()
            .as_bytes(),
    );
    let mut a = quote_args(&q, &q.msg, &sf);
    a.extend(["--nonce", CHALLENGE_HEX]);
    assert_rejected(&run(&a), "PCR selection");
    // Truncated `values` file.
    let vf = s.write("short.pcrs", &[0u8; 100]);
    assert_rejected(&run(&quote_args(&q, &q.msg, &vf)), "PCR file");
    // A key that is not the signer.
    let other = s.write(
        "other.pem",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    let mut a = quote_args(&q, &q.msg, &q.pcrs);
    a[6] = p(&other);
    assert_rejected(&run(&a), "attestation key");
    // The message names the flag and the file.
    assert_rejected(&run(&a), &format!("--ak {}: ", p(&other)));
    // Usage: unreadable file, bad hex, missing argument.
    let missing = s.0.join("missing.msg");
    assert_usage(&run(&quote_args(&q, &missing, &q.pcrs)));
    let mut a = quote_args(&q, &q.msg, &q.pcrs);
    a.extend(["--nonce", "zz"]);
    assert_usage(&run(&a));
    assert_usage(&run(&["tpm-quote", "--attest", p(&q.msg)]));
}

fn az_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("az-snp-vtpm"))
}

#[test]
fn az_snp_vtpm_real_evidence() {
    let Some(d) = az_dir() else { return };
    for (file, nonce, pcr0, version) in [
        (
            "evidence-v0.json",
            CHALLENGE_HEX,
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
            0,
        ),
        (
            "evidence-v1.json",
            CHALLENGE_HEX,
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
            1,
        ),
        (
            "evidence-v2.json",
            V2_NONCE,
            "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7",
            2,
        ),
    ] {
        let f = d.join(file);
        let j = json(&run(&[
            "az-snp-vtpm",
            "--evidence",
            p(&f),
            "--nonce",
            nonce,
            "--time",
            TIME,
            "--json",
        ]));
        assert_eq!(j["evidence_version"], version, "{file}");
        assert_eq!(j["report_data"], nonce, "{file}");
        assert_eq!(j["snp"]["vmpl"], 0, "{file}");
        assert_eq!(j["tpm"]["pcrs"]["sha256"]["0"], pcr0, "{file}");
        assert_eq!(j["tpm"]["nonce_checked"], true, "{file}");
        assert!(j["runtime_claims"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == "HCLAkPub"));

        let o = run(&[
            "az-snp-vtpm",
            "--evidence",
            p(&f),
            "--nonce",
            nonce,
            "--time",
            TIME,
        ]);
        assert_eq!(code(&o), 0, "{file}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("verified: Azure SNP vTPM"));
        // Any other nonce is rejected.
        let o = run(&[
            "az-snp-vtpm",
            "--evidence",
            p(&f),
            "--nonce",
            "123abc",
            "--time",
            TIME,
        ]);
        assert_rejected(&o, "nonce");
    }
}

#[test]
fn az_snp_vtpm_rejections_and_usage() {
    let Some(d) = az_dir() else { return };
    let s = Scratch::new("az");
    let v1: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("evidence-v1.json")).unwrap()).unwrap();
    let args = |f: &Path| -> Output {
        run(&[
            "az-snp-vtpm",
            "--evidence",
            p(f),
            "--nonce",
            CHALLENGE_HEX,
            "--time",
            TIME,
        ])
    };
    // Tampered quote message (one hex digit of the clock).
    let mut m = v1.clone();
    let mut msg = m["tpm_quote"]["message"].as_str().unwrap().to_owned();
    let flipped = if &msg[120..121] == "0" { "1" } else { "0" };
    msg.replace_range(120..121, flipped);
    m["tpm_quote"]["message"] = msg.into();
    assert_rejected(
        &args(&s.write("msg.json", m.to_string().as_bytes())),
        "signature",
    );
    // A changed PCR.
    let mut m = v1.clone();
    m["tpm_quote"]["pcrs"][8] = serde_json::json!("11".repeat(32));
    assert_rejected(
        &args(&s.write("pcr.json", m.to_string().as_bytes())),
        "PCR digest",
    );
    // V1 evidence claimed as V2: the HCL user-data does not start with the nonce.
    let mut m = v1.clone();
    m["version"] = 2.into();
    assert_rejected(
        &args(&s.write("v2.json", m.to_string().as_bytes())),
        "user-data",
    );
    // An unknown evidence version and malformed JSON.
    let mut m = v1.clone();
    m["version"] = 7.into();
    assert_rejected(
        &args(&s.write("v7.json", m.to_string().as_bytes())),
        "version",
    );
    assert_rejected(&args(&s.write("bad.json", b"{not json")), "evidence");
    // After the VCEK expired.
    let f = d.join("evidence-v1.json");
    let o = run(&[
        "az-snp-vtpm",
        "--evidence",
        p(&f),
        "--nonce",
        CHALLENGE_HEX,
        "--time",
        "2035-01-01T00:00:00Z",
    ]);
    assert_rejected(&o, "SNP report");
    // Usage errors.
    assert_usage(&run(&[
        "az-snp-vtpm",
        "--evidence",
        p(&f),
        "--time",
        "yesterday",
    ]));
    assert_usage(&run(&[
        "az-snp-vtpm",
        "--evidence",
        p(&s.0.join("none.json")),
    ]));
    assert_usage(&run(&["az-snp-vtpm"]));
}

fn eventlogs() -> Option<Vec<(PathBuf, PathBuf)>> {
    let d = remits_testsupport::testdata::dir()?.join("tpm/eventlog");
    let mut v: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| (p.clone(), p.with_extension("pcrs.json")))
        .collect();
    v.sort();
    assert_eq!(v.len(), 12);
    Some(v)
}

#[test]
fn eventlog_replays_every_real_log() {
    let Some(logs) = eventlogs() else { return };
    for (log, expected) in &logs {
        let j = json(&run(&["eventlog", "--log", p(log), "--json"]));
        let exp: serde_json::Value =
            serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
        let mut n = 0;
        for (bank, pcrs) in exp.as_object().unwrap() {
            for (i, v) in pcrs.as_object().unwrap() {
                let got = j[bank][i]
                    .as_str()
                    .unwrap_or_else(|| panic!("{log:?} {bank} {i}"));
                assert_eq!(
                    got,
                    v.as_str().unwrap().to_lowercase(),
                    "{log:?} {bank} PCR{i}"
                );
                assert_eq!(got, got.to_lowercase());
                n += 1;
            }
        }
        assert!(n >= 8);
        // Compared with the expected (quoted) values: exit 0.
        let o = run(&["eventlog", "--log", p(log), "--pcrs", p(expected)]);
        assert_eq!(code(&o), 0, "{log:?}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("matches every quoted PCR"));
    }
}

#[test]
fn eventlog_mismatch_names_pcr_and_event() {
    let Some(logs) = eventlogs() else { return };
    let (log, expected) = logs
        .iter()
        .find(|l| l.0.ends_with("ubuntu-2104-no-dbx.bin"))
        .unwrap();
    let s = Scratch::new("ev");
    let mut exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
    exp["sha256"]["4"] = serde_json::json!("ab".repeat(32));
    let f = s.write("pcrs.json", exp.to_string().as_bytes());
    let o = run(&["eventlog", "--log", p(log), "--pcrs", p(&f)]);
    assert_rejected(&o, "sha256 PCR4");
    assert!(stderr(&o).contains("last is event #"), "{}", stderr(&o));
    // A quoted PCR the log never extends must hold its reset value.
    let mut exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
    exp["sha256"]["11"] = serde_json::json!("01".repeat(32));
    let f = s.write("pcrs11.json", exp.to_string().as_bytes());
    assert_rejected(
        &run(&["eventlog", "--log", p(log), "--pcrs", p(&f)]),
        "PCR11",
    );
    // tpm2_pcrread text is accepted as the quoted values.
    let exp: serde_json::Value = serde_json::from_slice(&std::fs::read(expected).unwrap()).unwrap();
    let mut text = String::from("  sha256:\n");
    for (i, v) in exp["sha256"].as_object().unwrap() {
        text.push_str(&format!(
            "    {i:<2}: 0x{}\n",
            v.as_str().unwrap().to_uppercase()
        ));
    }
    let f = s.write("pcrread.txt", text.as_bytes());
    let o = run(&["eventlog", "--log", p(log), "--pcrs", p(&f)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Truncated and corrupted logs are rejected, never a crash.
    let bytes = std::fs::read(log).unwrap();
    for n in [10, 33, 100, bytes.len() / 2, bytes.len() - 1] {
        let f = s.write("trunc.bin", &bytes[..n]);
        let o = run(&["eventlog", "--log", p(&f)]);
        assert_rejected(&o, "event log");
    }
    // Usage.
    assert_usage(&run(&["eventlog", "--log", p(&s.0.join("none.bin"))]));
}

/// A swtpm on free loopback ports, killed on drop (see crates/tpm/tests/swtpm.rs for the full
/// scenarios; this one checks the command line on tpm2-tools' own output files).
struct Swtpm {
    tpm: remits_testsupport::swtpm::Swtpm,
    dir: Scratch,
}

impl Swtpm {
    fn start() -> Option<Swtpm> {
        if !remits_testsupport::swtpm::tools_or_skip(&["swtpm", "tpm2_quote"]) {
            return None;
        }
        let dir = Scratch::new("swtpm");
        let tpm = remits_testsupport::swtpm::Swtpm::start(&dir.0.join("state"));
        Some(Swtpm { tpm, dir })
    }

    fn tool(&self, args: &[&str]) {
        let o = self.tpm.run(&self.dir.0, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn tpm_quote_on_tpm2_tools_files() {
    let Some(t) = Swtpm::start() else { return };
    t.tool(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
    t.tool(&["tpm2_flushcontext", "-t"]);
    t.tool(&[
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
        "ak.tpm2b",
        "-f",
        "tss",
        "-n",
        "ak.name",
        "-r",
        "ak.priv",
    ]);
    t.tool(&["tpm2_flushcontext", "-t"]);
    t.tool(&["tpm2_flushcontext", "-s"]);
    let pem = t.dir.0.join("ak.pem");
    t.tool(&[
        "tpm2_readpublic",
        "-c",
        "ak.ctx",
        "-f",
        "pem",
        "-o",
        p(&pem),
    ]);
    t.tool(&["tpm2_flushcontext", "-t"]);
    t.tool(&["tpm2_pcrextend", &format!("16:sha256={}", "ab".repeat(32))]);
    let sel = "sha1:0,1,2+sha256:0,1,16";
    // tpm2_quote -o in its default format (serialized, tpm2-tools 5.4) and in `values`.
    t.tool(&[
        "tpm2_quote",
        "-c",
        "ak.ctx",
        "-l",
        sel,
        "-q",
        "0011223344556677",
        "-m",
        "q.msg",
        "-s",
        "q.sig",
        "-o",
        "q.pcrs",
        "-g",
        "sha256",
    ]);
    t.tool(&["tpm2_flushcontext", "-t"]);
    t.tool(&[
        "tpm2_quote",
        "-c",
        "ak.ctx",
        "-l",
        sel,
        "-q",
        "0011223344556677",
        "-m",
        "v.msg",
        "-s",
        "v.sig",
        "-o",
        "v.pcrs",
        "-F",
        "values",
        "-g",
        "sha256",
    ]);
    t.tool(&["tpm2_flushcontext", "-t"]);
    let f = |n: &str| t.dir.0.join(n);
    for (m, s, pc) in [("q.msg", "q.sig", "q.pcrs"), ("v.msg", "v.sig", "v.pcrs")] {
        for ak in ["ak.tpm2b", "ak.pem"] {
            let (mf, sf, af, pf) = (f(m), f(s), f(ak), f(pc));
            let args = [
                "tpm-quote",
                "--attest",
                p(&mf),
                "--signature",
                p(&sf),
                "--ak",
                p(&af),
                "--pcrs",
                p(&pf),
            ];
            let mut a = args.to_vec();
            a.extend(["--nonce", "0011223344556677", "--json"]);
            let j = json(&run(&a));
            assert_eq!(j["signature"], "ecdsa-sha256");
            assert_eq!(j["pcrs"]["sha256"]["16"].as_str().unwrap().len(), 64);
            assert_eq!(
                j["quote"]["pcr_select"]["sha1"],
                serde_json::json!([0, 1, 2])
            );
            let mut a = args.to_vec();
            a.extend(["--nonce", "0011223344556678"]);
            assert_rejected(&run(&a), "nonce");
        }
    }
    // The EK (a decrypt key) is refused as an attestation key.
    let (mf, sf, ef, pf) = (f("v.msg"), f("v.sig"), f("ek.pub"), f("v.pcrs"));
    let o = run(&[
        "tpm-quote",
        "--attest",
        p(&mf),
        "--signature",
        p(&sf),
        "--ak",
        p(&ef),
        "--pcrs",
        p(&pf),
    ]);
    assert_rejected(&o, "AK attributes");
}
