//! `remits-verifier verify` end to end over the real vectors: affirming (exit 0), each kind of
//! denial (exit 1, with the failed check in the explanation) and usage errors (exit 2).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

const NOW: &str = "2026-11-01T00:00:00Z";

fn td() -> Option<PathBuf> {
    remits_testsupport::testdata::dir()
}

/// A scratch directory for this test process, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d =
            std::env::temp_dir().join(format!("remits-verify-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    fn write(&self, name: &str, v: &Value) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .arg("verify")
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn envelope(d: &Path, report: &str, leaf: &str, ty: &str) -> Value {
    let r = std::fs::read(d.join(report)).unwrap();
    let c = std::fs::read(d.join(leaf)).unwrap();
    json!({"report": b64(&r), "cert_chain": [{"cert_type": ty, "data": b64(&c)}]})
}

const MILAN_SEV_MEAS: &str = "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const MILAN_VLEK_MEAS: &str = "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0";

/// The hex REPORT_DATA of the SNP report inside an evidence file (either form).
fn own_report_data(evidence_file: &str) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(evidence_file).unwrap()).unwrap();
    let (report, _) = remits_verify::drivers::snp::parse_evidence(&v).unwrap();
    hex::encode(&report[0x50..0x90])
}

fn milan_rv(meas: &[&str]) -> Value {
    json!({
        "snp_launch_measurement": meas,
        "snp_min_tcb_milan": [{"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}],
    })
}

/// (name, args, exit code, text that must appear in stdout+stderr)
type Row = (&'static str, Vec<String>, i32, &'static str);

fn check(rows: Vec<Row>) {
    for (name, args, code, needle) in rows {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&a);
        let all = format!("{}{}", out(&o), err(&o));
        assert_eq!(o.status.code(), Some(code), "{name}: {all}");
        assert!(all.contains(needle), "{name}: {needle:?} not in {all}");
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn snp_affirm_and_each_denial() {
    let Some(t) = td() else { return };
    let d = t.join("snp");
    let tmp = Scratch::new("snp");
    let sev = tmp.write(
        "sev.json",
        &envelope(
            &d,
            "milan-v2-sev-report.bin",
            "milan-v2-sev-vcek.der",
            "VCEK",
        ),
    );
    let trustee = tmp.write(
        "trustee.json",
        &envelope(
            &d,
            "milan-v2-trustee-report.bin",
            "milan-v2-trustee-vcek.der",
            "VCEK",
        ),
    );
    let vlek = tmp.write(
        "vlek.json",
        &envelope(&d, "milan-v3-vlek-report.bin", "milan-vlek.der", "VLEK"),
    );
    let good = tmp.write("good.json", &milan_rv(&[MILAN_SEV_MEAS]));
    let wrong_meas = tmp.write("wrong.json", &milan_rv(&[MILAN_VLEK_MEAS]));
    let mut high = milan_rv(&[MILAN_SEV_MEAS]);
    high["snp_min_tcb_milan"] = json!([{"bootloader": 3, "tee": 0, "snp": 9, "microcode": 115}]);
    let high = tmp.write("high.json", &high);
    let vlek_rv = tmp.write("vlek-rv.json", &json!({"snp_launch_measurement": [MILAN_VLEK_MEAS], "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 217}]}));
    let mut signer = milan_rv(&[]);
    signer["snp_trusted_signer"] = json!(["00".repeat(48)]);
    let signer = tmp.write("signer.json", &signer);
    let trustee_meas = "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c";
    let trustee_rv = tmp.write("trustee-rv.json", &milan_rv(&[trustee_meas]));
    let genoa = t
        .join("snp/genoa-v3-evidence.json")
        .to_str()
        .unwrap()
        .to_owned();
    let genoa_rv = tmp.write("genoa-rv.json", &json!({"snp_launch_measurement": ["6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e"], "snp_min_tcb_genoa": [{"bootloader": 10, "tee": 0, "snp": 23, "microcode": 25}]}));
    let raw = |ev: &str, rv: &str| {
        s(&[
            "--tee",
            "snp",
            "--evidence",
            ev,
            "--reference-values",
            rv,
            "--time",
            NOW,
            "--explain",
        ])
    };
    // Bound to the report's own REPORT_DATA, as an operator who chose that nonce would be.
    let base = |ev: &str, rv: &str| {
        let mut v = raw(ev, rv);
        v.extend(s(&["--report-data", &own_report_data(ev)]));
        v
    };
    let with = |mut v: Vec<String>, extra: &[&str]| {
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    check(vec![
        (
            "affirming, bound to the report data",
            base(&sev, &good),
            0,
            "checked (--report-data)",
        ),
        (
            "no binding option: usage error",
            raw(&sev, &good),
            2,
            "--unbound",
        ),
        (
            "unbound: denied by the production policy",
            with(raw(&sev, &good), &["--unbound"]),
            1,
            "[FAIL] binding.report_data",
        ),
        (
            "trustee's evidence form (genoa)",
            base(&genoa, &genoa_rv),
            0,
            "status:  affirming",
        ),
        (
            "affirming with nonce",
            with(
                raw(&trustee, &trustee_rv),
                &[
                    "--report-data",
                    "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2",
                ],
            ),
            0,
            "checked (--report-data)",
        ),
        (
            "wrong measurement",
            base(&sev, &wrong_meas),
            1,
            "[FAIL] snp.identity",
        ),
        (
            "TCB below minimum",
            base(&sev, &high),
            1,
            "[FAIL] snp.tcb_snp",
        ),
        (
            "VMPL 1",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &vlek,
                "--reference-values",
                &vlek_rv,
                "--time",
                "2025-06-01T00:00:00Z",
                "--explain",
                "--report-data",
                &own_report_data(&vlek),
            ]),
            1,
            "[FAIL] snp.vmpl",
        ),
        (
            "untrusted signer",
            base(&trustee, &signer),
            1,
            "[FAIL] snp.identity",
        ),
        (
            "wrong nonce",
            with(raw(&trustee, &trustee_rv), &["--report-data", "00"]),
            1,
            "binding mismatch: report_data",
        ),
        ("expired VLEK", base(&vlek, &vlek_rv), 1, "VLEK"),
    ]);
}

#[test]
fn json_output_and_default_policy() {
    let Some(t) = td() else { return };
    let d = t.join("snp");
    let tmp = Scratch::new("json");
    let sev = tmp.write(
        "sev.json",
        &envelope(
            &d,
            "milan-v2-sev-report.bin",
            "milan-v2-sev-vcek.der",
            "VCEK",
        ),
    );
    let good = tmp.write("good.json", &milan_rv(&[MILAN_SEV_MEAS]));
    let rd = own_report_data(&sev);
    let o = run(&[
        "--tee",
        "snp",
        "--evidence",
        &sev,
        "--reference-values",
        &good,
        "--time",
        NOW,
        "--json",
        "--report-data",
        &rd,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let j: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(j["status"], "affirming");
    assert_eq!(j["report_data_checked"], true);
    assert_eq!(j["binding"], "checked (--report-data)");
    assert_eq!(j["explanation"]["policy_id"], "default");
    assert_eq!(
        j["annotated_evidence"]["snp"]["measurement"],
        MILAN_SEV_MEAS
    );
    assert_eq!(j["token"].as_str().unwrap().split('.').count(), 3);
    // No reference values at all: the production default denies and says why.
    let o = run(&[
        "--tee",
        "snp",
        "--evidence",
        &sev,
        "--time",
        NOW,
        "--json",
        "--report-data",
        &rd,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let j: Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(j["status"], "contraindicated");
    assert!(
        j["summary"].as_str().unwrap().contains("snp.identity"),
        "{j}"
    );
    // A policy file replaces the default.
    let pol = tmp.0.join("allow.rego");
    std::fs::write(
        &pol,
        "package policy\nimport rego.v1\ntrust_claims := {\"hardware\": 2}\n",
    )
    .unwrap();
    let o = run(&[
        "--tee",
        "snp",
        "--evidence",
        &sev,
        "--time",
        NOW,
        "--policy",
        pol.to_str().unwrap(),
        "--unbound",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

#[test]
fn az_snp_vtpm_and_tpm() {
    let Some(t) = td() else { return };
    let tmp = Scratch::new("az");
    let exp: Value =
        serde_json::from_slice(&std::fs::read(t.join("az-snp-vtpm/expected.json")).unwrap())
            .unwrap();
    let e = &exp["evidence-v2.json"];
    let meas = b64(&hex::decode(e["snp_report"]["measurement"].as_str().unwrap()).unwrap());
    let rv = json!({"measurement": [meas], "snp_pcr11": [e["pcrs_sha256"]["11"]],
        "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219}]});
    let good = tmp.write("az-rv.json", &rv);
    let mut high = rv.clone();
    high["snp_min_tcb_milan"] = json!([{"bootloader": 5, "tee": 0, "snp": 24, "microcode": 219}]);
    let high = tmp.write("az-high.json", &high);
    let ev = t
        .join("az-snp-vtpm/evidence-v2.json")
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = e["nonce_hex"].as_str().unwrap().to_owned();
    // trustee's tpm form from the real Azure vTPM quote files.
    let pem = std::fs::read_to_string(t.join("tpm/azure-snp-vtpm-akpub.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let sig = std::fs::read(t.join("tpm/azure-snp-vtpm-quote.sig")).unwrap();
    let mut tpmt = vec![0x00, 0x14, 0x00, 0x0b, 0x01, 0x00];
    tpmt.extend(sig);
    let pcrs: Value = serde_json::from_slice(
        &std::fs::read(t.join("tpm/azure-snp-vtpm-quote-pcrs.json")).unwrap(),
    )
    .unwrap();
    let list: Vec<Value> = (0..24)
        .map(|i| pcrs["sha256"][i.to_string()].clone())
        .collect();
    let tpm_ev = tmp.write("tpm.json", &json!({"ak_public": body, "tpm_quote": {
        "signature": b64(&tpmt), "message": b64(&std::fs::read(t.join("tpm/azure-snp-vtpm-quote.msg")).unwrap()), "pcrs": list}}));
    let tpm_rv = tmp.write(
        "tpm-rv.json",
        &json!({"trusted_aks": [body], "tpm_pcr11": [pcrs["sha256"]["11"]]}),
    );
    let tpm_no_ak = tmp.write(
        "tpm-no-ak.json",
        &json!({"tpm_pcr11": [pcrs["sha256"]["11"]]}),
    );
    let az = |rv: &str, rd: &str| {
        s(&[
            "--tee",
            "az-snp-vtpm",
            "--evidence",
            &ev,
            "--reference-values",
            rv,
            "--report-data",
            rd,
            "--time",
            NOW,
            "--explain",
        ])
    };
    let tpm = |rv: &str, rd: &str| {
        s(&[
            "--tee",
            "tpm",
            "--evidence",
            &tpm_ev,
            "--reference-values",
            rv,
            "--report-data",
            rd,
            "--time",
            NOW,
            "--explain",
        ])
    };
    check(vec![
        ("az affirming", az(&good, &nonce), 0, "status:  affirming"),
        (
            "az TCB",
            az(&high, &nonce),
            1,
            "[FAIL] az-snp-vtpm.tcb_bootloader",
        ),
        (
            "az wrong nonce",
            az(&good, "6368616c6c656e6765"),
            1,
            "binding mismatch: report_data",
        ),
        (
            "tpm affirming",
            tpm(&tpm_rv, "6368616c6c656e6765"),
            0,
            "[ok  ] tpm.ak",
        ),
        (
            "tpm untrusted AK",
            tpm(&tpm_no_ak, "6368616c6c656e6765"),
            1,
            "trusted_aks",
        ),
        (
            "tpm untrusted AK let through to the policy",
            {
                let mut v = tpm(&tpm_no_ak, "6368616c6c656e6765");
                v.push("--allow-untrusted-ak".into());
                v
            },
            1,
            "[FAIL] tpm.ak",
        ),
        (
            "tpm wrong nonce",
            tpm(&tpm_rv, "00"),
            1,
            "binding mismatch: report_data",
        ),
    ]);
}

/// The sample TEE: refused unless enabled; the KBS runtime-data binding (kbs.md worked vector).
#[test]
fn sample_and_runtime_data() {
    let tmp = Scratch::new("sample");
    let digest = hex::decode("bc18735746472713c97d2b881e0a178e1b09bb652fd2a3d5e7945e756c7f14496d7cc1a29bf74a6b3bfe248691e5f3b4").unwrap();
    let ev = tmp.write(
        "sample.json",
        &json!({"svn": "1", "report_data": b64(&digest)}),
    );
    let rd = tmp.write(
        "rd.json",
        &json!({"nonce": b64(&[0u8; 32]), "additional-evidence": "",
        "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}}),
    );
    let rd2 = tmp.write(
        "rd2.json",
        &json!({"nonce": b64(&[1u8; 32]), "additional-evidence": "",
        "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
            "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}}),
    );
    check(vec![
        (
            "sample refused by default",
            s(&["--tee", "sample", "--evidence", &ev, "--unbound"]),
            1,
            "not enabled",
        ),
        (
            "sample refused by production",
            s(&[
                "--tee",
                "sample",
                "--evidence",
                &ev,
                "--allow-sample",
                "--explain",
                "--unbound",
            ]),
            1,
            "[FAIL] sample.refused",
        ),
        (
            "sample + development + runtime data",
            s(&[
                "--tee",
                "sample",
                "--evidence",
                &ev,
                "--allow-sample",
                "--policy",
                "development",
                "--runtime-data",
                &rd,
            ]),
            0,
            "checked (runtime data)",
        ),
        (
            "other nonce does not bind",
            s(&[
                "--tee",
                "sample",
                "--evidence",
                &ev,
                "--allow-sample",
                "--policy",
                "development",
                "--runtime-data",
                &rd2,
            ]),
            1,
            "binding mismatch",
        ),
    ]);
}

#[test]
fn usage_errors_exit_2() {
    let tmp = Scratch::new("usage");
    let ev = tmp.write("ev.json", &json!({"svn": "1"}));
    let notjson = tmp.0.join("bad.json");
    std::fs::write(&notjson, b"{not json").unwrap();
    let nj = notjson.to_str().unwrap();
    // A --trust-ark that is no certificate: the flag and the file are named.
    let o = run(&[
        "--tee",
        "snp",
        "--evidence",
        &ev,
        "--unbound",
        "--trust-ark",
        nj,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    assert!(
        e.contains(&format!("--trust-ark {nj}: not a certificate")),
        "{e}"
    );
    assert!(e.contains("expected an AMD root key certificate"), "{e}");
    check(vec![
        ("no --tee", s(&["--evidence", &ev]), 2, "--tee"),
        (
            "unknown tee",
            s(&["--tee", "tdx", "--evidence", &ev]),
            2,
            "tdx",
        ),
        (
            "missing file",
            s(&["--tee", "snp", "--evidence", "/nonexistent/ev.json"]),
            2,
            "/nonexistent/ev.json",
        ),
        (
            "evidence not JSON",
            s(&["--tee", "snp", "--evidence", nj]),
            2,
            "not JSON",
        ),
        (
            "bad hex",
            s(&["--tee", "snp", "--evidence", &ev, "--report-data", "zz"]),
            2,
            "--report-data",
        ),
        (
            "report data too long",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--report-data",
                &"00".repeat(65),
            ]),
            2,
            "65 bytes",
        ),
        (
            "runtime data that is not runtime data",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--report-data",
                "00",
                "--runtime-data",
                &ev,
            ]),
            2,
            "--runtime-data",
        ),
        (
            "unbound and a binding",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--report-data",
                "00",
                "--unbound",
            ]),
            2,
            "cannot be used with",
        ),
        (
            "no binding",
            s(&["--tee", "snp", "--evidence", &ev]),
            2,
            "--unbound",
        ),
        (
            "bad time",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--time",
                "yesterday",
                "--unbound",
            ]),
            2,
            "--time",
        ),
        (
            "bad policy",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--policy",
                nj,
                "--unbound",
            ]),
            2,
            "policy",
        ),
        (
            "bad reference values",
            s(&[
                "--tee",
                "snp",
                "--evidence",
                &ev,
                "--reference-values",
                nj,
                "--unbound",
            ]),
            2,
            "reference values",
        ),
    ]);
}

// ------------------------------------------------------------------------------------ serve

/// A `remits-verifier serve` child on loopback, killed on drop.
struct Server {
    child: std::process::Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(config: &str, extra: &[&str]) -> Server {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config", config])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    Server { child, addr }
}

/// One HTTP/1.1 request over loopback; returns (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading a large body; ignore a reset while sending.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let split = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(text.len());
    let mut body = resp[split..].to_vec();
    if text[..split]
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

#[test]
fn serve_posts_real_evidence_and_returns_a_verifiable_token() {
    let Some(t) = td() else { return };
    let tmp = Scratch::new("serve");
    let exp: Value =
        serde_json::from_slice(&std::fs::read(t.join("az-snp-vtpm/expected.json")).unwrap())
            .unwrap();
    let e = &exp["evidence-v2.json"];
    let meas = b64(&hex::decode(e["snp_report"]["measurement"].as_str().unwrap()).unwrap());
    let rv = tmp.write(
        "rv.json",
        &json!({"measurement": [meas], "snp_pcr11": [e["pcrs_sha256"]["11"]],
        "snp_min_tcb_milan": [{"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219}]}),
    );
    let cfg = tmp.0.join("verifier.toml");
    std::fs::write(
        &cfg,
        format!(
            "issuer = \"test-verifier\"\nreference_values = [{:?}]\n",
            rv
        ),
    )
    .unwrap();
    let server = start_server(cfg.to_str().unwrap(), &["--max-body-bytes", "262144"]);
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(t.join("az-snp-vtpm/evidence-v2.json")).unwrap())
            .unwrap();
    let nonce = e["nonce_hex"].as_str().unwrap();

    let (code, body) = http(&server.addr, "GET", "/.well-known/jwks.json", b"");
    assert_eq!(code, 200);
    let jwks: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(jwks["issuer"], "test-verifier");
    let key = remits_verify::token::verifying_key_from_jwk(&jwks["keys"][0]).unwrap();
    let verifier = remits_verify::token::TokenVerifier::new(key, "test-verifier");

    // Affirming: the token verifies under the published key and says affirming.
    let req = json!({"tee": "az-snp-vtpm", "evidence": evidence, "report_data": nonce});
    let (code, body) = http(
        &server.addr,
        "POST",
        "/attestation",
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let r: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(r["status"], "affirming");
    assert_eq!(r["report_data_checked"], true);
    let claims = verifier
        .verify(r["token"].as_str().unwrap(), std::time::SystemTime::now())
        .unwrap();
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    assert_eq!(
        claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["report_data"],
        nonce
    );
    // A token from elsewhere (different issuer pin) does not verify.
    let other = remits_verify::token::TokenVerifier::new(key, "someone-else");
    assert!(other
        .verify(r["token"].as_str().unwrap(), std::time::SystemTime::now())
        .is_err());

    // trustee passes evidence as a base64url string: same result.
    use base64::Engine as _;
    let as_string = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&evidence).unwrap());
    let req = json!({"tee": "az-snp-vtpm", "evidence": as_string, "report_data": nonce});
    let (code, _) = http(
        &server.addr,
        "POST",
        "/attestation",
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 200);

    // Wrong nonce: refused with the reason, no token.
    let req =
        json!({"tee": "az-snp-vtpm", "evidence": evidence, "report_data": "6368616c6c656e6765"});
    let (code, body) = http(
        &server.addr,
        "POST",
        "/attestation",
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 403);
    let r: Value = serde_json::from_slice(&body).unwrap();
    assert!(r["error"].as_str().unwrap().contains("report_data"), "{r}");
    assert!(r.get("token").is_none());

    // Sample is refused (not enabled in the config); malformed requests are 400s.
    let req = json!({"tee": "sample", "evidence": {"svn": "1"}, "unchecked_binding": true});
    let (code, _) = http(
        &server.addr,
        "POST",
        "/attestation",
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 403);
    let (code, _) = http(&server.addr, "POST", "/attestation", b"{\"tee\": 1}");
    assert!((400..500).contains(&code), "{code}");
    let (code, _) = http(&server.addr, "POST", "/attestation", b"not json");
    assert!((400..500).contains(&code), "{code}");
    let req = json!({"tee": "nope", "evidence": {}});
    let (code, _) = http(
        &server.addr,
        "POST",
        "/attestation",
        &serde_json::to_vec(&req).unwrap(),
    );
    assert_eq!(code, 400);

    // Bodies over the limit are refused before parsing.
    let big = format!(
        "{{\"tee\":\"snp\",\"evidence\":\"{}\"}}",
        "A".repeat(300_000)
    );
    let (code, _) = http(&server.addr, "POST", "/attestation", big.as_bytes());
    assert_eq!(code, 413);

    // Still serving after all that.
    let (code, body) = http(&server.addr, "GET", "/health", b"");
    assert_eq!((code, body.as_slice()), (200, b"ok".as_slice()));
}

/// Finding 1 of the trust-core review: runtime data (naming the caller's own key) together
/// with a public report's own REPORT_DATA used to yield an affirming token naming that key,
/// `report_data_checked: true`. Now: both given must agree (else 400); runtime data alone
/// must be in the report (else 403); an unchecked binding is spelled out, carries no key and
/// is denied by the production policy.
#[test]
fn serve_never_signs_an_unbound_key() {
    let Some(t) = td() else { return };
    let tmp = Scratch::new("servebind");
    let rv = tmp.write(
        "rv.json",
        &milan_rv(&["7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"]),
    );
    let cfg = tmp.0.join("verifier.toml");
    std::fs::write(&cfg, format!("reference_values = [{rv:?}]\n")).unwrap();
    let server = start_server(cfg.to_str().unwrap(), &[]);
    let evidence = envelope(
        &t,
        "snp/milan-v2-sev-report.bin",
        "snp/milan-v2-sev-vcek.der",
        "VCEK",
    );
    let report = std::fs::read(t.join("snp/milan-v2-sev-report.bin")).unwrap();
    let own_rd = hex::encode(&report[0x50..0x90]);
    let attacker_key = json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
        "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
        "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"});
    let runtime_data = json!({"nonce": "AAAA", "tee-pubkey": attacker_key,
        "additional-evidence": ""});
    let post = |req: Value| {
        let (code, body) = http(
            &server.addr,
            "POST",
            "/attestation",
            &serde_json::to_vec(&req).unwrap(),
        );
        (
            code,
            serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
        )
    };

    // Both, disagreeing: refused before anything is verified or signed.
    let (code, r) = post(json!({"tee": "snp", "evidence": evidence,
        "runtime_data": runtime_data, "report_data": own_rd}));
    assert_eq!(code, 400, "{r}");
    assert!(r.get("token").is_none());
    assert!(r["error"].as_str().unwrap().contains("runtime data"), "{r}");

    // Runtime data alone with the replayed report: the report does not carry its digest.
    let (code, r) = post(json!({"tee": "snp", "evidence": evidence,
        "runtime_data": runtime_data}));
    assert_eq!(code, 403, "{r}");
    assert_eq!(r["check"], "binding.report_data", "{r}");
    assert!(r.get("token").is_none());

    // The report's own REPORT_DATA alone: affirming, and the token names no key.
    let (code, r) = post(json!({"tee": "snp", "evidence": evidence, "report_data": own_rd}));
    assert_eq!(code, 200, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["binding"].as_str()),
        (Some("affirming"), Some("report-data"))
    );
    let token = r["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(remits_verify::token::tee_pubkey(&claims), None);
    let ae = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(ae["runtime_data_claims"], Value::Null);
    assert_eq!(ae["remits_binding"]["kind"], "report-data");

    // No binding at all: a request error unless asked for; asked for, the production policy
    // denies it and says why.
    let (code, _) = post(json!({"tee": "snp", "evidence": evidence}));
    assert_eq!(code, 400);
    let (code, r) = post(json!({"tee": "snp", "evidence": evidence, "unchecked_binding": true}));
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["binding"], "unchecked");
    assert_ne!(r["status"], "affirming");
    assert!(
        r["explanation"].to_string().contains("binding.report_data"),
        "{r}"
    );
}

#[test]
fn serve_bad_config_is_a_usage_error() {
    let tmp = Scratch::new("servecfg");
    let cfg = tmp.0.join("bad.toml");
    std::fs::write(&cfg, "surprise = 1\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_remits-verifier"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("surprise"), "{}", err(&o));
}
