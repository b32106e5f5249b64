//! Observability of the real `remits-verifier` binary: `serve` exposes request histograms and
//! process metrics and writes JSON access logs with the client address; a closed stdout ends a
//! command quietly; a secret file given as a policy, configuration or reference-value file is
//! never echoed.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_remits-verifier");
const SECRET: &str = "S3CRET-do-not-echo-91c2aa";

fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The sample value of `series` (exact text before the space).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn serve_metrics_and_json_access_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("verifier.toml");
    std::fs::write(&cfg, "allow_sample = true\n").unwrap();
    let log = tmp.path().join("verifier.log");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--config")
        .arg(&cfg)
        .env_remove("RUST_LOG")
        .env_remove("REMITS_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    for _ in 0..2 {
        assert_eq!(http(&addr, "GET", "/health", b"").0, 200);
    }
    let req = json!({"tee": "sample", "evidence": {"svn": "1"}, "unchecked_binding": true});
    // Appraised (the verdict is in the token): a 200.
    let (code, _) = http(&addr, "POST", "/attestation", req.to_string().as_bytes());
    assert_eq!(code, 200);
    assert_eq!(http(&addr, "GET", "/zz-attacker-path", b"").0, 404);
    let (code, m) = http(&addr, "GET", "/metrics", b"");
    assert_eq!(code, 200);
    assert!(!m.contains("zz-attacker-path"), "{m}");
    assert!(
        m.contains("# TYPE remits_http_request_duration_seconds histogram"),
        "{m}"
    );
    let h = "remits_http_request_duration_seconds";
    let l = "endpoint=\"/health\",method=\"GET\",status=\"200\"";
    assert_eq!(sample(&m, &format!("{h}_count{{{l}}}")), Some(2.0), "{m}");
    assert_eq!(
        sample(&m, &format!("{h}_bucket{{{l},le=\"+Inf\"}}")),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, &format!("remits_http_requests_total{{{l}}}")),
        Some(2.0)
    );
    let l = "endpoint=\"/attestation\",method=\"POST\",status=\"200\"";
    assert_eq!(sample(&m, &format!("{h}_count{{{l}}}")), Some(1.0), "{m}");
    let l = "endpoint=\"unmatched\",method=\"GET\",status=\"404\"";
    assert_eq!(sample(&m, &format!("{h}_count{{{l}}}")), Some(1.0), "{m}");
    for p in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(sample(&m, p).is_some_and(|v| v > 0.0), "{p}: {m}");
    }
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.as_bytes().contains(&0x1b),
        "ANSI escape in a piped log"
    );
    let access: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["target"] == "remits::access")
        .collect();
    assert!(access.len() >= 5, "{logs}");
    for v in &access {
        assert!(
            v["fields"]["client"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{v}"
        );
    }
}

#[test]
fn closed_stdout_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("ev.json");
    std::fs::write(&ev, json!({"svn": "1"}).to_string()).unwrap();
    for json_flag in [false, true] {
        let mut cmd = Command::new(BIN);
        cmd.args(["verify", "--tee", "sample", "--unbound", "--allow-sample"])
            .args(["--policy", "development", "--evidence"])
            .arg(&ev);
        if json_flag {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is printed (`| head -c0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{err}"
        );
        assert_eq!(out.status.code(), Some(141), "{out:?}");
    }
}

#[test]
fn secret_files_are_not_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("ev.json");
    std::fs::write(&ev, json!({"svn": "1"}).to_string()).unwrap();
    let pem = tmp.path().join("key.pem");
    std::fs::write(
        &pem,
        format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    let toml_secret = tmp.path().join("secret.toml");
    std::fs::write(
        &toml_secret,
        format!("issuer = 1\ntoken_ttl_secs = \"{SECRET}\"\n"),
    )
    .unwrap();
    let json_secret = tmp.path().join("secret.json");
    std::fs::write(&json_secret, format!("{{\"password\": \"{SECRET}\"")).unwrap();
    let verify = |extra: &[&std::ffi::OsStr]| {
        Command::new(BIN)
            .args([
                "verify",
                "--tee",
                "sample",
                "--unbound",
                "--allow-sample",
                "--evidence",
            ])
            .arg(&ev)
            .args(extra)
            .env("REMITS_LOG", "trace")
            .output()
            .unwrap()
    };
    let cases = [
        ("policy", verify(&["--policy".as_ref(), pem.as_os_str()])),
        (
            "reference values",
            verify(&["--reference-values".as_ref(), json_secret.as_os_str()]),
        ),
        (
            "reference values (pem)",
            verify(&["--reference-values".as_ref(), pem.as_os_str()]),
        ),
        (
            "serve --config (pem)",
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--config"])
                .arg(&pem)
                .output()
                .unwrap(),
        ),
        (
            "serve --config (toml)",
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--config"])
                .arg(&toml_secret)
                .output()
                .unwrap(),
        ),
    ];
    for (what, out) in cases {
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            !err.contains(SECRET) && !stdout.contains(SECRET),
            "{what}: {err}"
        );
        assert!(
            err.contains("line "),
            "{what}: the position is given: {err}"
        );
        assert!(
            err.contains("key.pem") || err.contains("secret.toml") || err.contains("secret.json"),
            "{what}: the file is named: {err}"
        );
    }
}
