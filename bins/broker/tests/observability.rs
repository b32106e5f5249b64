//! Observability of the real `remits-broker` binary on 127.0.0.1: `/metrics` parsed as a
//! Prometheus scraper would after real handshakes (histogram buckets, `_count`, `_total`
//! names, process metrics, bounded labels), JSON access logs with the client address, no ANSI
//! escapes in piped logs, quiet exit on a closed stdout, and no secret echoed when a secret
//! file is given as a configuration or policy file.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use remits_kbs::client::{ClientOptions, KbsClient, SampleAttester};
use remits_testsupport::net::free_port;
use remits_testsupport::process::{wait_ready, NotReady, Probe, Proc};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");

/// A recognizable secret: must never appear on stderr or in a log.
const SECRET: &str = "S3CRET-do-not-echo-5b1e0c";

/// `remits-broker serve --dev` with `extra` arguments and env, stderr into `log`.
fn start_dev(dir: &Path, log: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(extra)
        .args(["serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env_remove("RUST_LOG")
        .env_remove("REMITS_LOG")
        .env_remove("REMITS_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::from(File::create(log).unwrap()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    match wait_ready(&mut child, &url, Probe::Tcp) {
        Ok(()) => Proc { child, url },
        Err(NotReady::Exited(st)) => panic!(
            "broker exited early: {st}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
        Err(NotReady::Timeout) => panic!("broker did not start"),
    }
}

fn admin(url: &str, key: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "--broker", url, "--key"])
        .arg(key)
        .args(args)
        .output()
        .unwrap()
}

/// One sample of a scrape: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format 0.0.4 strictly enough for these tests: `# HELP` and
/// `# TYPE` precede the samples of their family; every sample line is `name{labels} value`.
fn parse_metrics(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "odd line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((n, l)) => {
                let l = l.strip_suffix('}').unwrap();
                let mut m = BTreeMap::new();
                // Values here hold no `",` sequence (route templates, numbers).
                for kv in l.split("\",") {
                    let (k, v) = kv.split_once("=\"").unwrap();
                    m.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
                (n.to_string(), m)
            }
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&name)
            .to_string();
        let kind = types
            .get(&family)
            .unwrap_or_else(|| panic!("sample {name} without TYPE"));
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} must end in _total"
            );
        }
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (types, samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// A series' labels without `le`, sorted.
type Labels = Vec<(String, String)>;

/// Every histogram series: buckets non-decreasing in `le`, `+Inf` == `_count`, `_sum` >= 0.
fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) -> usize {
    let mut checked = 0;
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let mut key: Vec<_> = s.labels.clone().into_iter().collect();
            key.retain(|(k, _)| k != "le");
            let le = s.labels["le"].as_str();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            series.entry(key).or_default().push((le, s.value));
        }
        for (key, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            for w in buckets.windows(2) {
                assert!(w[0].1 <= w[1].1, "{family}{key:?}: buckets not monotone");
            }
            let inf = buckets.last().unwrap();
            assert!(inf.0.is_infinite(), "{family}{key:?}: no +Inf bucket");
            let labels: Vec<(&str, &str)> =
                key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let count = value(samples, &format!("{family}_count"), &labels).unwrap();
            let sum = value(samples, &format!("{family}_sum"), &labels).unwrap();
            assert_eq!(inf.1, count, "{family}{key:?}: +Inf != _count");
            assert!(sum >= 0.0);
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_json_access_logs_after_handshakes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let log = tmp.path().join("broker.log");
    // The format from the environment; the level from RUST_LOG (the fallback of REMITS_LOG).
    let b = start_dev(
        &dir,
        &log,
        &[],
        &[("REMITS_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    );
    let key = dir.join("admin-key.pem");
    let f = tmp.path().join("secret");
    std::fs::write(&f, b"observed secret").unwrap();
    let out = admin(
        &b.url,
        &key,
        &[
            "put-resource",
            "default/key/1",
            "--file",
            f.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");

    const HANDSHAKES: usize = 3;
    for _ in 0..HANDSHAKES {
        let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
        let got = c
            .get_resource("default/key/1", &SampleAttester)
            .await
            .unwrap();
        assert_eq!(&got[..], b"observed secret");
    }
    // Attacker-chosen paths must not become label values.
    let http = reqwest::Client::new();
    for p in ["/zz-attacker-path-1", "/kbs/v0/zz-attacker-path-2"] {
        let r = http.get(format!("{}{p}", b.url)).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = http.get(format!("{}/metrics", b.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    assert!(!text.contains("zz-attacker-path"), "{text}");
    let (types, samples) = parse_metrics(&text);

    let n = HANDSHAKES as f64;
    let h = "remits_http_request_duration_seconds";
    assert_eq!(types.get(h).map(String::as_str), Some("histogram"));
    for (endpoint, method) in [
        ("/kbs/v0/auth", "POST"),
        ("/kbs/v0/attest", "POST"),
        ("/kbs/v0/resource/{*path}", "GET"),
    ] {
        let l = [
            ("endpoint", endpoint),
            ("method", method),
            ("status", "200"),
        ];
        assert_eq!(
            value(&samples, &format!("{h}_count"), &l),
            Some(n),
            "{text}"
        );
        assert_eq!(
            value(&samples, "remits_http_requests_total", &l),
            Some(n),
            "{text}"
        );
    }
    let l = [
        ("endpoint", "/kbs/v0/resource/{*path}"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(value(&samples, &format!("{h}_count"), &l), Some(1.0));
    let l = [
        ("endpoint", "unmatched"),
        ("method", "GET"),
        ("status", "404"),
    ];
    assert_eq!(
        value(&samples, &format!("{h}_count"), &l),
        Some(2.0),
        "{text}"
    );
    assert!(check_histograms(&types, &samples) >= 5);

    assert_eq!(value(&samples, "kbs_auth_total", &[]), Some(n));
    assert_eq!(
        value(&samples, "kbs_attest_total", &[("result", "ok")]),
        Some(n)
    );
    assert_eq!(
        value(&samples, "kbs_resource_total", &[("outcome", "released")]),
        Some(n)
    );
    assert_eq!(
        value(&samples, "kbs_admin_total", &[("outcome", "applied")]),
        Some(1.0)
    );
    for op in ["get", "put", "compare_and_swap"] {
        assert_eq!(
            value(&samples, "remits_store_errors_total", &[("op", op)]),
            Some(0.0)
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = value(&samples, "process_start_time_seconds", &[]).unwrap();
    assert!(
        start <= now + 1.0 && start > now - 600.0,
        "start {start} now {now}"
    );
    let rss = value(&samples, "process_resident_memory_bytes", &[]).unwrap();
    assert!(rss > 1e6 && rss < 1e9, "rss {rss}");
    let fds = value(&samples, "process_open_fds", &[]).unwrap();
    let max = value(&samples, "process_max_fds", &[]).unwrap();
    assert!(fds >= 3.0 && fds < max, "fds {fds} max {max}");
    assert!(value(&samples, "process_cpu_seconds_total", &[]).unwrap() > 0.0);

    // A secret file given as a resource policy: refused, and its text is echoed neither to
    // the admin nor into the broker's log.
    let secret_file = tmp.path().join("id_ed25519");
    std::fs::write(
        &secret_file,
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
    )
    .unwrap();
    let out = admin(
        &b.url,
        &key,
        &["set-resource-policy", secret_file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(SECRET), "{err}");
    assert!(err.contains("line 1"), "position is reported: {err}");

    drop(b);
    let logs = std::fs::read(&log).unwrap();
    assert!(!logs.contains(&0x1b), "ANSI escape in a piped log");
    let logs = String::from_utf8(logs).unwrap();
    assert!(!logs.contains(SECRET), "{logs}");
    let mut access = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["target"] == "remits::access" {
            let f = &v["fields"];
            let client = f["client"].as_str().unwrap();
            assert!(client.starts_with("127.0.0.1:"), "{line}");
            assert!(f["route"].is_string() && f["method"].is_string(), "{line}");
            assert!(
                f["status"].is_u64() && f["duration_ms"].is_number(),
                "{line}"
            );
            assert!(
                !line.contains("zz-attacker-path"),
                "raw path logged: {line}"
            );
            access += 1;
        }
    }
    // Admin put + policy, 3 per handshake, 2 unmatched, /metrics.
    assert!(
        access >= 3 * HANDSHAKES + 4,
        "{access} access lines:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_logs_have_no_colour_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("broker.log");
    // The flag (before the subcommand: it is global) overrides REMITS_LOG_FORMAT.
    let b = start_dev(
        &tmp.path().join("dev"),
        &log,
        &["--log-format", "text"],
        &[("REMITS_LOG_FORMAT", "json"), ("REMITS_LOG", "info")],
    );
    let r = reqwest::get(format!("{}/healthz", b.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(b);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(!logs.as_bytes().contains(&0x1b), "ANSI escape: {logs:?}");
    let line = logs
        .lines()
        .find(|l| l.contains("remits::access"))
        .unwrap_or_else(|| panic!("no access line: {logs}"));
    assert!(!line.trim_start().starts_with('{'), "{line}");
    assert!(line.contains("client=127.0.0.1:"), "{line}");
    assert!(
        line.contains("route=/healthz") && line.contains("status=200"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_stdout_exits_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let b = start_dev(&dir, &tmp.path().join("broker.log"), &[], &[]);
    let f = tmp.path().join("s");
    std::fs::write(&f, b"x").unwrap();
    // `remits-broker admin ... | head -c0`: the reader is gone before "ok" is printed.
    let mut child = Command::new(BIN)
        .args(["admin", "--broker", &b.url, "--key"])
        .arg(dir.join("admin-key.pem"))
        .args(["put-resource", "default/key/2", "--file"])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
fn secret_config_file_is_not_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in [
        // A key file: not TOML at all (TOML's own message quotes this line).
        (
            "key.pem",
            format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
        ),
        // TOML, with the secret as a value of the wrong type and as an unknown key.
        (
            "a.toml",
            format!("listen = \"127.0.0.1:1\"\nsession_ttl = \"{SECRET}\"\n"),
        ),
        ("b.toml", format!("password = \"{SECRET}\"\n")),
        ("c.toml", format!("[storage]\nbackend = \"{SECRET}\"\n")),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = Command::new(BIN)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&p)
            .env("REMITS_LOG", "debug")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !err.contains(SECRET) && !stdout.contains(SECRET),
            "{name}: {err}"
        );
        assert!(
            err.contains(&p.display().to_string()),
            "{name}: path named: {err}"
        );
        assert!(err.contains("line "), "{name}: position given: {err}");
    }
}
