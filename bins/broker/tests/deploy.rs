//! The shipped deployment (`deploy/`): `remits-broker keygen`, the production configuration
//! started for real over TLS, the replica configuration, the systemd unit (credential names,
//! `systemd-analyze verify`), the Containerfile and the HAProxy configuration.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use remits_kbs::admin::{AdminPublicKey, AdminSigningKey, AdminVerifier, NamedKey};
use remits_kbs::client::{ClientError, ClientOptions, KbsClient, SampleAttester};
use remits_kbs::config::{Backend, BrokerConfig, PgSslMode, SessionPlace};
use remits_testsupport::net::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");
/// Where systemd puts the service's credentials (`$CREDENTIALS_DIRECTORY`).
const CREDS: &str = "/run/credentials/remits-broker.service";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped(name: &str) -> String {
    let p = repo().join("deploy").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn keygen(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("keygen")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn keygen_ok(args: &[&str]) {
    let out = keygen(args);
    assert!(out.status.success(), "keygen {args:?}: {out:?}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A second run over an existing file fails (exit 2, names the file) and leaves it unchanged.
fn refuses_overwrite(args: &[&str], existing: &Path) {
    let before = std::fs::read(existing).unwrap();
    let out = keygen(args);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exists") && err.contains(s(existing)), "{err}");
    assert_eq!(std::fs::read(existing).unwrap(), before, "file changed");
}

#[test]
fn keygen_writes_usable_private_files_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();

    // admin: P-256 private key + public half next to it, both 0600.
    let adm = d.join("admin.pem");
    keygen_ok(&["admin", "--out", s(&adm)]);
    let adm_pub = d.join("admin.pub.pem");
    assert_eq!((mode(&adm), mode(&adm_pub)), (0o600, 0o600));
    let key = AdminSigningKey::from_pem(&std::fs::read_to_string(&adm).unwrap()).unwrap();
    assert!(matches!(key, AdminSigningKey::Es256(_)), "P-256 expected");
    let public =
        AdminPublicKey::from_pem("ops", &std::fs::read_to_string(&adm_pub).unwrap()).unwrap();
    let v = AdminVerifier::new(
        vec![NamedKey {
            name: "ops".into(),
            key: public,
        }],
        Duration::from_secs(600),
    );
    let jwt = key.mint(SystemTime::now(), Duration::from_secs(300));
    assert_eq!(
        v.verify(Some(&format!("Bearer {jwt}")), SystemTime::now()),
        Ok("ops")
    );
    refuses_overwrite(&["admin", "--out", s(&adm)], &adm);
    // --pub elsewhere; an existing public file refuses before the private one is written.
    let (adm2, adm2_pub) = (d.join("second"), d.join("pub/second.spki"));
    std::fs::create_dir(d.join("pub")).unwrap();
    std::fs::write(&adm2_pub, b"keep me").unwrap();
    refuses_overwrite(
        &["admin", "--out", s(&adm2), "--pub", s(&adm2_pub)],
        &adm2_pub,
    );
    assert!(!adm2.exists(), "no half-written pair");
    std::fs::remove_file(&adm2_pub).unwrap();
    keygen_ok(&["admin", "--out", s(&adm2), "--pub", s(&adm2_pub)]);
    assert_eq!((mode(&adm2), mode(&adm2_pub)), (0o600, 0o600));

    // token-key: what attestation.token_signing_key reads; --pub gives its public half.
    let tok = d.join("token-key.pem");
    let tok_pub = d.join("token-key.pub.pem");
    keygen_ok(&["token-key", "--out", s(&tok), "--pub", s(&tok_pub)]);
    assert_eq!((mode(&tok), mode(&tok_pub)), (0o600, 0o600));
    let sk = remits_verify::load_signing_key(&std::fs::read_to_string(&tok).unwrap()).unwrap();
    let AdminPublicKey::Es256(vk) =
        AdminPublicKey::from_pem("token", &std::fs::read_to_string(&tok_pub).unwrap()).unwrap()
    else {
        panic!("token public key is not P-256");
    };
    assert_eq!(&vk, sk.verifying_key());
    let signer = remits_verify::token::TokenSigner::new(sk, "iss", Duration::from_secs(60));
    let token = signer
        .sign(serde_json::Map::new(), SystemTime::now())
        .unwrap();
    remits_verify::token::TokenVerifier::new(vk, "iss")
        .verify(&token, SystemTime::now())
        .unwrap();
    refuses_overwrite(&["token-key", "--out", s(&tok)], &tok);
    let tok2 = d.join("token2.pem");
    keygen_ok(&["token-key", "--out", s(&tok2)]);
    assert_eq!(mode(&tok2), 0o600);

    // kek: 64 hex characters and a newline, the form remits_store::Kek reads.
    let kek = d.join("kek");
    keygen_ok(&["kek", "--out", s(&kek)]);
    assert_eq!(mode(&kek), 0o600);
    let text = std::fs::read_to_string(&kek).unwrap();
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n') && text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));
    remits_store::Kek::from_file(&kek).unwrap();
    refuses_overwrite(&["kek", "--out", s(&kek)], &kek);
    let out = keygen(&["kek", "--out", s(&d.join("k2")), "--pub", s(&d.join("k3"))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!d.join("k2").exists());
}

/// `text` with `from` replaced by `to`; `from` must occur (the shipped file changed shape
/// otherwise and this test must be updated).
fn rewrite(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the shipped file");
    text.replace(from, to)
}

fn openssl_available() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

/// A self-signed server certificate for localhost / 127.0.0.1 (cert, key).
fn tls_cert(cert: &Path, key: &Path) {
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            s(key),
            "-out",
            s(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-days",
            "1",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if p.is_file() {
        out.push(p.to_owned());
    } else if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn shipped_broker_toml_serves_tls_and_seals_secrets() {
    if !openssl_available() {
        println!("SKIPPED: openssl CLI not available to make a test certificate");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let creds = d.join("credentials");
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&creds)
            .unwrap();
    }
    // The operator's steps of docs/deploy.md, into what systemd would load as credentials.
    let adm = d.join("admin-ops.pem");
    keygen_ok(&[
        "admin",
        "--out",
        s(&adm),
        "--pub",
        s(&creds.join("admin-ops.pub.pem")),
    ]);
    keygen_ok(&["token-key", "--out", s(&creds.join("token-key.pem"))]);
    keygen_ok(&["kek", "--out", s(&creds.join("kek"))]);
    let cert = creds.join("tls-cert.pem");
    tls_cert(&cert, &creds.join("tls-key.pem"));

    // The shipped file, with only its paths, port and KDS address moved into the test.
    let port = free_port();
    let kds_port = free_port(); // closed: the background CRL fetch fails fast, offline.
    let mut text = shipped("broker.toml");
    text = rewrite(&text, CREDS, s(&creds));
    text = rewrite(&text, "/var/lib/remits-broker", s(&d.join("state")));
    text = rewrite(&text, "/var/cache/remits-broker", s(&d.join("cache")));
    text = rewrite(&text, "\"0.0.0.0:8443\"", &format!("\"127.0.0.1:{port}\""));
    text = rewrite(
        &text,
        "https://kdsintf.amd.com",
        &format!("http://127.0.0.1:{kds_port}"),
    );
    let cfg = d.join("broker.toml");
    std::fs::write(&cfg, &text).unwrap();

    let mut child = Command::new(BIN)
        .args(["serve", "--config", s(&cfg)])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("broker exited early: {st}");
        }
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            assert_eq!(r.status(), 200, "/readyz over TLS");
            break;
        }
        assert!(Instant::now() < deadline, "broker did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Store a secret through the admin CLI over TLS, trusting only the test certificate.
    let secret = format!("deploy-secret-{}", std::process::id());
    let secret_file = d.join("secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let out = Command::new(BIN)
        .args([
            "admin",
            "--broker",
            &url,
            "--ca",
            s(&cert),
            "--key",
            s(&adm),
        ])
        .args(["put-resource", "prod/key/1", "--file", s(&secret_file)])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The production configuration refuses the unsigned sample TEE.
    let opts = ClientOptions {
        root_certs: vec![cert.clone()],
        ..Default::default()
    };
    let mut c = KbsClient::new(&url, opts).unwrap();
    match c.get_resource("prod/key/1", &SampleAttester).await {
        Err(ClientError::Denied { status, .. }) => assert!((400..500).contains(&status)),
        other => panic!("sample TEE must be refused in production: {other:?}"),
    }

    // SIGTERM (what systemd sends): graceful stop, exit 0.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "broker did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");

    // At rest the secret is sealed under the KEK: its bytes are in no store file.
    let files = walk(&d.join("state/store"));
    assert!(
        files
            .iter()
            .any(|f| std::fs::metadata(f).unwrap().len() > 0),
        "store files expected under state/store"
    );
    for f in files {
        let data = std::fs::read(&f).unwrap();
        assert!(
            !data.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "plaintext secret in {}",
            f.display()
        );
    }
}

#[test]
fn shipped_configs_parse() {
    let single = BrokerConfig::load(&repo().join("deploy/broker.toml")).unwrap();
    assert_eq!(single.storage.backend, Backend::Embedded);
    assert!(single.tls.is_some() && single.storage.kek_file.is_some());
    assert!(!single.storage.allow_plaintext && !single.attestation.allow_sample);
    assert!(!single.admin.keys.is_empty());
    assert!(single.attestation.token_signing_key.is_some());

    let replica = BrokerConfig::load(&repo().join("deploy/broker-replica.toml")).unwrap();
    let st = &replica.storage;
    assert_eq!(st.backend, Backend::Postgres);
    assert_eq!(st.sslmode, Some(PgSslMode::VerifyFull));
    assert!(st.ssl_root_cert.is_some() && st.password_file.is_some());
    assert_eq!(st.sessions, Some(SessionPlace::Store));
    assert!(st.kek_file.is_some() && !st.allow_plaintext);
    let url = st.url.as_deref().unwrap();
    let userinfo = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    assert!(!userinfo.contains(':'), "no password in the URL: {url}");
    assert!(replica.tls.is_some() && !replica.attestation.allow_sample);
    // Replicas share the KEK, the token key and the admin keys: the same credentials.
    assert_eq!(st.kek_file, single.storage.kek_file);
    assert_eq!(
        replica.attestation.token_signing_key,
        single.attestation.token_signing_key
    );
    assert_eq!(
        replica.admin.keys[0].public_key,
        single.admin.keys[0].public_key
    );
}

/// The credential names a config file refers to (`"/run/credentials/remits-broker.service/X"`
/// in a value, comments skipped).
fn config_credentials(toml: &str) -> BTreeSet<String> {
    let prefix = format!("\"{CREDS}/");
    let mut out = BTreeSet::new();
    for line in toml.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(i) = rest.find(&prefix) {
            rest = &rest[i + prefix.len()..];
            let end = rest.find('"').expect("closing quote");
            out.insert(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// `(active, commented)` `LoadCredential=` names of the unit; checks each source is
/// `/etc/remits/credentials/<name>`.
fn unit_credentials(unit: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut active, mut commented) = (BTreeSet::new(), BTreeSet::new());
    for line in unit.lines().map(str::trim) {
        let (set, spec) = if let Some(x) = line.strip_prefix("LoadCredential=") {
            (&mut active, x)
        } else if let Some(x) = line.strip_prefix("#LoadCredential=") {
            (&mut commented, x)
        } else {
            continue;
        };
        let (name, source) = spec.split_once(':').expect("LoadCredential=NAME:SOURCE");
        assert_eq!(source, format!("/etc/remits/credentials/{name}"), "{line}");
        set.insert(name.to_owned());
    }
    (active, commented)
}

#[test]
fn unit_credentials_match_config_paths() {
    let unit = shipped("remits-broker.service");
    let (active, commented) = unit_credentials(&unit);
    let single = config_credentials(&shipped("broker.toml"));
    let replica = config_credentials(&shipped("broker-replica.toml"));
    assert!(!single.is_empty());
    assert_eq!(active, single, "unit LoadCredential= vs deploy/broker.toml");
    let all: BTreeSet<String> = active.union(&commented).cloned().collect();
    assert_eq!(
        all, replica,
        "unit LoadCredential= (with the commented replica lines) vs deploy/broker-replica.toml"
    );
    // The unit runs the shipped config where the install steps put it, and stops gracefully.
    assert!(unit
        .contains("ExecStart=/usr/local/bin/remits-broker serve --config /etc/remits/broker.toml"));
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=remits-broker",
        "CacheDirectory=remits-broker",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == needed), "unit lacks {needed}");
    }
    // The broker's own data paths are the unit's state and cache directories.
    let cfg = shipped("broker.toml");
    assert!(cfg.contains("\"/var/lib/remits-broker/"));
    assert!(cfg.contains("\"/var/cache/remits-broker/"));
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: systemd-analyze not installed; the unit was not verified");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let unit = rewrite(
        &shipped("remits-broker.service"),
        "ExecStart=/usr/local/bin/remits-broker ",
        &format!("ExecStart={BIN} "),
    );
    let path = tmp.path().join("remits-broker.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "{out:?}");
}

#[test]
fn containerfile_and_haproxy_fit_the_shipped_config() {
    let cf = shipped("Containerfile");
    let from: Vec<&str> = cf.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "multi-stage: builder + runtime");
    assert!(from[0].contains("rust:") && from[0].contains("-bookworm AS builder"));
    assert!(from[1].contains("debian:bookworm-slim"));
    assert!(cf.contains("cargo build --release --locked -p remits-broker"));
    let user = cf
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    // Every COPY source outside the builder stage exists in the repository.
    for l in cf
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = l.split_whitespace().nth(1).unwrap();
        assert!(repo().join(src).exists(), "{l}");
    }
    assert!(cf.contains("COPY deploy/broker.toml /etc/remits/broker.toml"));
    // The health check probes /readyz on the port the shipped config listens on.
    let hc = cf
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .take(2)
        .collect::<String>();
    assert!(hc.contains("https://127.0.0.1:8443/readyz"), "{hc}");
    assert!(shipped("broker.toml").contains("listen = \"0.0.0.0:8443\""));
    assert!(cf.contains("EXPOSE 8443"));
    // The build context keeps the workspace: no member, manifest or lock file ignored.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(ignored.contains(&"/target"));
    for keep in [
        "crates",
        "bins",
        "benches",
        "Cargo.toml",
        "Cargo.lock",
        "deploy",
    ] {
        assert!(
            !ignored.iter().any(|i| i.trim_start_matches('/') == keep),
            "{keep} ignored"
        );
    }

    // HAProxy: two replicas, health-checked on /readyz over TLS, on the replica port.
    let hap = shipped("haproxy.cfg");
    let servers: Vec<&str> = hap
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .collect();
    assert_eq!(servers.len(), 2);
    assert!(servers.iter().all(|l| l.ends_with(":8443")));
    assert!(shipped("broker-replica.toml").contains("listen = \"0.0.0.0:8443\""));
    assert!(hap.contains("uri /readyz") && hap.contains("check-ssl"));
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("SKIPPED: haproxy not installed; haproxy.cfg syntax not checked");
        return;
    }
    if !openssl_available() {
        println!("SKIPPED: openssl CLI not available for the check's CA file");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    tls_cert(&ca, &tmp.path().join("ca.key"));
    let cfg = tmp.path().join("haproxy.cfg");
    std::fs::write(&cfg, rewrite(&hap, "/etc/haproxy/remits-ca.pem", s(&ca))).unwrap();
    let out = Command::new("haproxy")
        .args(["-c", "-f", s(&cfg)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// A private CA and a server certificate for `sans` signed by it, made with the OpenSSL
/// commands of docs/deploy.md ("TLS certificates"): `(ca.pem, cert.pem, key.pem)` in `dir`.
fn private_ca_and_cert(dir: &Path, cn: &str, sans: &str) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let (ca_key, ca) = (dir.join("remits-ca.key"), dir.join("remits-ca.pem"));
    let (key, csr, cert) = (
        dir.join("tls-key.pem"),
        dir.join("tls.csr"),
        dir.join("tls-cert.pem"),
    );
    let ext = dir.join("tls.ext");
    std::fs::write(
        &ext,
        format!(
            "subjectAltName={sans}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    let p256 = [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
    ];
    run(&[&p256[..], &[s(&ca_key)]].concat());
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&ca_key),
        "-sha256",
        "-days",
        "2",
        "-subj",
        "/CN=remits test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        s(&ca),
    ]);
    run(&[&p256[..], &[s(&key)]].concat());
    let subj = format!("/CN={cn}");
    run(&[
        "req",
        "-new",
        "-key",
        s(&key),
        "-subj",
        &subj,
        "-out",
        s(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&ca),
        "-CAkey",
        s(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-out",
        s(&cert),
        "-extfile",
        s(&ext),
    ]);
    run(&["verify", "-CAfile", s(&ca), s(&cert)]);
    (ca, cert, key)
}

/// A child process killed (SIGKILL) on drop.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(http: &reqwest::Client, url: &str, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("{url}: exited early: {st}");
        }
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sigterm_and_wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shipped replica configuration, unchanged but for addresses and paths: two replicas on a
/// PostgreSQL that requires TLS (`sslmode = "verify-full"` against a private CA), behind the
/// shipped haproxy.cfg (when HAProxy is installed). A secret stored through the load balancer;
/// one replica stopped (SIGTERM, exit 0) and the load balancer keeps answering from the other.
#[tokio::test(flavor = "multi_thread")]
async fn shipped_replicas_on_postgres_tls_behind_haproxy() {
    if !openssl_available() {
        println!("SKIPPED: openssl CLI not available to make test certificates");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let pg_dir = d.join("pg");
    std::fs::create_dir(&pg_dir).unwrap();
    let (pg_ca, pg_cert, pg_key) =
        private_ca_and_cert(&pg_dir, "localhost", "DNS:localhost,IP:127.0.0.1");
    let Some(pg) = remits_store::testing::PostgresServer::start_tls(
        &std::fs::read(&pg_cert).unwrap(),
        &std::fs::read(&pg_key).unwrap(),
    )
    .unwrap() else {
        return;
    };

    let creds = d.join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let tls_dir = d.join("tls");
    std::fs::create_dir(&tls_dir).unwrap();
    let (ca, cert, key) = private_ca_and_cert(
        &tls_dir,
        "kbs.example.com",
        "DNS:kbs.example.com,DNS:localhost,IP:127.0.0.1",
    );
    std::fs::copy(&cert, creds.join("tls-cert.pem")).unwrap();
    std::fs::copy(&key, creds.join("tls-key.pem")).unwrap();
    std::fs::copy(&pg_ca, creds.join("pg-ca.pem")).unwrap();
    // The test server trusts 127.0.0.1 over TLS; the password is read but not asked for.
    std::fs::write(creds.join("pg-password"), "not-used-by-trust-auth\n").unwrap();
    let adm = d.join("admin-ops.pem");
    let adm_pub = creds.join("admin-ops.pub.pem");
    keygen_ok(&["admin", "--out", s(&adm), "--pub", s(&adm_pub)]);
    keygen_ok(&["token-key", "--out", s(&creds.join("token-key.pem"))]);
    keygen_ok(&["kek", "--out", s(&creds.join("kek"))]);

    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let kds_port = free_port();
    let mut replicas = Vec::new();
    let mut urls = Vec::new();
    for i in 0..2 {
        let port = free_port();
        let mut text = shipped("broker-replica.toml");
        text = rewrite(&text, CREDS, s(&creds));
        text = rewrite(
            &text,
            "/var/cache/remits-broker",
            s(&d.join(format!("cache{i}"))),
        );
        text = rewrite(&text, "\"0.0.0.0:8443\"", &format!("\"127.0.0.1:{port}\""));
        text = rewrite(
            &text,
            "postgresql://remits_broker@db.internal.example:5432/remits",
            &format!("postgresql://postgres@127.0.0.1:{}/postgres", pg.port()),
        );
        text = rewrite(
            &text,
            "https://kdsintf.amd.com",
            &format!("http://127.0.0.1:{kds_port}"),
        );
        assert!(text.contains("sslmode = \"verify-full\""));
        let cfg = d.join(format!("replica{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config", s(&cfg)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut p = Proc(child);
        let url = format!("https://127.0.0.1:{port}");
        wait_ready(&http, &url, &mut p.0).await;
        replicas.push(p);
        urls.push((url, port));
    }

    // The load balancer (or, without HAProxy, the first replica directly).
    let mut _haproxy = None;
    let front = if Command::new("haproxy").arg("-v").output().is_ok() {
        let lb_port = free_port();
        let mut hap = shipped("haproxy.cfg");
        hap = rewrite(&hap, "/etc/haproxy/remits-ca.pem", s(&ca));
        hap = rewrite(&hap, "bind :443", &format!("bind 127.0.0.1:{lb_port}"));
        hap = rewrite(&hap, "10.0.0.11:8443", &format!("127.0.0.1:{}", urls[0].1));
        hap = rewrite(&hap, "10.0.0.12:8443", &format!("127.0.0.1:{}", urls[1].1));
        let cfg = d.join("haproxy.cfg");
        std::fs::write(&cfg, hap).unwrap();
        let mut child = Proc(
            Command::new("haproxy")
                .args(["-db", "-f", s(&cfg)])
                // Its log (one line per connection and check) into a file, never a full pipe.
                .stdout(std::fs::File::create(d.join("haproxy.log")).unwrap())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let url = format!("https://127.0.0.1:{lb_port}");
        wait_ready(&http, &url, &mut child.0).await;
        _haproxy = Some(child);
        url
    } else {
        println!("SKIPPED (part): haproxy not installed; replicas tested without it");
        urls[0].0.clone()
    };

    let put = |path: &str, value: &str| {
        let f = d.join("value");
        std::fs::write(&f, value).unwrap();
        Command::new(BIN)
            .args([
                "admin",
                "--broker",
                &front,
                "--ca",
                s(&ca),
                "--key",
                s(&adm),
            ])
            .args(["put-resource", path, "--file", s(&f)])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = put("prod/key/1", "replicated-secret");
    assert!(out.status.success(), "{out:?}");
    // Round robin over both replicas: every answer ready.
    for _ in 0..4 {
        let r = http.get(format!("{front}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // Sealed in PostgreSQL under the shared KEK: the plaintext is in no database file.
    let secret = b"replicated-secret";
    for f in walk(&pg.data_dir()) {
        let data = std::fs::read(&f).unwrap_or_default();
        assert!(
            !data.windows(secret.len()).any(|w| w == secret),
            "plaintext in {}",
            f.display()
        );
    }

    // One replica stops (SIGTERM: drains, exit 0); the front keeps answering.
    let st = sigterm_and_wait(&mut replicas[1].0);
    assert_eq!(st.code(), Some(0));
    for i in 0..4 {
        let r = http.get(format!("{front}/readyz")).send().await;
        assert!(
            r.as_ref().is_ok_and(|r| r.status() == 200),
            "request {i} after one replica stopped: {r:?}"
        );
    }
    let out = put("prod/key/2", "after-failover");
    assert!(out.status.success(), "{out:?}");
}
