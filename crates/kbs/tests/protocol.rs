//! KBS protocol on 127.0.0.1: handshake, every refusal, passport mode, admin API, limits,
//! trustee compatibility, and the JWE checked by an independent implementation (jwcrypto).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{start, SampleBackend, TestClock};
use remits_evidence::attester::Attester;
use remits_evidence::binding::{HashAlg, RuntimeData};
use remits_kbs::client::{AdminClient, ClientError, ClientOptions, KbsClient, SampleAttester};
use remits_kbs::jwe::{JweMessage, TeeKeyAlgorithm, TeeKeyPair};
use remits_kbs::server::Settings;
use remits_kbs::Compat;
use serde_json::{json, Value};

const SECRET: &[u8] = b"the launch key \x00\x01\x02";

async fn broker(settings: Settings) -> (common::Running, Arc<TestClock>, Arc<SampleBackend>) {
    let clock = TestClock::new();
    let backend = SampleBackend::new(clock.clone());
    let r = start(backend.clone(), clock.clone(), settings).await;
    let admin = AdminClient::new(
        &r.url(),
        remits_kbs::admin::AdminSigningKey::from_pem(&r.admin_key.to_pem().unwrap()).unwrap(),
        &ClientOptions::default(),
    )
    .unwrap();
    admin
        .put_resource("default/key/1", SECRET.to_vec())
        .await
        .unwrap();
    admin
        .put_resource("denied/key/1", SECRET.to_vec())
        .await
        .unwrap();
    (r, clock, backend)
}

/// A hand-driven session: auth, then the pieces of an attestation.
struct Manual {
    http: reqwest::Client,
    base: String,
    cookie: String,
    nonce: String,
    key: TeeKeyPair,
}

impl Manual {
    async fn auth(base: &str) -> Self {
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{base}/kbs/v0/auth"))
            .json(&json!({"version":"0.4.0","tee":"sample","extra-params":{}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly"));
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let ch: Value = resp.json().await.unwrap();
        let nonce = ch["nonce"].as_str().unwrap().to_owned();
        assert_eq!(nonce.len(), 44, "32 bytes, std base64 with padding");
        assert_eq!(ch["extra-params"], json!(""));
        Self {
            http,
            base: base.into(),
            cookie,
            nonce,
            key: TeeKeyPair::generate(TeeKeyAlgorithm::EcP256, &mut rand::rngs::OsRng).unwrap(),
        }
    }

    fn body(&self, nonce: &str) -> Value {
        let rd = RuntimeData {
            nonce: nonce.into(),
            tee_pubkey: self.key.public_jwk(),
            additional_evidence: String::new(),
        };
        let ev = SampleAttester
            .evidence(&rd.digest(HashAlg::Sha384).unwrap())
            .unwrap();
        json!({"init-data": null, "runtime-data": {"nonce": nonce, "tee-pubkey": rd.tee_pubkey},
               "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}})
    }

    async fn attest_with(&self, cookie: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/kbs/v0/attest", self.base))
            .header("cookie", cookie)
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, cookie: Option<&str>, bearer: Option<&str>) -> (u16, Value) {
        let mut r = self
            .http
            .get(format!("{}/kbs/v0/resource/{path}", self.base));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn err_type(v: &Value) -> &str {
    v["type"]
        .as_str()
        .unwrap()
        .strip_prefix("https://github.com/confidential-containers/kbs/errors/")
        .unwrap()
}

#[tokio::test]
async fn full_handshake_with_client() {
    let (r, _clock, _) = broker(Settings::default()).await;
    for alg in [
        TeeKeyAlgorithm::EcP256,
        TeeKeyAlgorithm::EcP521,
        TeeKeyAlgorithm::Rsa2048,
    ] {
        let mut c = KbsClient::new(
            &r.url(),
            ClientOptions {
                key_algorithm: alg,
                ..Default::default()
            },
        )
        .unwrap();
        let got = c
            .get_resource("default/key/1", &SampleAttester)
            .await
            .unwrap();
        assert_eq!(&got[..], SECRET, "{alg:?}");
        // Same session, second resource fetch without re-attesting.
        let again = c
            .get_resource("default/key/1", &SampleAttester)
            .await
            .unwrap();
        assert_eq!(&again[..], SECRET);
    }
    let m = reqwest::get(format!("{}/metrics", r.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("kbs_attest_total{result=\"ok\"} 3"), "{m}");
    assert!(
        m.contains("kbs_resource_total{outcome=\"released\"} 6"),
        "{m}"
    );
    let h = reqwest::get(format!("{}/healthz", r.url())).await.unwrap();
    assert_eq!(h.status(), 200);
}

#[tokio::test]
async fn unauthenticated_get_is_401_first() {
    let (r, _, _) = broker(Settings::default()).await;
    let m = Manual::auth(&r.url()).await;
    let (st, body) = m.get("default/key/1", None, None).await;
    assert_eq!(st, 401);
    assert_eq!(err_type(&body), "TokenNotFound");
    // Even for a resource that does not exist: authentication comes first.
    assert_eq!(m.get("default/key/none", None, None).await.0, 401);
    // Invalid paths are 404 InvalidRequestPath.
    let (st, body) = m.get("default/key", None, None).await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&body), "InvalidRequestPath");
    assert_eq!(m.get(".hidden/key/1", None, None).await.0, 404);
    let r2 = reqwest::get(format!("{}/kbs/v0/nope", r.url()))
        .await
        .unwrap();
    assert_eq!(r2.status(), 404);
}

#[tokio::test]
async fn protocol_version_must_be_exact() {
    let (r, _, _) = broker(Settings::default()).await;
    for v in ["0.4.1", "0.3.0", "", "0.4"] {
        let resp = reqwest::Client::new()
            .post(format!("{}/kbs/v0/auth", r.url()))
            .json(&json!({"version": v, "tee":"sample","extra-params":{}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "version {v:?}");
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/auth", r.url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(err_type(&body), "SerdeError");
}

#[tokio::test]
async fn nonce_is_used_once_and_bound() {
    let (r, _, backend) = broker(Settings::default()).await;
    let m = Manual::auth(&r.url()).await;
    // Wrong nonce.
    let (st, _) = m.attest_with(&m.cookie, &m.body(&"A".repeat(44))).await;
    assert_eq!(st, 401);
    // Right one.
    let body = m.body(&m.nonce);
    let (st, tok) = m.attest_with(&m.cookie, &body).await;
    assert_eq!(st, 200, "{tok}");
    // Replayed attestation on the same session: refused without re-verifying.
    let calls = backend
        .attest_calls
        .load(std::sync::atomic::Ordering::SeqCst);
    let (st, e) = m.attest_with(&m.cookie, &body).await;
    assert_eq!(st, 401);
    assert!(
        e["detail"].as_str().unwrap().contains("already used"),
        "{e}"
    );
    assert_eq!(
        backend
            .attest_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        calls
    );
    // Replayed on a fresh session: its nonce differs.
    let m2 = Manual::auth(&r.url()).await;
    assert_eq!(m2.attest_with(&m2.cookie, &body).await.0, 401);
    // Evidence binding a different key than the one sent is refused.
    let mut forged = m2.body(&m2.nonce);
    forged["runtime-data"]["tee-pubkey"] = m.key.public_jwk();
    assert_eq!(m2.attest_with(&m2.cookie, &forged).await.0, 401);
    // No cookie / malformed cookie.
    assert_eq!(m2.attest_with("", &m2.body(&m2.nonce)).await.0, 401);
    assert_eq!(
        m2.attest_with("kbs-session-id=../../x", &m2.body(&m2.nonce))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn expired_session_refused() {
    let settings = Settings {
        session_ttl: Duration::from_secs(60),
        ..Default::default()
    };
    let (r, clock, _) = broker(settings).await;
    // Expired before attestation.
    let m = Manual::auth(&r.url()).await;
    clock.advance(Duration::from_secs(61));
    assert_eq!(m.attest_with(&m.cookie, &m.body(&m.nonce)).await.0, 401);
    // Expired after attestation.
    let m = Manual::auth(&r.url()).await;
    assert_eq!(m.attest_with(&m.cookie, &m.body(&m.nonce)).await.0, 200);
    assert_eq!(m.get("default/key/1", Some(&m.cookie), None).await.0, 200);
    clock.advance(Duration::from_secs(61));
    let (st, e) = m.get("default/key/1", Some(&m.cookie), None).await;
    assert_eq!(st, 401);
    assert!(e["detail"].as_str().unwrap().contains("expired"), "{e}");
}

#[tokio::test]
async fn cookie_of_another_session_refused() {
    let (r, _, _) = broker(Settings::default()).await;
    let a = Manual::auth(&r.url()).await;
    let b = Manual::auth(&r.url()).await;
    // b's evidence (bound to b's nonce) presented with a's cookie.
    assert_eq!(a.attest_with(&a.cookie, &b.body(&b.nonce)).await.0, 401);
    // a attests properly; b's (unattested) cookie gets nothing.
    assert_eq!(a.attest_with(&a.cookie, &a.body(&a.nonce)).await.0, 200);
    assert_eq!(b.get("default/key/1", Some(&b.cookie), None).await.0, 401);
    // Two session cookies at once are refused.
    let both = format!("{}; {}", a.cookie, b.cookie);
    assert_eq!(a.get("default/key/1", Some(&both), None).await.0, 401);
    // An unknown (well-formed) session id.
    let unknown = "kbs-session-id=0123456789abcdef0123456789abcdef";
    assert_eq!(a.get("default/key/1", Some(unknown), None).await.0, 401);
}

#[tokio::test]
async fn token_for_another_tee_key_refused_and_passport_works() {
    let (r, _, _) = broker(Settings::default()).await;
    let a = Manual::auth(&r.url()).await;
    let (_, ta) = a.attest_with(&a.cookie, &a.body(&a.nonce)).await;
    let b = Manual::auth(&r.url()).await;
    let (_, tb) = b.attest_with(&b.cookie, &b.body(&b.nonce)).await;
    let (ta, tb) = (ta["token"].as_str().unwrap(), tb["token"].as_str().unwrap());
    // a's session with b's token: bound to another TEE key.
    let (st, e) = a.get("default/key/1", Some(&a.cookie), Some(tb)).await;
    assert_eq!(st, 401);
    assert_eq!(err_type(&e), "TokenVerifierError");
    // Passport: bearer token alone; the JWE is for the token's key only.
    let (st, jwe) = a.get("default/key/1", None, Some(ta)).await;
    assert_eq!(st, 200);
    let jwe: JweMessage = serde_json::from_value(jwe).unwrap();
    assert_eq!(&a.key.decrypt(&jwe).unwrap()[..], SECRET);
    assert!(b.key.decrypt(&jwe).is_err());
    // Via the client API too.
    let c = KbsClient::new(&r.url(), ClientOptions::default()).unwrap();
    let got = c
        .get_resource_with_token("default/key/1", ta, &a.key)
        .await
        .unwrap();
    assert_eq!(&got[..], SECRET);
    // A forged token.
    assert_eq!(a.get("default/key/1", None, Some("deadbeef")).await.0, 401);
}

#[tokio::test]
async fn policy_deny_403_missing_404_and_trustee_statuses() {
    let (r, _, _) = broker(Settings::default()).await;
    let mut c = KbsClient::new(&r.url(), ClientOptions::default()).unwrap();
    match c.get_resource("denied/key/1", &SampleAttester).await {
        Err(ClientError::Denied { status: 403, .. }) => {}
        other => panic!("{other:?}"),
    }
    match c.get_resource("default/key/absent", &SampleAttester).await {
        Err(ClientError::Denied { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    let (t, _, _) = broker(Settings {
        compat: Compat::Trustee,
        ..Default::default()
    })
    .await;
    let mut c = KbsClient::new(&t.url(), ClientOptions::default()).unwrap();
    for p in ["denied/key/1", "default/key/absent"] {
        match c.get_resource(p, &SampleAttester).await {
            Err(ClientError::Denied { status: 401, .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        &c.get_resource("default/key/1", &SampleAttester)
            .await
            .unwrap()[..],
        SECRET
    );
}

#[tokio::test]
async fn admin_api_requires_signed_jwt() {
    let (r, _, _) = broker(Settings::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/kbs/v0/resource/default/key/2", r.url());
    // No token.
    let resp = http.post(&url).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(err_type(&body), "AdminAuthAccess");
    // A key that is not configured.
    let other = AdminClient::new(
        &r.url(),
        remits_kbs::admin::AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng),
        &ClientOptions::default(),
    )
    .unwrap();
    match other.put_resource("default/key/2", b"x".to_vec()).await {
        Err(ClientError::Denied { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Expired token from the right key.
    let old = r.admin_key.mint(
        std::time::SystemTime::now() - Duration::from_secs(3000),
        Duration::from_secs(60),
    );
    let resp = http
        .post(&url)
        .bearer_auth(old)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Policies: bad base64 and bad Rego are 400; good ones 200.
    let good = r
        .admin_key
        .mint(std::time::SystemTime::now(), Duration::from_secs(60));
    let pol = format!("{}/kbs/v0/resource-policy", r.url());
    let resp = http
        .post(&pol)
        .bearer_auth(&good)
        .json(&json!({"policy":"!!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = http
        .post(&pol)
        .bearer_auth(&good)
        .json(&json!({"policy": "bm90IHJlZ28"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let admin = AdminClient::new(
        &r.url(),
        remits_kbs::admin::AdminSigningKey::from_pem(&r.admin_key.to_pem().unwrap()).unwrap(),
        &ClientOptions::default(),
    )
    .unwrap();
    admin
        .set_resource_policy("package policy\ndefault allow := true")
        .await
        .unwrap();
    admin
        .set_attestation_policy("default_cpu", "package policy\n")
        .await
        .unwrap();
    admin
        .register_reference_values(b"{}".to_vec())
        .await
        .unwrap();
    admin.delete_resource("default/key/1").await.unwrap();
    match admin.delete_resource("default/key/1").await {
        Err(ClientError::Denied { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn admin_api_disabled_without_keys() {
    let clock = TestClock::new();
    let backend = SampleBackend::new(clock.clone());
    let store: Arc<dyn remits_store::Store> = Arc::new(remits_store::MemoryStore::new());
    let r = common::start_opts(
        backend,
        clock,
        Settings::default(),
        store.clone(),
        store,
        false,
    )
    .await;
    let jwt = r
        .admin_key
        .mint(std::time::SystemTime::now(), Duration::from_secs(60));
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/resource/default/key/1", r.url()))
        .bearer_auth(jwt)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
}

#[tokio::test]
async fn body_limit_enforced() {
    let (r, _, _) = broker(Settings {
        max_body_bytes: 4096,
        ..Default::default()
    })
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/kbs/v0/auth", r.url()))
        .header("content-type", "application/json")
        .body(vec![b' '; 10_000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

/// Decrypts with jwcrypto (Python): an independent JOSE implementation.
fn jwcrypto_decrypt(private_jwk: &str, jwe: &str) -> Option<Vec<u8>> {
    let script = r#"
import sys, json
from jwcrypto import jwk, jwe
key = jwk.JWK.from_json(sys.argv[1])
tok = jwe.JWE()
tok.deserialize(sys.stdin.read(), key=key)
sys.stdout.write(tok.payload.hex())
"#;
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jwcrypto"])
        .output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        if std::env::var_os("CI").is_some() {
            panic!("python3 with jwcrypto is required in CI (pip install jwcrypto)");
        }
        println!("SKIPPED: python3 + jwcrypto not available (pip install jwcrypto)");
        return None;
    }
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, private_jwk])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jwe.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "jwcrypto failed: {out:?}");
    Some(hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap())
}

#[tokio::test]
async fn jwe_decrypts_with_jwcrypto() {
    let (r, _, _) = broker(Settings::default()).await;
    for alg in [
        TeeKeyAlgorithm::EcP256,
        TeeKeyAlgorithm::EcP521,
        TeeKeyAlgorithm::Rsa2048,
    ] {
        let mut m = Manual::auth(&r.url()).await;
        m.key = TeeKeyPair::generate(alg, &mut rand::rngs::OsRng).unwrap();
        assert_eq!(m.attest_with(&m.cookie, &m.body(&m.nonce)).await.0, 200);
        let (st, jwe) = m.get("default/key/1", Some(&m.cookie), None).await;
        assert_eq!(st, 200);
        let Some(plain) = jwcrypto_decrypt(&m.key.private_jwk(), &jwe.to_string()) else {
            return;
        };
        assert_eq!(plain, SECRET, "{alg:?}");
    }
}
