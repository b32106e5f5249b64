//! The guest API of `remits-attester serve` as guest-components' api-server-rest answers it,
//! against the real `remits-broker` on loopback: `/aa/token?token_type=kbs` (token and TEE key
//! pair, usable as a passport against the broker), `/aa/evidence?runtime_data=…` (the runtime
//! data in REPORT_DATA, bounded), the same bearer-token access control as `/cdh/resource`;
//! one attestation for many sidecar requests (counted on the broker's `/metrics`), and one
//! more after the broker refuses the cached token; and
//! init-data bound to HOST_DATA and checked by the verifier, a mismatch denied by name.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use remits_evidence::envelope::SnpEvidence;
use remits_kbs::client::{ClientOptions, KbsClient};
use remits_kbs::jwe::TeeKeyPair;
use remits_testsupport::net::get_over;
use remits_testsupport::process::spawn_announced;
use serde_json::Value;

/// A running `serve` on loopback TCP (killed and reaped on drop) and its bearer token.
struct Serve {
    proc: Proc,
    token: String,
}

fn start_serve(sim: &Path, broker_url: &str, token_file: &Path) -> Serve {
    let mut cmd = sim_attester(sim);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--broker", broker_url])
        .arg("--token-file")
        .arg(token_file)
        .env("REMITS_LOG", "warn")
        .env_remove("RUNTIME_DIRECTORY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let proc = spawn_announced(&mut cmd, "serve");
    let token = std::fs::read_to_string(token_file)
        .unwrap()
        .trim()
        .to_owned();
    Serve { proc, token }
}

/// One GET to the sidecar: `(status, head, body)`.
fn get(at: &str, path: &str, bearer: Option<&str>) -> (u16, String, Vec<u8>) {
    let s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Host", "localhost")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    get_over(s, path, &headers)
}

/// `kbs_attest_total{result="ok"}` on the broker.
fn attestations(broker_url: &str) -> u64 {
    let hp = broker_url.trim_start_matches("http://");
    let (st, body) = http_get(hp, "/metrics").unwrap();
    assert_eq!(st, 200);
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("kbs_attest_total{result=\"ok\"} "))
        .and_then(|v| v.trim().parse().ok())
        .expect("kbs_attest_total in /metrics")
}

/// The SNP report inside `/aa/evidence`'s answer.
fn report_of(body: &[u8]) -> Vec<u8> {
    let ev: SnpEvidence = serde_json::from_slice(body).expect("SNP evidence JSON");
    ev.report
}

#[test]
fn aa_token_evidence_and_one_attestation_for_many_requests() {
    let Some(broker_bin) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = dir.join("dev");
    let broker = start_dev(&broker_bin, &dev);
    let key = dev.join("admin-key.pem");
    put(
        &broker_bin,
        &broker.url,
        &key,
        "default/demo/key",
        b"guest api \x00\xff",
        dir,
    );
    let sim = dev.join("sim");
    let s = start_serve(&sim, &broker.url, &dir.join("cdh-token"));
    let t = Some(s.token.as_str());

    // Same access control as /cdh/resource: no or a wrong bearer token is 401.
    assert_eq!(get(&s.proc.url, "/aa/token?token_type=kbs", None).0, 401);
    assert_eq!(
        get(&s.proc.url, "/aa/evidence?runtime_data=x", Some("nope")).0,
        401
    );
    // token_type is required, and only "kbs" is served.
    assert_eq!(get(&s.proc.url, "/aa/token", t).0, 400);
    let (st, _, body) = get(&s.proc.url, "/aa/token?token_type=coco_as", t);
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));

    let before = attestations(&broker.url);

    // N sidecar requests: one attestation, then the cached token as a passport.
    for i in 0..5 {
        let (st, _, body) = get(&s.proc.url, "/cdh/resource/default/demo/key", t);
        assert_eq!(st, 200, "request {i}: {}", String::from_utf8_lossy(&body));
        assert_eq!(body, b"guest api \x00\xff");
    }
    assert_eq!(
        attestations(&broker.url) - before,
        1,
        "5 requests, 1 attestation"
    );
    // A missing resource is still 404 through the passport.
    assert_eq!(
        get(&s.proc.url, "/cdh/resource/default/demo/none", t).0,
        404
    );

    // /aa/token: the attestation agent's KBS message, from the same cached attestation.
    let (st, head, body) = get(&s.proc.url, "/aa/token?token_type=kbs", t);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/octet-stream"),
        "{head}"
    );
    let msg: Value = serde_json::from_slice(&body).unwrap();
    let obj = msg.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{msg}");
    let token = msg["token"].as_str().unwrap();
    let pem = msg["tee_keypair"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    assert_eq!(
        attestations(&broker.url) - before,
        1,
        "/aa/token reused the token"
    );
    // The workload can use them as a passport against the broker directly.
    let kp = TeeKeyPair::from_pem(pem).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = KbsClient::new(&broker.url, ClientOptions::default()).unwrap();
    let v = rt
        .block_on(client.get_resource_with_token("default/demo/key", token, &kp))
        .unwrap();
    assert_eq!(&v[..], b"guest api \x00\xff");

    // /aa/evidence: the runtime data's bytes in REPORT_DATA, zero-padded (as AA's attesters).
    let (st, _, body) = get(&s.proc.url, "/aa/evidence?runtime_data=hello%20world", t);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let report = report_of(&body);
    let mut want = [0u8; 64];
    want[..11].copy_from_slice(b"hello world");
    assert_eq!(&report[0x50..0x90], &want[..]);
    // encoding=base64 (URL-safe, no padding) carries binary runtime data.
    let (st, _, body) = get(
        &s.proc.url,
        "/aa/evidence?runtime_data=AP8A_w&encoding=base64",
        t,
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(&report_of(&body)[0x50..0x54], &[0, 0xff, 0, 0xff]);
    // Bounded: 64 bytes fit, 65 do not; an oversized query is 414; no runtime_data is 400.
    let at64 = format!("/aa/evidence?runtime_data={}", "a".repeat(64));
    assert_eq!(get(&s.proc.url, &at64, t).0, 200);
    let (st, _, body) = get(&s.proc.url, &format!("{at64}a"), t);
    assert_eq!(st, 400);
    assert!(String::from_utf8_lossy(&body).contains("at most 64"));
    let huge = format!("/aa/evidence?runtime_data={}", "a".repeat(5000));
    assert_eq!(get(&s.proc.url, &huge, t).0, 414);
    assert_eq!(get(&s.proc.url, "/aa/evidence", t).0, 400);
    assert_eq!(
        get(&s.proc.url, "/aa/evidence?runtime_data=x&encoding=hex", t).0,
        400
    );
    // Evidence needs no broker: still one attestation in all.
    assert_eq!(attestations(&broker.url) - before, 1);

    // The broker restarts with a fresh token key (dev mode): the cached token is refused
    // (401), the sidecar attests once more and answers as before.
    let port: u16 = broker.url.rsplit(':').next().unwrap().parse().unwrap();
    drop(broker);
    let broker = start_dev_on(&broker_bin, &dev, port);
    assert_eq!(attestations(&broker.url), 0);
    for _ in 0..3 {
        let (st, _, body) = get(&s.proc.url, "/cdh/resource/default/demo/key", t);
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, b"guest api \x00\xff");
    }
    assert_eq!(
        attestations(&broker.url),
        1,
        "one re-attestation after the 401"
    );
}

const INIT_DATA: &str = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"policy.rego\" = '''\npackage agent_policy\ndefault AllowRequestsFailingPolicy := true\n'''\n";

#[test]
fn init_data_bound_to_host_data_and_checked() {
    let Some(broker_bin) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dev = dir.join("dev");
    let broker = start_dev(&broker_bin, &dev);
    let key = dev.join("admin-key.pem");
    put(
        &broker_bin,
        &broker.url,
        &key,
        "default/init/key",
        b"bound",
        dir,
    );
    let sim = dev.join("sim");
    let init = dir.join("initdata.toml");
    std::fs::write(&init, INIT_DATA).unwrap();

    // Bound: HOST_DATA carries the init-data digest the attestation sends; released.
    let out = sim_attester(&sim)
        .arg("--init-data")
        .arg(&init)
        .args([
            "get-resource",
            "--broker",
            &broker.url,
            "--path",
            "default/init/key",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(out.stdout, b"bound");
    // The evidence reports the digest (SHA-384, fitted to 32 bytes) in HOST_DATA.
    let out = sim_attester(&sim)
        .arg("--init-data")
        .arg(&init)
        .args(["evidence", "--nonce", "00"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let report = report_of(&out.stdout);
    let digest = {
        use sha2::Digest;
        sha2::Sha384::digest(INIT_DATA.as_bytes())
    };
    assert_eq!(&report[0xC0..0xE0], &digest[..32]);

    // Mismatched: the host launched the guest with other init-data; denied by name.
    let out = sim_attester(&sim)
        .arg("--init-data")
        .arg(&init)
        .args(["--sim-host-data", &"ab".repeat(32)])
        .args([
            "get-resource",
            "--broker",
            &broker.url,
            "--path",
            "default/init/key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("init_data"), "{err}");

    // Edited init-data (one byte) no longer matches what the host bound at launch.
    let edited = dir.join("edited.toml");
    std::fs::write(&edited, INIT_DATA.replace("true", "false")).unwrap();
    let launched = hex::encode(&digest[..32]);
    let out = sim_attester(&sim)
        .arg("--init-data")
        .arg(&edited)
        .args(["--sim-host-data", &launched])
        .args([
            "get-resource",
            "--broker",
            &broker.url,
            "--path",
            "default/init/key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init_data"));

    // Not TOML with an algorithm: a usage error before anything is sent.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "version = \"0.1.0\"\n").unwrap();
    let out = sim_attester(&sim)
        .arg("--init-data")
        .arg(&bad)
        .args([
            "get-resource",
            "--broker",
            &broker.url,
            "--path",
            "default/init/key",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("algorithm"));
}
