//! `remits-attester` observability: a closed stdout ends a command quietly, and `serve` writes
//! one JSON access-log line per request with the client address (no ANSI escapes when piped).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn closed_stdout_exits_quietly() {
    let mut child = Command::new(ATTESTER)
        .args(["--tee", "sample", "evidence", "--nonce", "00"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `remits-attester evidence ... | head -c0`: the reader is gone before the output.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(141), "{out:?}");
}

#[test]
fn serve_access_log_is_json_with_client() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("attester.log");
    let port = free_port();
    let hostport = format!("127.0.0.1:{port}");
    let mut child = Command::new(ATTESTER)
        .args(["--tee", "sample", "serve", "--listen", &hostport])
        .args(["--broker", "http://127.0.0.1:1"])
        .arg("--token-file")
        .arg(tmp.path().join("cdh-token"))
        .env("REMITS_LOG_FORMAT", "json")
        .env_remove("REMITS_LOG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some((st, _)) = http_get(&hostport, "/not-a-cdh-path") {
            break st;
        }
        assert!(child.try_wait().unwrap().is_none(), "attester exited");
        assert!(Instant::now() < deadline, "attester did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!((400..500).contains(&status), "{status}");
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.as_bytes().contains(&0x1b),
        "ANSI escape in a piped log"
    );
    let access: Vec<Value> = logs
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["target"] == "remits::access")
        .collect();
    assert_eq!(access.len(), 1, "{logs}");
    let f = &access[0]["fields"];
    assert!(
        f["client"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{f}"
    );
    assert_eq!(f["route"], "unmatched", "{f}");
    assert_eq!(f["status"], status, "{f}");
}
