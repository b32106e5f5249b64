//! SEV/SEV-ES pre-launch through the real `remits-broker` binary on 127.0.0.1. The test plays
//! the host-side agent (register → session → measurement), the PSP (`remits_sev::sim`: it
//! unwraps the session blob, measures, decrypts the packet) and the guest (the decrypted EFI
//! secret table laid out as securityfs and read through `remits_attest::efi_secret`).
//! Registration is also checked on the ordinary attest path (SNP simulator evidence).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::rngs::OsRng;
use remits_kbs::admin::AdminSigningKey;
use remits_kbs::client::{ClientError, ClientOptions, KbsClient};
use remits_sev::sim::SimPlatform;
use remits_sev::{LaunchMeasurement, LaunchPolicy, SecretPacket, SessionBlob, PACKET_HEADER_LEN};
use remits_testsupport::broker;
use remits_testsupport::net::free_port;
use remits_testsupport::process::{spawn_ready, Probe, Proc};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");
const GUID: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";

/// Changes a secret submission (body) or the measurement in it.
type Tamper = dyn Fn(&mut Value, &mut LaunchMeasurement);

/// `serve --config`, ready once its port accepts connections.
fn start(config: &Path, port: u16) -> Proc {
    spawn_ready(
        &mut broker::config_command(Path::new(BIN), config),
        &format!("http://127.0.0.1:{port}"),
        Probe::Tcp,
    )
}

/// Everything a test broker needs on disk.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    admin: AdminSigningKey,
    sev: SimPlatform,
    snp_sim: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let admin = AdminSigningKey::generate_ed25519(&mut OsRng);
    std::fs::write(dir.join("admin.pub.pem"), admin.public_pem().unwrap()).unwrap();
    let sev = SimPlatform::generate(&mut OsRng).unwrap();
    std::fs::write(dir.join("sev-ark.cert"), sev.ark()).unwrap();
    std::fs::write(dir.join("sev-ask.cert"), sev.ask()).unwrap();
    let snp_sim = dir.join("snp-sim");
    remits_sim::SimChain::generate(&mut OsRng)
        .unwrap()
        .write_to(&snp_sim)
        .unwrap();
    remits_store::Kek::generate_file(&dir.join("kek"), &mut OsRng).unwrap();
    Setup {
        _tmp: tmp,
        dir,
        admin,
        sev,
        snp_sim,
    }
}

impl Setup {
    /// A broker on the embedded store (sealed with a KEK). `policy`: `development` or
    /// `production`; `dev_roots`: trust the simulated SEV platform's ARK/ASK; `sev`: extra
    /// lines of `[sev]`.
    fn broker(&self, name: &str, policy: &str, dev_roots: bool, sev: &str) -> Proc {
        let port = free_port();
        let d = &self.dir;
        let roots = if dev_roots {
            format!(
                "[[sev.dev_roots]]\nark = \"{}\"\nask = \"{}\"\n",
                d.join("sev-ark.cert").display(),
                d.join("sev-ask.cert").display()
            )
        } else {
            String::new()
        };
        let cfg = d.join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                r#"listen = "127.0.0.1:{port}"
[storage]
backend = "embedded"
dir = "{store}"
kek_file = "{kek}"
[[admin.keys]]
name = "t"
public_key = "{adm}"
[attestation]
attestation_policy = "{policy}"
snp_extra_arks = ["{ark}"]
[sev]
{sev}
{roots}"#,
                store = d.join(format!("store-{name}")).display(),
                kek = d.join("kek").display(),
                adm = d.join("admin.pub.pem").display(),
                ark = self.snp_sim.join(remits_sim::files::ARK_DER).display(),
            ),
        )
        .unwrap();
        start(&cfg, port)
    }

    fn token(&self) -> String {
        self.admin.mint(SystemTime::now(), Duration::from_secs(300))
    }
}

/// POST JSON; returns status and body (JSON, or the text as a string).
async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(url).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn detail(v: &Value) -> String {
    v["detail"].as_str().unwrap_or_default().to_string()
}

/// The expected launch digest, computed by `remits_measure` in SEV mode over a real OVMF:
/// Debian's `OVMF_CODE.fd` when installed, otherwise the edk2 fixture in the test data.
fn expected_digest() -> Option<[u8; 32]> {
    let debian = Path::new("/usr/share/OVMF/OVMF_CODE.fd");
    let fixture =
        remits_testsupport::testdata::dir().map(|d| d.join("measure/ovmf_OvmfX64_suffix.bin"));
    let path = if debian.is_file() {
        debian.to_owned()
    } else {
        match fixture {
            Some(p) if p.is_file() => p,
            _ => return None,
        }
    };
    let fw = std::fs::read(&path).unwrap();
    let m = remits_measure::launch::launch_digest(&remits_measure::launch::LaunchInputs::new(
        remits_measure::launch::Mode::Sev,
        &fw,
    ))
    .unwrap();
    Some(m.as_bytes().try_into().unwrap())
}

/// What the host-side agent keeps from a session start.
struct Started {
    id: String,
    godh: Vec<u8>,
    session: SessionBlob,
    policy: LaunchPolicy,
}

async fn start_session(url: &str, sev: &SimPlatform, workload: &str) -> (u16, Value) {
    post(
        &format!("{url}/kbs/v0/sev/session"),
        None,
        &json!({
            "workload_id": workload,
            "chain": STANDARD.encode(sev.chain().to_sevctl_export()),
        }),
    )
    .await
}

fn started(v: &Value) -> Started {
    Started {
        id: v["session_id"].as_str().unwrap().to_string(),
        godh: STANDARD.decode(v["godh"].as_str().unwrap()).unwrap(),
        session: SessionBlob::from_bytes(&STANDARD.decode(v["session"].as_str().unwrap()).unwrap())
            .unwrap(),
        policy: LaunchPolicy(u32::try_from(v["policy"].as_u64().unwrap()).unwrap()),
    }
}

fn secret_body(s: &Started, m: &LaunchMeasurement, sev: &SimPlatform) -> Value {
    let b = sev.build();
    json!({
        "session_id": s.id,
        "measurement": m.to_b64(),
        "api_major": b.api_major,
        "api_minor": b.api_minor,
        "build": b.build,
        "policy": s.policy.0,
    })
}

async fn register(url: &str, token: &str, body: Value) {
    let (st, v) = post(&format!("{url}/kbs/v0/sev/workload"), Some(token), &body).await;
    assert_eq!(st, 200, "{v}");
}

fn seed_form(id: &str, measurement: &str, bits: u32, passphrase: &str) -> Value {
    json!({
        "workload_id": id,
        "launch_measurement": measurement,
        "tee_config": format!(r#"{{"flags":{{"bits":{bits}}},"minfw":{{"major":0,"minor":0}}}}"#),
        "passphrase": passphrase,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sev_prelaunch_end_to_end_through_the_broker() {
    let Some(digest) = expected_digest() else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but no OVMF");
        println!("SKIPPED: neither Debian's OVMF nor REMITS_TESTDATA is available");
        return;
    };
    let s = setup();
    let b = s.broker("dev", "development", true, "");
    let token = s.token();
    // Register in the seed system's form (policy bits 0x7: no debug, no key sharing, ES).
    register(
        &b.url,
        &token,
        seed_form("vm1", &hex::encode(digest), 7, "disk passphrase"),
    )
    .await;

    // Host-side agent: session for the workload with the simulated platform's chain.
    let (st, v) = start_session(&b.url, &s.sev, "vm1").await;
    assert_eq!(st, 200, "{v}");
    let ses = started(&v);
    assert_eq!(ses.policy.0, 7);
    // The "PSP": LAUNCH_START unwraps the transport keys (WRAP_MAC and POLICY_MAC checked),
    // LAUNCH_MEASURE over the guest's memory (the OVMF that remits-measure measured).
    let keys = s
        .sev
        .launch_start(&ses.godh, &ses.session, ses.policy)
        .unwrap();
    let m = s.sev.launch_measure(&keys, ses.policy, &digest, &mut OsRng);
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/secret", b.url),
        None,
        &secret_body(&ses, &m, &s.sev),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    // The packet in QMP's sev-inject-launch-secret form.
    let header = STANDARD
        .decode(v["packet-header"].as_str().unwrap())
        .unwrap();
    let packet = SecretPacket {
        header: <[u8; PACKET_HEADER_LEN]>::try_from(header.as_slice()).unwrap(),
        ciphertext: STANDARD.decode(v["secret"].as_str().unwrap()).unwrap(),
    };
    // LAUNCH_SECRET: MAC checked with the TIK (bound to MEASURE), decrypted with the TEK.
    let table = SimPlatform::launch_secret(&keys, &m, &packet).unwrap();
    // The guest: efi_secret exposes each entry as securityfs/secrets/coco/<guid>.
    let coco = s.dir.join("securityfs/secrets/coco");
    std::fs::create_dir_all(&coco).unwrap();
    for (guid, value) in remits_attest::efi_secret::parse_secret_table(&table).unwrap() {
        std::fs::write(coco.join(&guid), &value[..]).unwrap();
    }
    let got = remits_attest::efi_secret::read_injected_secret(&coco, GUID).unwrap();
    assert_eq!(&got[..], b"disk passphrase");

    // Replay of the same measurement on the used session: refused, no packet.
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/secret", b.url),
        None,
        &secret_body(&ses, &m, &s.sev),
    )
    .await;
    assert_eq!(st, 401, "{v}");
    assert!(detail(&v).contains("already used"), "{v}");
    assert!(v.get("packet-header").is_none());

    // Unknown session.
    let mut body = secret_body(&ses, &m, &s.sev);
    body["session_id"] = json!("00".repeat(16));
    let (st, v) = post(&format!("{}/kbs/v0/sev/secret", b.url), None, &body).await;
    assert_eq!(st, 401, "{v}");
    assert!(detail(&v).contains("unknown or expired"), "{v}");

    // Each wrong input on a fresh session: the measurement does not match; no packet.
    let mut wrong_digest = digest;
    wrong_digest[0] ^= 1;
    let cases: Vec<(&str, Box<Tamper>)> = vec![
        (
            "digest",
            Box::new(|_: &mut Value, _: &mut LaunchMeasurement| {}),
        ),
        (
            "mnonce",
            Box::new(|_: &mut Value, m: &mut LaunchMeasurement| m.mnonce[0] ^= 1),
        ),
        (
            "build",
            Box::new(|b: &mut Value, _: &mut LaunchMeasurement| b["build"] = json!(16)),
        ),
        (
            "api",
            Box::new(|b: &mut Value, _: &mut LaunchMeasurement| b["api_minor"] = json!(23)),
        ),
    ];
    for (what, tamper) in cases {
        let (st, v) = start_session(&b.url, &s.sev, "vm1").await;
        assert_eq!(st, 200, "{v}");
        let ses = started(&v);
        let keys = s
            .sev
            .launch_start(&ses.godh, &ses.session, ses.policy)
            .unwrap();
        let d = if what == "digest" {
            &wrong_digest
        } else {
            &digest
        };
        let mut m = s.sev.launch_measure(&keys, ses.policy, d, &mut OsRng);
        let mut body = secret_body(&ses, &m, &s.sev);
        tamper(&mut body, &mut m);
        body["measurement"] = json!(m.to_b64());
        let (st, v) = post(&format!("{}/kbs/v0/sev/secret", b.url), None, &body).await;
        assert_eq!(st, 401, "{what}: {v}");
        assert!(
            detail(&v).contains("launch measurement mismatch"),
            "{what}: {v}"
        );
        assert!(v.get("secret").is_none(), "{what}");
    }
    // A policy other than the session's is named.
    let (_, v) = start_session(&b.url, &s.sev, "vm1").await;
    let ses = started(&v);
    let keys = s
        .sev
        .launch_start(&ses.godh, &ses.session, ses.policy)
        .unwrap();
    let m = s.sev.launch_measure(&keys, ses.policy, &digest, &mut OsRng);
    let mut body = secret_body(&ses, &m, &s.sev);
    body["policy"] = json!(6);
    let (st, v) = post(&format!("{}/kbs/v0/sev/secret", b.url), None, &body).await;
    assert_eq!(st, 401, "{v}");
    assert!(detail(&v).contains("policy"), "{v}");

    // Unknown workload; malformed chain names the field.
    let (st, v) = start_session(&b.url, &s.sev, "nobody").await;
    assert_eq!(st, 404, "{v}");
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/session", b.url),
        None,
        &json!({"workload_id": "vm1", "chain": "AAAA"}),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("chain"), "{v}");
    // Another simulated platform (roots not configured): refused at the chain.
    let rogue = SimPlatform::generate(&mut OsRng).unwrap();
    let (st, v) = start_session(&b.url, &rogue, "vm1").await;
    assert_eq!(st, 401, "{v}");
    assert!(detail(&v).contains("platform chain"), "{v}");

    // At rest the transport keys and the passphrase are sealed: not in the store files.
    for f in walk(&s.dir.join("store-dev")) {
        let data = std::fs::read(&f).unwrap();
        assert!(!data.windows(15).any(|w| w == b"disk passphrase"));
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

#[tokio::test(flavor = "multi_thread")]
async fn production_policy_expiry_cap_and_amd_roots() {
    let s = setup();
    let digest = [0x5au8; 32];
    // Production policy, simulator roots configured (so the chain verifies), short sessions,
    // at most two pending.
    let b = s.broker(
        "prod",
        "production",
        true,
        "session_ttl = \"2s\"\nmax_pending_sessions = 2",
    );
    let token = s.token();
    // Guest policy 0x6: debugging allowed (NODBG clear).
    register(
        &b.url,
        &token,
        seed_form("dbg", &hex::encode(digest), 6, "p"),
    )
    .await;
    let (st, v) = start_session(&b.url, &s.sev, "dbg").await;
    assert_eq!(st, 200, "{v}");
    let ses = started(&v);
    let keys = s
        .sev
        .launch_start(&ses.godh, &ses.session, ses.policy)
        .unwrap();
    let m = s.sev.launch_measure(&keys, ses.policy, &digest, &mut OsRng);
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/secret", b.url),
        None,
        &secret_body(&ses, &m, &s.sev),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let d = detail(&v);
    // The failed checks are named: debug allowed, and the simulator is not AMD's root.
    assert!(d.contains("sev.debug"), "{d}");
    assert!(d.contains("sev.root"), "{d}");
    assert!(v.get("packet-header").is_none());

    // Pending cap: two outstanding sessions, the third is 503 with Retry-After.
    let (st1, v1) = start_session(&b.url, &s.sev, "dbg").await;
    let (st2, _) = start_session(&b.url, &s.sev, "dbg").await;
    assert_eq!((st1, st2), (200, 200));
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/sev/session", b.url))
        .json(&json!({"workload_id": "dbg", "chain": STANDARD.encode(s.sev.chain().to_sevctl_export())}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let ra: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&ra));
    // At the cap a chain is not even verified: one with a broken PDH signature is also 503,
    // not a signature error (no RSA/ECDSA work for a full broker).
    let mut broken = s.sev.chain().to_sevctl_export();
    broken[0x420] ^= 1;
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/sev/session", b.url))
        .json(&json!({"workload_id": "dbg", "chain": STANDARD.encode(&broken)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);

    // Expiry: after the session lifetime the measurement is refused (and slots free up).
    let ses = started(&v1);
    let keys = s
        .sev
        .launch_start(&ses.godh, &ses.session, ses.policy)
        .unwrap();
    let m = s.sev.launch_measure(&keys, ses.policy, &digest, &mut OsRng);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/secret", b.url),
        None,
        &secret_body(&ses, &m, &s.sev),
    )
    .await;
    assert_eq!(st, 401, "{v}");
    assert!(detail(&v).contains("unknown or expired"), "{v}");
    let (st, v) = start_session(&b.url, &s.sev, "dbg").await;
    assert_eq!(st, 200, "{v}");
    drop(b);

    // By default only AMD's roots are trusted: the simulated platform's chain is refused,
    // naming the link.
    let amd = s.broker("amd", "production", false, "");
    register(
        &amd.url,
        &token,
        seed_form("w", &hex::encode(digest), 7, "p"),
    )
    .await;
    let (st, v) = start_session(&amd.url, &s.sev, "w").await;
    assert_eq!(st, 401, "{v}");
    let d = detail(&v);
    assert!(d.contains("platform chain") && d.contains("CEK"), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_serves_the_attest_path_and_is_atomic() {
    let s = setup();
    let b = s.broker("reg", "development", false, "");
    let token = s.token();
    let with_measurement = |m: [u8; 48]| {
        let chain = remits_sim::SimChain::load(&s.snp_sim).unwrap();
        remits_sim::SimSnpAttester::new(chain).with_params(remits_sim::ReportParams {
            measurement: m,
            ..Default::default()
        })
    };
    let (m1, m2) = ([0x11u8; 48], [0x22u8; 48]);
    register(
        &b.url,
        &token,
        seed_form("w1", &hex::encode(m1), 7, "pass-one"),
    )
    .await;
    register(
        &b.url,
        &token,
        seed_form("w2", &hex::encode(m2), 7, "pass-two"),
    )
    .await;
    let get = |m: [u8; 48], path: &'static str| {
        let a = with_measurement(m);
        let url = b.url.clone();
        async move {
            let mut c = KbsClient::new(&url, ClientOptions::default()).unwrap();
            c.get_resource(path, &a).await
        }
    };
    // Each measurement gets its own workload's passphrase, and only that one.
    assert_eq!(
        &get(m1, "workload/w1/passphrase").await.unwrap()[..],
        b"pass-one"
    );
    assert_eq!(
        &get(m2, "workload/w2/passphrase").await.unwrap()[..],
        b"pass-two"
    );
    match get(m2, "workload/w1/passphrase").await {
        Err(ClientError::Denied {
            status: 403,
            detail,
        }) => {
            assert!(detail.contains("resource policy"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // Re-registering w1 with another measurement and passphrase updates all three.
    let m3 = [0x33u8; 48];
    register(
        &b.url,
        &token,
        seed_form("w1", &hex::encode(m3), 7, "pass-three"),
    )
    .await;
    assert_eq!(
        &get(m3, "workload/w1/passphrase").await.unwrap()[..],
        b"pass-three"
    );
    assert!(get(m1, "workload/w1/passphrase").await.is_err());
    let http = reqwest::Client::new();
    let rec: Value = http
        .get(format!("{}/kbs/v0/sev/workload/w1", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["launch_measurement"], json!(hex::encode(m3)));
    // Registration needs the admin token.
    let (st, _) = post(
        &format!("{}/kbs/v0/register_workload", b.url),
        None,
        &seed_form("w9", &hex::encode(m1), 7, "x"),
    )
    .await;
    assert_eq!(st, 401);
    // Typed refusals name the field.
    let (st, v) = post(
        &format!("{}/kbs/v0/register_workload", b.url),
        Some(&token),
        &seed_form("w9", "abcd", 7, "x"),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(detail(&v).contains("launch_measurement"), "{v}");
    // A TPM workload (ENCLAVE ID) and an SNP one have no SEV pre-launch: a 400 naming the kind,
    // before any session is stored.
    let (st, v) = post(
        &format!("{}/kbs/v0/sev/workload", b.url),
        Some(&token),
        &json!({"workload_id": "tpmw", "tee": "tpm", "launch_measurement": "44".repeat(32),
                "secrets": [{"name": "passphrase", "value": "cHc="}]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    for (w, tee) in [("tpmw", "\"tpm\""), ("w2", "\"snp\"")] {
        let (st, v) = start_session(&b.url, &s.sev, w).await;
        assert_eq!(st, 400, "{v}");
        assert!(
            detail(&v).contains(tee) && detail(&v).contains("SEV"),
            "{v}"
        );
    }
    // DELETE removes all three: the record, the secret and the policy.
    let st = http
        .delete(format!("{}/kbs/v0/sev/workload/w1", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(st, 200);
    match get(m3, "workload/w1/passphrase").await {
        // The measurement is no longer a reference value: not affirming, nothing released.
        Err(ClientError::Denied { status, .. }) => assert!(status == 403 || status == 401),
        other => panic!("{other:?}"),
    }
    let st = http
        .get(format!("{}/kbs/v0/sev/workload/w1", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(st, 404);
    // w2 is untouched.
    assert_eq!(
        &get(m2, "workload/w2/passphrase").await.unwrap()[..],
        b"pass-two"
    );
    // The TPM workload's ENCLAVE ID is in force under `enclave_id` (what the production
    // policy's TPM identity check reads; the snapshot refreshed by the attestation above).
    let rvs: Value = http
        .get(format!("{}/kbs/v0/reference-value/enclave_id", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rvs, json!(["44".repeat(32)]), "{rvs}");
}
