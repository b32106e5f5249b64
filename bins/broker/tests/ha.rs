//! High availability: three `remits-broker` processes on one PostgreSQL behind a round-robin
//! TCP proxy (written here, as a load balancer without health checks would be). A handshake
//! spans all three brokers; a load run survives one broker being SIGKILLed and PostgreSQL
//! being restarted, with no wrong answer and only failures that the client retried (as
//! `remits-attester` does); a resource row rolled back in the database is refused by the brokers
//! that saw the newer one; a per-resource policy registered through one broker applies on the
//! other, which had cached its absence.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remits_evidence::attester::Attester;
use remits_evidence::binding::{HashAlg, RuntimeData};
use remits_kbs::client::{ClientError, ClientOptions, KbsClient, SampleAttester};
use remits_kbs::jwe::{JweMessage, TeeKeyAlgorithm, TeeKeyPair};
use remits_testsupport::broker;
use remits_testsupport::net::free_port;
use remits_testsupport::process::Proc;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");
const PATH: &str = "ha/key/1";

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn start_config(config: &Path, url: String) -> Proc {
    let mut cmd = broker::config_command(bin(), config);
    cmd.env("RUST_LOG", "error");
    broker::start(cmd, &url)
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

fn admin(url: &str, key: &Path, args: &[&str]) {
    broker::admin_ok(bin(), url, key, args);
}

fn put(url: &str, key: &Path, value: &[u8], tmp: &Path) {
    broker::put(bin(), url, key, PATH, value, tmp)
}

/// A round-robin TCP proxy: connection *n* goes to backend *n mod 3*; when that backend does
/// not accept, to the next one (as a load balancer's passive health check does, e.g. nginx's
/// `proxy_next_upstream error`). Requests in flight on a backend that dies fail: the client sees
/// the failure and retries.
struct Proxy {
    addr: SocketAddr,
    /// Backend index of every connection forwarded, in order.
    log: Arc<Mutex<Vec<usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let first = n % backends.len();
                n += 1;
                let (backends, l) = (backends.clone(), l.clone());
                tokio::spawn(async move {
                    for k in 0..backends.len() {
                        let i = (first + k) % backends.len();
                        let connect = tokio::time::timeout(
                            Duration::from_secs(2),
                            tokio::net::TcpStream::connect(backends[i]),
                        );
                        if let Ok(Ok(mut server)) = connect.await {
                            l.lock().unwrap().push(i);
                            let _ = server.set_nodelay(true);
                            let _ = client.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Proxy { addr, log, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An HTTP client that opens a new connection for every request (so that, through the proxy,
/// consecutive requests go to consecutive brokers).
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// What a load client saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    /// Failures that were retried (connection errors, 5xx) and followed by a success.
    retried: AtomicUsize,
    /// A secret other than the one stored.
    wrong: AtomicUsize,
    /// Refusals (4xx), protocol errors, or retries past the deadline.
    hard: AtomicUsize,
    /// Successful handshakes that started after the database restart was complete.
    ok_after_restart: AtomicUsize,
}

/// One handshake the way `remits-attester` does it: start over (new session) after a
/// retryable failure, with backoff, until a deadline; never retry a refusal.
async fn handshake_with_retries(url: &str, http: &reqwest::Client, t: &Tally, want: &[u8]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut c = KbsClient::with_http(url, ClientOptions::default(), http.clone()).unwrap();
        match c.get_resource(PATH, &SampleAttester).await {
            Ok(v) if v.as_slice() == want => {
                t.ok.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(_) => {
                t.wrong.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Err(e) if e.is_retryable() && Instant::now() + backoff < deadline => {
                t.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                eprintln!("handshake failed for good: {e}");
                t.hard.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        }
    }
}

/// `/auth`, `/attest` and `/resource` with sample evidence, each on its own connection
/// through `url`; the resource status and, on 200, the decrypted secret.
async fn manual_handshake(http: &reqwest::Client, url: &str) -> (u16, Option<Vec<u8>>) {
    let resp = http
        .post(format!("{url}/kbs/v0/auth"))
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
    let resp = http
        .post(format!("{url}/kbs/v0/attest"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "attest");
    let resp = http
        .get(format!("{url}/kbs/v0/resource/{PATH}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    if st != 200 {
        return (st, None);
    }
    let jwe: JweMessage = resp.json().await.unwrap();
    (st, Some(kp.decrypt(&jwe).unwrap().to_vec()))
}

async fn raw_sql(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let h = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = h.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_brokers_behind_a_proxy_survive_kill_and_database_restart() {
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
    let mut addrs = Vec::new();
    for i in 0..3 {
        let port = free_port();
        let cfg = d.join(format!("broker{i}.toml"));
        std::fs::write(
            &cfg,
            format!(
                r#"listen = "127.0.0.1:{port}"
[storage]
backend = "postgres"
url = "{}"
kek_file = "{}"
rollback_marks_file = "{}"
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
                d.join(format!("marks{i}")).display(),
                adm_pub.display(),
                token_key.display()
            ),
        )
        .unwrap();
        brokers.push(start_config(&cfg, format!("http://127.0.0.1:{port}")));
        addrs.push(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let proxy = Proxy::start(addrs).await;
    let via = proxy.url();
    let allow = d.join("allow-all.rego");
    std::fs::write(&allow, "package policy\ndefault allow := true\n").unwrap();
    admin(
        &via,
        &adm,
        &["set-resource-policy", allow.to_str().unwrap()],
    );
    put(&via, &adm, b"first secret", d);

    // One handshake spanning all three brokers: auth, attest and resource each on a new
    // connection, so on three consecutive backends.
    let http = unpooled();
    let before = proxy.log.lock().unwrap().len();
    let (st, got) = manual_handshake(&http, &via).await;
    assert_eq!((st, got.as_deref()), (200, Some(&b"first secret"[..])));
    let mut spanned = proxy.log.lock().unwrap()[before..].to_vec();
    assert_eq!(spanned.len(), 3, "one connection per step");
    spanned.sort();
    assert_eq!(
        spanned,
        [0, 1, 2],
        "auth, attest and resource on three brokers"
    );

    // Load: 4 clients in a closed loop through the proxy for about 5 s; broker 2 is SIGKILLed
    // after 1 s, PostgreSQL is stopped at 2 s and started again 1 s later.
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let restarted_at = Arc::new(AtomicU64::new(u64::MAX));
    let t0 = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (tally, stop, restarted_at, via) = (
            tally.clone(),
            stop.clone(),
            restarted_at.clone(),
            via.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = unpooled();
            while !stop.load(Ordering::Relaxed) {
                let started = t0.elapsed().as_millis() as u64;
                let ok = handshake_with_retries(&via, &http, &tally, b"first secret").await;
                if ok && started > restarted_at.load(Ordering::Relaxed) {
                    tally.ok_after_restart.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ok_before_kill = tally.ok.load(Ordering::Relaxed);
    let killed = brokers.pop().unwrap();
    drop(killed); // SIGKILL, then reaped
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ok_before_db = tally.ok.load(Ordering::Relaxed);
    let retried_before_db = tally.retried.load(Ordering::Relaxed);
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| pg.restart()).unwrap();
    restarted_at.store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
    let restart_done = Instant::now();
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(t0.elapsed())).await;
    // At least 1.5 s of load after the restart.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(restart_done.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("load clients finish")
            .unwrap();
    }
    let (ok, retried, wrong, hard, after) = (
        tally.ok.load(Ordering::Relaxed),
        tally.retried.load(Ordering::Relaxed),
        tally.wrong.load(Ordering::Relaxed),
        tally.hard.load(Ordering::Relaxed),
        tally.ok_after_restart.load(Ordering::Relaxed),
    );
    println!(
        "load: {ok} handshakes in {:.1} s ({ok_before_kill} before the kill, {ok_before_db} \
         before the database stop, {after} started after the restart), {retried} retried \
         failures ({retried_before_db} before the database stop), {wrong} wrong answers, {hard} \
         unretried failures; database back {:.1} s after the start",
        t0.elapsed().as_secs_f64(),
        restarted_at.load(Ordering::Relaxed) as f64 / 1000.0
    );
    for b in &mut brokers {
        assert!(
            b.child.try_wait().unwrap().is_none(),
            "broker {} exited",
            b.url
        );
    }
    assert_eq!(wrong, 0, "no wrong answer");
    assert_eq!(
        hard, 0,
        "every failure was retryable and retried to success"
    );
    assert!(ok_before_kill > 0, "load ran before the kill");
    assert!(
        retried > 0,
        "the kill and the database restart were felt (and retried)"
    );
    assert!(after > 0, "handshakes succeed after the database restart");
    // Both surviving brokers recovered without a restart: a direct handshake on each.
    for b in &brokers {
        let (st, got) = manual_handshake(&http, &b.url).await;
        assert_eq!(
            (st, got.as_deref()),
            (200, Some(&b"first secret"[..])),
            "{}",
            b.url
        );
    }

    // Rollback: keep the sealed row of the current secret, replace the secret, let both
    // brokers serve the new one, then swap the old row back in SQL.
    let db = pg.url();
    raw_sql(
        &db,
        "CREATE TABLE old_rows AS SELECT * FROM remits_kv WHERE ns = 'resource'",
    )
    .await;
    put(&brokers[0].url, &adm, b"second secret", d);
    for b in &brokers {
        let (st, got) = manual_handshake(&http, &b.url).await;
        assert_eq!(
            (st, got.as_deref()),
            (200, Some(&b"second secret"[..])),
            "{}",
            b.url
        );
    }
    raw_sql(
        &db,
        "UPDATE remits_kv SET value = o.value, expires_at = o.expires_at, version = o.version \
         FROM old_rows o WHERE remits_kv.ns = o.ns AND remits_kv.key = o.key",
    )
    .await;
    for b in &brokers {
        let (st, got) = manual_handshake(&http, &b.url).await;
        assert_eq!(
            got, None,
            "{}: the rolled-back secret is never served",
            b.url
        );
        assert_eq!(st, 500, "{}", b.url);
    }
    // The attester retries 5xx, but gives up without a secret.
    let mut c = KbsClient::new(&brokers[1].url, ClientOptions::default()).unwrap();
    assert!(matches!(
        c.get_resource(PATH, &SampleAttester).await,
        Err(ClientError::Server { status: 500, .. })
    ));

    // A per-resource policy written through one broker (a workload registration) applies on
    // the other at once, although that one remembered "no per-resource policy" for the path:
    // the lookup is cached per change epoch, and the epoch follows PostgreSQL's notifications.
    let wpath = "workload/w/passphrase";
    let f = d.join("unbound");
    std::fs::write(&f, b"unbound").unwrap();
    admin(
        &brokers[0].url,
        &adm,
        &["put-resource", wpath, "--file", f.to_str().unwrap()],
    );
    for _ in 0..2 {
        let mut c = KbsClient::new(&brokers[1].url, ClientOptions::default()).unwrap();
        assert_eq!(
            &c.get_resource(wpath, &SampleAttester).await.unwrap()[..],
            b"unbound"
        );
    }
    let reg = d.join("w.json");
    std::fs::write(
        &reg,
        json!({"workload_id": "w", "tee": "snp", "launch_measurement": "11".repeat(48),
               "secrets": [{"name": "passphrase", "value": "Ym91bmQ="}]})
        .to_string(),
    )
    .unwrap();
    admin(
        &brokers[0].url,
        &adm,
        &["register-workload", reg.to_str().unwrap()],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = KbsClient::new(&brokers[1].url, ClientOptions::default()).unwrap();
        match c.get_resource(wpath, &SampleAttester).await {
            Err(ClientError::Denied { .. }) => break,
            other => assert!(
                Instant::now() < deadline,
                "the other broker still serves {wpath} without its policy: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
