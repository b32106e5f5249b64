//! The real `remits-broker` binary on 127.0.0.1: dev mode with the sample TEE and the SNP
//! simulator (real remits-verify), the admin CLI, durability across SIGKILL, TLS, and two
//! replicas sharing PostgreSQL with one handshake split across them.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use remits_evidence::attester::Attester;
use remits_evidence::binding::{HashAlg, RuntimeData};
use remits_kbs::client::{ClientError, ClientOptions, KbsClient, SampleAttester};
use remits_kbs::jwe::{JweMessage, TeeKeyAlgorithm, TeeKeyPair};
use remits_testsupport::broker;
use remits_testsupport::net::free_port;
use remits_testsupport::process::{spawn_ready, Probe, Proc};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// `serve --dev` on a free port, once healthy; the first stdout line must be the dev banner.
fn start_dev(dir: &Path) -> Proc {
    let port = free_port();
    let mut cmd = broker::dev_command(bin(), dir, port);
    cmd.stdout(Stdio::piped());
    let mut b = spawn_ready(
        &mut cmd,
        &format!("http://127.0.0.1:{port}"),
        Probe::Healthz,
    );
    // The dev banner tells the user how to use it.
    let out = b.child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("DEVELOPMENT MODE"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    b
}

fn start_config(config: &Path, url: String) -> Proc {
    broker::start_config(bin(), config, &url)
}

fn admin(url: &str, key: &Path, args: &[&str]) -> std::process::Output {
    broker::admin(bin(), url, key, args)
}

fn put(url: &str, key: &Path, path: &str, value: &[u8], tmp: &Path) {
    broker::put(bin(), url, key, path, value, tmp)
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_mode_sample_and_sim_snp_handshakes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let b = start_dev(&dir);
    let key = dir.join("admin-key.pem");
    assert!(key.exists() && dir.join("sim/ark.der").exists());
    put(&b.url, &key, "default/key/1", b"dev secret", tmp.path());

    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let got = c
        .get_resource("default/key/1", &SampleAttester)
        .await
        .unwrap();
    assert_eq!(&got[..], b"dev secret");

    let sim = remits_sim::SimSnpAttester::load(&dir.join("sim")).unwrap();
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let got = c.get_resource("default/key/1", &sim).await.unwrap();
    assert_eq!(&got[..], b"dev secret");

    // A simulator chain the broker does not trust is refused at /attest.
    let other = tmp.path().join("other-sim");
    remits_sim::SimChain::generate(&mut rand::rngs::OsRng)
        .unwrap()
        .write_to(&other)
        .unwrap();
    let rogue = remits_sim::SimSnpAttester::load(&other).unwrap();
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    match c.get_resource("default/key/1", &rogue).await {
        // The denial the client sees names the failed check (typed up to the edge).
        Err(ClientError::Denied {
            status: 401,
            detail,
        }) => assert!(detail.contains("snp.root"), "{detail}"),
        other => panic!("{other:?}"),
    }

    // Admin CLI: a wrong key is refused with exit 1; delete works.
    let wrong = tmp.path().join("wrong.pem");
    std::fs::write(
        &wrong,
        remits_kbs::admin::AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng)
            .to_pem()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let out = admin(&b.url, &wrong, &["delete-resource", "default/key/1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = admin(&b.url, &key, &["delete-resource", "default/key/1"]);
    assert!(out.status.success(), "{out:?}");
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    match c.get_resource("default/key/1", &SampleAttester).await {
        Err(ClientError::Denied { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_write_survives_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let b = start_dev(&dir);
    let key = dir.join("admin-key.pem");
    put(&b.url, &key, "durable/key/1", b"must survive", tmp.path());
    // SIGKILL right after the acknowledgement (Child::kill sends SIGKILL).
    drop(b);
    let b = start_dev(&dir);
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let got = c
        .get_resource("durable/key/1", &SampleAttester)
        .await
        .unwrap();
    assert_eq!(&got[..], b"must survive");
    // At rest the secret is sealed: its bytes are not in the store files.
    for e in walk(&dir.join("store")) {
        let data = std::fs::read(&e).unwrap();
        assert!(
            !data.windows(12).any(|w| w == b"must survive"),
            "plaintext secret in {}",
            e.display()
        );
    }
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

/// Replaces the resource policy with "allow everything" (the tests attest with `sample`).
fn allow_all_resources(url: &str, key: &Path, tmp: &Path) {
    allow_all_resources_ca(url, key, tmp, None)
}

fn allow_all_resources_ca(url: &str, key: &Path, tmp: &Path, ca: Option<&Path>) {
    let f = tmp.join("allow-all.rego");
    std::fs::write(&f, "package policy\ndefault allow := true\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "--broker", url, "--key"]).arg(key);
    if let Some(ca) = ca {
        cmd.arg("--ca").arg(ca);
    }
    let out = cmd.arg("set-resource-policy").arg(&f).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn openssl(args: &[&str]) {
    let st = Command::new("openssl").args(args).status().unwrap();
    assert!(st.success(), "openssl {args:?}");
}

fn admin_keypair(dir: &Path) -> (PathBuf, PathBuf) {
    let k = remits_kbs::admin::AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
    let (p, q) = (dir.join("admin.pem"), dir.join("admin.pub.pem"));
    std::fs::write(&p, k.to_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&q, k.public_pem().unwrap()).unwrap();
    (p, q)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serving() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIPPED: openssl CLI not available to make a test certificate");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-days",
        "1",
    ]);
    let (adm, adm_pub) = admin_keypair(d);
    let port = free_port();
    let cfg = d.join("broker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:{port}"
[tls]
cert = "{}"
key = "{}"
[storage]
backend = "memory"
[[admin.keys]]
name = "t"
public_key = "{}"
[attestation]
allow_sample = true
attestation_policy = "development"
"#,
            cert.display(),
            key.display(),
            adm_pub.display()
        ),
    )
    .unwrap();
    let b = start_config(&cfg, format!("https://127.0.0.1:{port}"));
    let out = Command::new(BIN)
        .args([
            "admin",
            "--broker",
            &b.url,
            "--ca",
            cert.to_str().unwrap(),
            "--key",
        ])
        .arg(&adm)
        .args([
            "put-resource",
            "tls/key/1",
            "--file",
            cert.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    allow_all_resources_ca(&b.url, &adm, d, Some(&cert));
    let opts = ClientOptions {
        root_certs: vec![cert.clone()],
        ..Default::default()
    };
    let mut c = KbsClient::new(&b.url, opts).unwrap();
    let got = c.get_resource("tls/key/1", &SampleAttester).await.unwrap();
    assert_eq!(&got[..], &std::fs::read(&cert).unwrap()[..]);
    // Without trusting the CA the client refuses the connection: a TLS error, not retried.
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let err = c
        .get_resource("tls/key/1", &SampleAttester)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_postgres() {
    let Some(pg) = remits_store::testing::PostgresServer::start().unwrap() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let token_key = d.join("token.pem");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        token_key.to_str().unwrap(),
    ]);
    let kek = d.join("kek");
    remits_store::Kek::generate_file(&kek, &mut rand::rngs::OsRng).unwrap();
    let (adm, adm_pub) = admin_keypair(d);
    let mut brokers = Vec::new();
    for i in 0..2 {
        let port = free_port();
        let cfg = d.join(format!("r{i}.toml"));
        std::fs::write(
            &cfg,
            format!(
                r#"listen = "127.0.0.1:{port}"
[storage]
backend = "postgres"
url = "{}"
kek_file = "{}"
[[admin.keys]]
name = "t"
public_key = "{}"
[attestation]
allow_sample = true
attestation_policy = "development"
token_signing_key = "{}"
"#,
                pg.url(),
                kek.display(),
                adm_pub.display(),
                token_key.display()
            ),
        )
        .unwrap();
        brokers.push(start_config(&cfg, format!("http://127.0.0.1:{port}")));
    }
    let (a, b) = (&brokers[0].url, &brokers[1].url);
    put(a, &adm, "shared/key/1", b"replicated", d);
    // Configured brokers keep the production resource policy (never release to sample
    // evidence); this test uses the sample TEE, so it installs a permissive one via replica A.
    allow_all_resources(a, &adm, d);

    let http = reqwest::Client::new();
    // auth on A.
    let resp = http
        .post(format!("{a}/kbs/v0/auth"))
        .json(&json!({"version":"0.4.0","tee":"sample","extra-params":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let nonce = resp.json::<Value>().await.unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    // attest on B.
    let kp = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256, &mut rand::rngs::OsRng).unwrap();
    let rd = RuntimeData {
        nonce: nonce.clone(),
        tee_pubkey: kp.public_jwk(),
        additional_evidence: String::new(),
    };
    let ev = SampleAttester
        .evidence(&rd.digest(HashAlg::Sha384).unwrap())
        .unwrap();
    let body = json!({"init-data": null, "runtime-data": {"nonce": nonce, "tee-pubkey": rd.tee_pubkey},
        "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    let resp = http
        .post(format!("{b}/kbs/v0/attest"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    // The same attestation replayed on A: the nonce was consumed on B.
    let resp = http
        .post(format!("{a}/kbs/v0/attest"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Resource from both replicas with the session cookie.
    for url in [a, b] {
        let resp = http
            .get(format!("{url}/kbs/v0/resource/shared/key/1"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let jwe: JweMessage = resp.json().await.unwrap();
        assert_eq!(&kp.decrypt(&jwe).unwrap()[..], b"replicated");
    }
    // Concurrent attestations of one fresh session on both replicas: exactly one wins.
    let resp = http
        .post(format!("{b}/kbs/v0/auth"))
        .json(&json!({"version":"0.4.0","tee":"sample","extra-params":{}}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let nonce = resp.json::<Value>().await.unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let rd = RuntimeData {
        nonce: nonce.clone(),
        tee_pubkey: kp.public_jwk(),
        additional_evidence: String::new(),
    };
    let ev = SampleAttester
        .evidence(&rd.digest(HashAlg::Sha384).unwrap())
        .unwrap();
    let body = json!({"init-data": null, "runtime-data": {"nonce": nonce, "tee-pubkey": rd.tee_pubkey},
        "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    let f = |u: String| {
        let (http, cookie, body) = (http.clone(), cookie.clone(), body.clone());
        async move {
            http.post(format!("{u}/kbs/v0/attest"))
                .header("cookie", cookie)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (x, y) = tokio::join!(f(a.clone()), f(b.clone()));
    let mut st = [x, y];
    st.sort();
    assert_eq!(st, [200, 401]);
}

/// A broker config on PostgreSQL for the replica tests.
fn replica_config(
    d: &Path,
    i: usize,
    pg_url: &str,
    kek: &Path,
    adm_pub: &Path,
    token: &Path,
) -> (PathBuf, String) {
    let port = free_port();
    let cfg = d.join(format!("replica{i}.toml"));
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:{port}"
[storage]
backend = "postgres"
url = "{pg_url}"
kek_file = "{}"
[[admin.keys]]
name = "t"
public_key = "{}"
[attestation]
allow_sample = true
attestation_policy = "development"
token_signing_key = "{}"
"#,
            kek.display(),
            adm_pub.display(),
            token.display()
        ),
    )
    .unwrap();
    (cfg, format!("http://127.0.0.1:{port}"))
}

/// `/auth` on `auth`, `/attest` on `attest` with sample evidence; the attest status and the
/// session cookie and TEE key for a later `/resource`.
async fn sample_attest(
    http: &reqwest::Client,
    auth: &str,
    attest: &str,
) -> (u16, String, TeeKeyPair) {
    let resp = http
        .post(format!("{auth}/kbs/v0/auth"))
        .json(&json!({"version":"0.4.0","tee":"sample","extra-params":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let nonce = resp.json::<Value>().await.unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256, &mut rand::rngs::OsRng).unwrap();
    let rd = RuntimeData {
        nonce: nonce.clone(),
        tee_pubkey: kp.public_jwk(),
        additional_evidence: String::new(),
    };
    let ev = SampleAttester
        .evidence(&rd.digest(HashAlg::Sha384).unwrap())
        .unwrap();
    let body = json!({"init-data": null, "runtime-data": {"nonce": nonce, "tee-pubkey": rd.tee_pubkey},
        "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}});
    let st = http
        .post(format!("{attest}/kbs/v0/attest"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    (st, cookie, kp)
}

/// Polls `check` on every replica until it holds on all of them; panics after 1 s.
async fn on_all_within_1s<F, Fut>(what: &str, urls: &[String], mut check: F)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    for u in urls {
        loop {
            if check(u.clone()).await {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{what}: {u} still disagrees after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("{what}: all replicas agree after {:?}", start.elapsed());
}

/// Three brokers on one PostgreSQL, the client going round-robin over them: one handshake spans
/// all three, and a reference value, an attestation policy, a resource policy and a resource
/// written through one replica take effect on the others within one second.
#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_never_disagree() {
    let Some(mut pg) = remits_store::testing::PostgresServer::start().unwrap() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let token_key = d.join("token.pem");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        token_key.to_str().unwrap(),
    ]);
    let kek = d.join("kek");
    remits_store::Kek::generate_file(&kek, &mut rand::rngs::OsRng).unwrap();
    let (adm, adm_pub) = admin_keypair(d);
    let mut brokers = Vec::new();
    for i in 0..3 {
        let (cfg, url) = replica_config(d, i, &pg.url(), &kek, &adm_pub, &token_key);
        brokers.push(start_config(&cfg, url));
    }
    let urls: Vec<String> = brokers.iter().map(|b| b.url.clone()).collect();
    let http = reqwest::Client::new();
    let (a, b, c) = (&urls[0], &urls[1], &urls[2]);

    // Resource written through C, permissive resource policy through B: one handshake spanning
    // all three (auth on A, attest on B, resource on C).
    put(c, &adm, "ha/key/1", b"first", d);
    allow_all_resources(b, &adm, d);
    let fetch = |url: String, cookie: String, kp: std::sync::Arc<TeeKeyPair>| {
        let http = http.clone();
        async move {
            let resp = http
                .get(format!("{url}/kbs/v0/resource/ha/key/1"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            if resp.status() != 200 {
                return None;
            }
            let jwe: JweMessage = resp.json().await.unwrap();
            Some(kp.decrypt(&jwe).unwrap().to_vec())
        }
    };
    on_all_within_1s("resource policy + resource", &urls, |u| {
        let http = http.clone();
        let (a, b) = (a.clone(), b.clone());
        async move {
            let (st, cookie, kp) = sample_attest(&http, &a, &b).await;
            assert_eq!(st, 200);
            fetch(u, cookie, std::sync::Arc::new(kp)).await.as_deref() == Some(&b"first"[..])
        }
    })
    .await;

    // Round-robin: every handshake moves to the next replica at each step.
    for i in 0..6 {
        let (x, y, z) = (&urls[i % 3], &urls[(i + 1) % 3], &urls[(i + 2) % 3]);
        let (st, cookie, kp) = sample_attest(&http, x, y).await;
        assert_eq!(st, 200, "attest on {y} after auth on {x}");
        let got = fetch(z.clone(), cookie, std::sync::Arc::new(kp)).await;
        assert_eq!(got.as_deref(), Some(&b"first"[..]), "resource on {z}");
    }

    // A resource replaced through A is served by every replica.
    put(a, &adm, "ha/key/1", b"second", d);
    on_all_within_1s("replaced resource", &urls, |u| {
        let http = http.clone();
        let (a, b) = (a.clone(), b.clone());
        async move {
            let (_, cookie, kp) = sample_attest(&http, &a, &b).await;
            fetch(u, cookie, std::sync::Arc::new(kp)).await.as_deref() == Some(&b"second"[..])
        }
    })
    .await;

    // Reference values registered through A: the development policy then accepts only a
    // registered launch digest, and the sample's ("abcde") is not one of them. Every replica
    // must deny within 1 s (before the fix, B and C kept their start-time copy and accepted).
    let rv = d.join("rv.json");
    std::fs::write(&rv, r#"{"launch_digest": ["not-the-sample"]}"#).unwrap();
    let out = admin(
        a,
        &adm,
        &["register-reference-values", rv.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    on_all_within_1s("reference value (deny)", &urls, |u| {
        let http = http.clone();
        let a = a.clone();
        async move { sample_attest(&http, &a, &u).await.0 != 200 }
    })
    .await;
    // ... and registering the sample's digest through C makes every replica accept again.
    std::fs::write(&rv, r#"{"launch_digest": ["abcde"]}"#).unwrap();
    let out = admin(
        c,
        &adm,
        &["register-reference-values", rv.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    on_all_within_1s("reference value (accept)", &urls, |u| {
        let http = http.clone();
        let b = b.clone();
        async move { sample_attest(&http, &b, &u).await.0 == 200 }
    })
    .await;

    // An attestation policy set through B that refuses everything takes effect everywhere.
    let deny = d.join("deny.rego");
    std::fs::write(
        &deny,
        "package policy\nimport rego.v1\ntrust_claims := {\"executables\": 97, \"hardware\": 97, \"configuration\": 97}\n",
    )
    .unwrap();
    let out = admin(
        b,
        &adm,
        &[
            "set-attestation-policy",
            deny.to_str().unwrap(),
            "--id",
            "development",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    on_all_within_1s("attestation policy", &urls, |u| {
        let http = http.clone();
        let c = c.clone();
        async move { sample_attest(&http, &c, &u).await.0 != 200 }
    })
    .await;

    // PostgreSQL restarted under the brokers: they recover without a restart, and the state
    // (the deny-all policy) is still the one every replica serves.
    pg.restart().unwrap();
    let start = Instant::now();
    let permissive = d.join("permissive.rego");
    std::fs::write(&permissive, shipped_development()).unwrap();
    loop {
        let out = admin(
            a,
            &adm,
            &[
                "set-attestation-policy",
                permissive.to_str().unwrap(),
                "--id",
                "development",
            ],
        );
        if out.status.success() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{out:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "admin write accepted {:?} after the database restart",
        start.elapsed()
    );
    on_all_within_1s("after database restart", &urls, |u| {
        let http = http.clone();
        let c = c.clone();
        async move { sample_attest(&http, &c, &u).await.0 == 200 }
    })
    .await;
}

/// The shipped development policy's text.
fn shipped_development() -> &'static str {
    include_str!("../../../crates/policy/policies/development.rego")
}

/// Start-up refusals: a persistent store without a KEK (unless plaintext is chosen), a KEK file
/// readable by others, and `--config` combined with the dev-mode flags.
#[test]
fn refuses_unsafe_storage_and_conflicting_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let port = free_port();
    let cfg = |name: &str, storage: &str| {
        let p = d.join(name);
        std::fs::write(
            &p,
            format!("listen = \"127.0.0.1:{port}\"\n[storage]\nbackend = \"embedded\"\ndir = \"{}\"\n{storage}\n", d.join("store").display()),
        )
        .unwrap();
        p
    };
    let run = |args: &[&str], config: &Path| {
        let out = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[], &cfg("nokek.toml", ""));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("kek_file") && err.contains("allow_plaintext"),
        "{err}"
    );

    let kek = d.join("kek");
    remits_store::Kek::generate_file(&kek, &mut rand::rngs::OsRng).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let with_kek = cfg("kek.toml", &format!("kek_file = \"{}\"", kek.display()));
    let (code, err) = run(&[], &with_kek);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");

    for flags in [
        &["--listen", "127.0.0.1:1"][..],
        &["--data-dir", "/tmp/x"][..],
    ] {
        let (code, err) = run(flags, &with_kek);
        assert_eq!(code, Some(2), "{flags:?}: {err}");
        assert!(err.contains(flags[0]), "{flags:?}: {err}");
    }

    // Plaintext chosen explicitly: the broker starts (and is stopped by the test).
    let plain = cfg("plain.toml", "allow_plaintext = true");
    drop(start_config(&plain, format!("http://127.0.0.1:{port}")));
}

/// `[attestation]` CRL settings: with a CRL (AMD's format, signed by the simulator's ARK) that
/// revokes the simulator's ASK, the SNP handshake is denied naming the revocation, even with a
/// (newer) VLEK CRL loaded beside it; with a stale CRL and fail-closed it is denied as stale;
/// with a clean fresh CRL it succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn snp_crl_revocation_denies_the_handshake() {
    use remits_sim::{CrlSpec, SimChain, SimOptions, SimSnpAttester};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (chain, ark) =
        SimChain::generate_with_ark(&mut rand::rngs::OsRng, &SimOptions::default()).unwrap();
    std::fs::write(d.join("ark.der"), chain.ark_der()).unwrap();
    let sim = SimSnpAttester::new(chain);
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    let crl = |name: &str, revoked: Vec<u32>, this, next| {
        let der = ark
            .crl(
                &CrlSpec {
                    revoked,
                    this_update: this,
                    next_update: Some(next),
                    distribution_point: None,
                },
                &mut rand::rngs::OsRng,
            )
            .unwrap();
        let p = d.join(name);
        std::fs::write(&p, der).unwrap();
        p
    };
    let revoking = crl("vcek.crl", vec![ark.ask_serial()], now - 2 * day, now + day);
    let vlek = crl("vlek.crl", vec![], now - day, now + day);
    let stale = crl("stale.crl", vec![], now - 3 * day, now - day);
    let clean = crl("clean.crl", vec![], now - day, now + day);
    let run = |vcek: PathBuf, vlek: Option<PathBuf>| {
        let port = free_port();
        let cfg = d.join(format!("broker-{port}.toml"));
        let vlek = vlek
            .map(|p| format!("snp_vlek_crl_files = [\"{}\"]\n", p.display()))
            .unwrap_or_default();
        std::fs::write(
            &cfg,
            format!(
                r#"listen = "127.0.0.1:{port}"
[storage]
backend = "memory"
[attestation]
snp_extra_arks = ["{}"]
attestation_policy = "development"
snp_crl_check = "fail-closed"
snp_vcek_crl_files = ["{}"]
{vlek}"#,
                d.join("ark.der").display(),
                vcek.display(),
            ),
        )
        .unwrap();
        start_config(&cfg, format!("http://127.0.0.1:{port}"))
    };
    let denied = |r: Result<String, ClientError>| match r {
        Err(ClientError::Denied {
            status: 401,
            detail,
        }) => detail,
        other => panic!("expected a 401 denial, got {other:?}"),
    };

    let b = run(revoking, Some(vlek));
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let detail = denied(c.attest(&sim).await);
    assert!(
        detail.contains("crl: ASK serial") && detail.contains("revoked"),
        "{detail}"
    );
    drop(b);

    let b = run(stale, None);
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    let detail = denied(c.attest(&sim).await);
    assert!(detail.contains("crl: the VCEK CRL is stale"), "{detail}");
    drop(b);

    let b = run(clean, None);
    let mut c = KbsClient::new(&b.url, ClientOptions::default()).unwrap();
    c.attest(&sim).await.unwrap();
}

/// Admin input errors name the argument, the file and what was expected (no broker needed:
/// they are found before any request).
#[test]
fn admin_input_errors_name_the_argument_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("admin.pem");
    std::fs::write(&junk, "not a key\n").unwrap();
    let o = Command::new(BIN)
        .args(["admin", "--broker", "http://127.0.0.1:9", "--key"])
        .arg(&junk)
        .arg("list-resources")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "--key {}: expected the admin private key",
            junk.display()
        )),
        "{err}"
    );
}
