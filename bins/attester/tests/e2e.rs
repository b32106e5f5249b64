//! `remits-attester` against the real `remits-broker` binary on 127.0.0.1, with the SNP
//! simulator (`--tee sim-snp`) and the sample TEE: `run`, `get-resource`, a denial,
//! trustee compatibility mode, and the faults (broker down, broker restarted mid-handshake,
//! secret path not writable). Also runs `scripts/demo-e2e.sh`, the README's main job.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

/// The workload used by `run` tests: prints the hash of the delivered secret and leaves a
/// marker file (`$0`) proving it was started.
const WORKLOAD: &str = r#"touch "$0"; sha256sum "$REMITS_SECRETS_DIR/key""#;

fn hash_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn demo_script_passes() {
    let (Some(_), Some(_)) = (sibling("remits-broker"), sibling("remits-verifier")) else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo-e2e.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("REMITS_DEMO_NO_BUILD", "1")
        .env("REMITS_DEMO_BIN_DIR", Path::new(ATTESTER).parent().unwrap())
        .output()
        .unwrap();
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("the workload received the secret"), "{text}");
    assert!(text.contains("rejected with AMD's roots alone"), "{text}");
    // The swtpm part is skipped (and says so) only when its tools are missing outside CI.
    if std::env::var_os("CI").is_some() || !text.contains("SKIPPED") {
        assert!(
            text.contains("the TPM workload received the secret"),
            "{text}"
        );
        assert!(
            text.contains("TPM denied (exit 1) after one extra extend"),
            "{text}"
        );
    }
    assert!(text.contains("demo-e2e: all steps passed"), "{text}");
}

#[test]
fn run_delivers_secret_then_denial_starts_nothing() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    let secret = b"attester e2e secret \x00\x01\xff".to_vec();
    put(
        &broker,
        &b.url,
        &key,
        "default/demo/key",
        &secret,
        tmp.path(),
    );

    let secrets = tmp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let marker = tmp.path().join("started");
    // The workload checks the modes too: 0700 directory, 0600 file.
    let out = sim_attester(&dev.join("sim"))
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(&secrets)
        .args(["--secret", "default/demo/key=key", "--", "sh", "-c"])
        .arg(format!(
            r#"{WORKLOAD}; stat -c %a "$REMITS_SECRETS_DIR" "$REMITS_SECRETS_DIR/key" >&2"#
        ))
        .arg(&marker)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(marker.exists());
    assert_eq!(
        hash_line(&out.stdout),
        sha256_hex(&secret),
        "{}",
        show(&out)
    );
    let modes = String::from_utf8_lossy(&out.stderr);
    assert!(modes.contains("700\n600"), "{}", show(&out));

    // Denial: a registered launch measurement the simulated guest does not have.
    let rv = tmp.path().join("rv.json");
    std::fs::write(
        &rv,
        format!(r#"{{"snp_launch_measurement": ["{}"]}}"#, "ab".repeat(48)),
    )
    .unwrap();
    admin(
        &broker,
        &b.url,
        &key,
        &["register-reference-values".as_ref(), rv.as_os_str()],
    );
    let denied_dir = tmp.path().join("denied");
    std::fs::create_dir(&denied_dir).unwrap();
    let marker2 = tmp.path().join("started-after-denial");
    let out = sim_attester(&dev.join("sim"))
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(&denied_dir)
        .args([
            "--secret",
            "default/demo/key=key",
            "--",
            "sh",
            "-c",
            WORKLOAD,
        ])
        .arg(&marker2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("denied") && err.contains("identity"),
        "{}",
        show(&out)
    );
    // Never retried: one handshake, no "retrying" line.
    assert!(!err.contains("retrying"), "{}", show(&out));
    assert!(
        !marker2.exists(),
        "the workload was started despite the denial"
    );
    assert!(
        entries(&denied_dir).is_empty(),
        "{:?}",
        entries(&denied_dir)
    );
}

#[test]
fn get_resource_and_serve() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    put(
        &broker,
        &b.url,
        &key,
        "default/demo/key",
        b"one secret",
        tmp.path(),
    );

    // get-resource with the simulator and with the sample TEE: the bytes on stdout, exit 0.
    for tee in ["sim-snp", "sample"] {
        let out = Command::new(ATTESTER)
            .args(["--tee", tee, "--sim-dir"])
            .arg(dev.join("sim"))
            .args([
                "get-resource",
                "--broker",
                &b.url,
                "--path",
                "default/demo/key",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{tee}: {}", show(&out));
        assert_eq!(out.stdout, b"one secret", "{tee}");
    }
    // A missing resource: non-zero with the reason, nothing on stdout.
    let out = sim_attester(&dev.join("sim"))
        .args([
            "get-resource",
            "--broker",
            &b.url,
            "--path",
            "default/demo/none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        show(&out)
    );

    // `serve` (the confidential-data-hub API, its socket, token and Host checks) is tested in
    // tests/sidecar.rs.
}

#[test]
fn trustee_compat_mode_broker() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // A simulator chain (as `serve --dev` would write) trusted through the configuration.
    let sim = d.join("sim");
    remits_sim::SimChain::generate(&mut rand::rngs::OsRng)
        .unwrap()
        .write_to(&sim)
        .unwrap();
    let k = remits_kbs::admin::AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
    let (adm, adm_pub) = (d.join("admin.pem"), d.join("admin.pub.pem"));
    std::fs::write(&adm, k.to_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&adm_pub, k.public_pem().unwrap()).unwrap();
    let port = free_port();
    let cfg = d.join("broker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:{port}"
insecure_http = true
compat = "trustee"
[storage]
backend = "memory"
[[admin.keys]]
name = "t"
public_key = "{}"
[attestation]
attestation_policy = "development"
snp_extra_arks = ["{}"]
"#,
            adm_pub.display(),
            sim.join("ark.der").display()
        ),
    )
    .unwrap();
    let b = start_config(&broker, &cfg, port);
    put(&broker, &b.url, &adm, "compat/key/1", b"trustee form", d);
    // remits' own SNP envelope is refused in this mode ...
    let out = sim_attester(&sim)
        .args(["get-resource", "--broker", &b.url, "--path", "compat/key/1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("trustee mode"),
        "{}",
        show(&out)
    );
    // ... and trustee's form (`--trustee-forms`) is accepted.
    let out = sim_attester(&sim)
        .arg("--trustee-forms")
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(d)
        .args(["--secret", "compat/key/1=key", "--", "sh", "-c", WORKLOAD])
        .arg(d.join("started"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(hash_line(&out.stdout), sha256_hex(b"trustee form"));
    // trustee's statuses: a missing resource is 401 there, still a denial (exit 1).
    let out = sim_attester(&sim)
        .arg("--trustee-forms")
        .args([
            "get-resource",
            "--broker",
            &b.url,
            "--path",
            "compat/key/none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn broker_down_at_start_retries_then_fails_clearly() {
    let Some(_) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A chain so the collector works; nothing listens on the port.
    let sim = tmp.path().join("sim");
    remits_sim::SimChain::generate(&mut rand::rngs::OsRng)
        .unwrap()
        .write_to(&sim)
        .unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let secrets = tmp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let marker = tmp.path().join("started");
    let out = sim_attester(&sim)
        .args(["run", "--broker", &url, "--retry-for", "2", "--secrets-dir"])
        .arg(&secrets)
        .args([
            "--secret",
            "default/demo/key=key",
            "--",
            "sh",
            "-c",
            WORKLOAD,
        ])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "no retry: {}", show(&out));
    assert!(err.contains("not reachable after"), "{}", show(&out));
    assert!(
        err.contains("Connection refused") || err.contains("connect"),
        "{}",
        show(&out)
    );
    assert!(!marker.exists());
    assert!(entries(&secrets).is_empty(), "{:?}", entries(&secrets));
}

/// A loopback TCP proxy in front of the broker. The first time a client sends the attestation
/// request (`POST /kbs/v0/attest`), the proxy SIGKILLs the broker, starts it again on the same
/// port and data directory (its in-memory sessions are gone), and drops the client connection:
/// a broker restart in the middle of a handshake.
struct RestartingProxy {
    port: u16,
    restarted: Arc<AtomicBool>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

fn start_proxy(broker_bin: &Path, dev: &Path, b: Proc) -> (RestartingProxy, Arc<Mutex<Proc>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend_port: u16 = b.url.rsplit(':').next().unwrap().parse().unwrap();
    let backend = Arc::new(Mutex::new(b));
    let restarted = Arc::new(AtomicBool::new(false));
    let (bk, rs, bin, dev) = (
        backend.clone(),
        restarted.clone(),
        broker_bin.to_path_buf(),
        dev.to_path_buf(),
    );
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let (bk, rs, bin, dev) = (bk.clone(), rs.clone(), bin.clone(), dev.clone());
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", backend_port)) else {
                    return;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(s2, c2));
                let (mut from, mut to) = (client, server);
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let attest = buf[..n].windows(20).any(|w| w == b"POST /kbs/v0/attest ");
                    if attest && !rs.swap(true, Ordering::SeqCst) {
                        let mut guard = bk.lock().unwrap();
                        let _ = guard.child.kill();
                        let _ = guard.child.wait();
                        *guard = start_dev_on(&bin, &dev, backend_port);
                        break;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = from.shutdown(std::net::Shutdown::Both);
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (RestartingProxy { port, restarted }, backend)
}

/// Stops whichever broker the proxy runs when the test ends: the proxy's listener thread keeps a
/// reference to it for ever, so the broker's own drop guard would never run.
struct StopBackend(Arc<Mutex<Proc>>);

impl Drop for StopBackend {
    fn drop(&mut self) {
        let mut p = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

#[test]
fn broker_restart_mid_handshake_is_retried() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    let b = start_dev(&broker, &dev);
    put(
        &broker,
        &b.url,
        &dev.join("admin-key.pem"),
        "default/demo/key",
        b"survives a restart",
        tmp.path(),
    );
    let (proxy, backend) = start_proxy(&broker, &dev, b);
    let _stop = StopBackend(backend);
    let secrets = tmp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let out = sim_attester(&dev.join("sim"))
        .args([
            "run",
            "--broker",
            &format!("http://127.0.0.1:{}", proxy.port),
            "--retry-for",
            "60",
            "--secrets-dir",
        ])
        .arg(&secrets)
        .args([
            "--secret",
            "default/demo/key=key",
            "--",
            "sh",
            "-c",
            WORKLOAD,
        ])
        .arg(tmp.path().join("started"))
        .output()
        .unwrap();
    assert!(
        proxy.restarted.load(Ordering::SeqCst),
        "the broker was not restarted"
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("retrying"),
        "{}",
        show(&out)
    );
    assert_eq!(hash_line(&out.stdout), sha256_hex(b"survives a restart"));
}

#[test]
fn unwritable_secret_path_leaves_nothing() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    let b = start_dev(&broker, &dev);
    let key = dev.join("admin-key.pem");
    put(
        &broker,
        &b.url,
        &key,
        "default/demo/a",
        b"first",
        tmp.path(),
    );
    put(
        &broker,
        &b.url,
        &key,
        "default/demo/b",
        b"second",
        tmp.path(),
    );
    // The second destination lies under a regular file: not writable, even for root.
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let bad = blocker.join("b");
    // An absolute destination in a writable directory too: it must be rolled back.
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secrets = tmp.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let marker = tmp.path().join("started");
    let out = sim_attester(&dev.join("sim"))
        .args([
            "run",
            "--broker",
            &b.url,
            "--retry-for",
            "5",
            "--secrets-dir",
        ])
        .arg(&secrets)
        .args(["--secret", "default/demo/a=key", "--secret"])
        .arg(format!("default/demo/a={}", outside.join("a").display()))
        .arg("--secret")
        .arg(format!("default/demo/b={}", bad.display()))
        .args(["--", "sh", "-c", WORKLOAD])
        .arg(&marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("writing secret"),
        "{}",
        show(&out)
    );
    assert!(!marker.exists());
    assert!(entries(&secrets).is_empty(), "{:?}", entries(&secrets));
    assert!(entries(&outside).is_empty(), "{:?}", entries(&outside));
    assert!(!bad.exists());
}

fn openssl(args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

/// Waits until something accepts TCP connections on the port (a TLS listener, here).
fn wait_tcp(port: u16, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("server exited early: {st}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on {port}");
}

/// The host carries a guest's traffic: the attester refuses a plain `http://` broker off
/// loopback (unless `--insecure-http`), trusts a private CA only when given (`--ca`), and an
/// untrusted TLS peer on loopback is a clear, non-retried refusal.
#[test]
fn broker_transport_is_authenticated() {
    let Some(broker) = sibling("remits-broker") else {
        return;
    };
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but openssl is missing"
        );
        println!("SKIPPED: openssl CLI not available");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_owned();

    // 1. Plain http:// to a non-loopback address: refused before any connection (exit 2).
    let out = Command::new(ATTESTER)
        .args([
            "--tee",
            "sample",
            "get-resource",
            "--broker",
            "http://192.0.2.1:8080",
        ])
        .args(["--path", "default/demo/key", "--retry-for", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing plain http://"), "{err}");
    assert!(!err.contains("retrying"), "{err}");

    // 2. A broker with a certificate from a private CA.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
        "-subj",
        "/CN=remits test CA",
        "-days",
        "1",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("req.csr"),
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p("cert.pem"),
        "-days",
        "1",
        "-extfile",
        &p("ext.cnf"),
    ]);
    let k = remits_kbs::admin::AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
    std::fs::write(d.join("admin.pem"), k.to_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(d.join("admin.pub.pem"), k.public_pem().unwrap()).unwrap();
    let port = free_port();
    std::fs::write(
        d.join("broker.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\
             [storage]\nbackend = \"memory\"\n[[admin.keys]]\nname = \"t\"\npublic_key = \"{}\"\n\
             [attestation]\nallow_sample = true\nattestation_policy = \"development\"\n",
            p("cert.pem"),
            p("key.pem"),
            p("admin.pub.pem")
        ),
    )
    .unwrap();
    let mut child = Command::new(&broker)
        .args(["serve", "--config", &p("broker.toml")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_tcp(port, &mut child);
    let _b = Proc {
        child,
        url: format!("https://127.0.0.1:{port}"),
    };
    let url = format!("https://127.0.0.1:{port}");
    std::fs::write(d.join("secret"), b"over TLS").unwrap();
    std::fs::write(
        d.join("allow.rego"),
        "package policy\nimport rego.v1\ndefault allow := true\n",
    )
    .unwrap();
    for args in [
        vec!["put-resource", "default/demo/key", "--file", &p("secret")],
        vec!["set-resource-policy", &p("allow.rego")],
    ] {
        let out = Command::new(&broker)
            .args([
                "admin",
                "--broker",
                &url,
                "--ca",
                &p("ca.pem"),
                "--key",
                &p("admin.pem"),
            ])
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }
    let get = |extra: &[&str]| {
        Command::new(ATTESTER)
            .args(["--tee", "sample", "get-resource", "--broker", &url])
            .args(["--path", "default/demo/key", "--retry-for", "5"])
            .args(extra)
            .output()
            .unwrap()
    };
    // With the CA: the secret.
    let out = get(&["--ca", &p("ca.pem")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(out.stdout, b"over TLS");
    // Without it: an impostor as far as the attester knows. Refused at once, not retried.
    let out = get(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS") && err.contains("not trusted"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
}
