//! trustee admin parity against the real `remits-broker` on 127.0.0.1:
//! `GET /kbs/v0/reference-value/<id>` as trustee's `kbs-client config get-reference-value`
//! sends it, the admin-only resource listing `GET /kbs/v0/resource`, the dev admin key loading
//! in OpenSSL, and `compat = "trustee"`: a non-affirming attestation gets its token and the
//! resource policy decides, while the default mode refuses at `/attest`.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use remits_evidence::attester::Attester;
use remits_evidence::binding::{HashAlg, RuntimeData};
use remits_kbs::admin::AdminSigningKey;
use remits_kbs::client::SampleAttester;
use remits_kbs::jwe::{JweMessage, TeeKeyAlgorithm, TeeKeyPair};
use remits_testsupport::broker;
use remits_testsupport::net::free_port;
use remits_testsupport::process::Proc;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_remits-broker");

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn start_dev(dir: &Path) -> Proc {
    broker::start_dev(bin(), dir)
}

fn admin(url: &str, key: &Path, args: &[&str]) -> std::process::Output {
    broker::admin(bin(), url, key, args)
}

fn admin_ok(url: &str, key: &Path, args: &[&str]) -> String {
    broker::admin_ok(bin(), url, key, args)
}

fn put(url: &str, key: &Path, path: &str, value: &[u8], tmp: &Path) {
    broker::put(bin(), url, key, path, value, tmp)
}

fn set_resource_policy(url: &str, key: &Path, rego: &str, tmp: &Path) {
    let f = tmp.join("resource.rego");
    std::fs::write(&f, rego).unwrap();
    admin_ok(url, key, &["set-resource-policy", f.to_str().unwrap()]);
}

/// A fresh admin JWT signed with the key in `pem_file` (what an operator hands to
/// `kbs-client --admin-token`).
fn admin_jwt(pem_file: &Path) -> String {
    let k = AdminSigningKey::from_pem(&std::fs::read_to_string(pem_file).unwrap()).unwrap();
    k.mint(SystemTime::now(), Duration::from_secs(300))
}

#[tokio::test(flavor = "multi_thread")]
async fn get_reference_value_and_resource_listing_as_trustee_serves_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let dev = d.join("dev");
    let b = start_dev(&dev);
    let key = dev.join("admin-key.pem");

    // The dev admin key is PKCS#8 v1: OpenSSL 3.0 loads it.
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&key)
        .output();
    match out {
        Ok(o) => assert!(o.status.success(), "openssl pkey -in admin-key.pem: {o:?}"),
        Err(e) => println!("SKIPPED openssl: {e}"),
    }

    let rv = d.join("rv.json");
    std::fs::write(
        &rv,
        r#"{"snp_launch_measurement": ["aa11", "bb22"], "svn": 3}"#,
    )
    .unwrap();
    admin_ok(
        &b.url,
        &key,
        &["register-reference-values", rv.to_str().unwrap()],
    );

    // Exactly what trustee's kbs-client `config get-reference-value <id>` sends
    // (tools/kbs-client/src/lib.rs `get_rv`): GET, Content-Type: application/json, bearer
    // admin token, no body; it prints the body of a 200 as text.
    let http = reqwest::Client::builder()
        .user_agent("kbs-client/0.1.0")
        .build()
        .unwrap();
    let jwt = admin_jwt(&key);
    let resp = http
        .get(format!(
            "{}/kbs/v0/reference-value/snp_launch_measurement",
            b.url
        ))
        .header("Content-Type", "application/json")
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let text = resp.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!(["aa11", "bb22"])
    );
    // A scalar is registered as a one-element list.
    let v: Value = http
        .get(format!("{}/kbs/v0/reference-value/svn", b.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!([3]));
    // Unknown id: 404 (remits mode). Without the admin token: 401.
    let st = http
        .get(format!("{}/kbs/v0/reference-value/nothing", b.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 404);
    let st = http
        .get(format!("{}/kbs/v0/reference-value/svn", b.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    // The remits CLI prints the same JSON.
    let out = admin_ok(
        &b.url,
        &key,
        &["get-reference-value", "snp_launch_measurement"],
    );
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!(["aa11", "bb22"])
    );

    // Listing: admin only, paths sorted, never values.
    put(&b.url, &key, "default/b/2", b"two", d);
    put(&b.url, &key, "default/a/1", b"one", d);
    let resp = http
        .get(format!("{}/kbs/v0/resource", b.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    assert_eq!(list, json!(["default/a/1", "default/b/2"]));
    let st = http
        .get(format!("{}/kbs/v0/resource", b.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    // A forged (unsigned) token is refused too.
    let forged = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"role":"admin","exp":99999999999}"#)
    );
    let st = http
        .get(format!("{}/kbs/v0/resource", b.url))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, 401);
    assert_eq!(
        admin_ok(&b.url, &key, &["list-resources"]),
        "default/a/1\ndefault/b/2\n"
    );
    // With --issuer/--audience the CLI's tokens still pass (no iss/aud configured here).
    admin_ok(
        &b.url,
        &key,
        &["--issuer", "ops-idp", "--audience", "kbs", "list-resources"],
    );
}

/// `/auth` + `/attest` with the sample TEE: `(status of /attest, cookie, key, body)`.
async fn sample_attest(http: &reqwest::Client, url: &str) -> (u16, String, TeeKeyPair, String) {
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
    let st = resp.status().as_u16();
    (st, cookie, kp, resp.text().await.unwrap())
}

async fn fetch(http: &reqwest::Client, url: &str, cookie: &str, path: &str) -> (u16, String) {
    let resp = http
        .get(format!("{url}/kbs/v0/resource/{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The resource policy of both brokers: release only to affirming tokens.
const AFFIRMING_ONLY: &str = "package policy\nimport rego.v1\ndefault allow := false\nallow if {\n\tcount(input.submods) > 0\n\tevery _, sub in input.submods {\n\t\tsub[\"ear.status\"] == \"affirming\"\n\t}\n}\n";

#[tokio::test(flavor = "multi_thread")]
async fn trustee_mode_returns_the_token_and_the_resource_policy_decides() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let http = reqwest::Client::new();
    // A reference value the sample evidence does not match: the appraisal is not affirming.
    let rv = d.join("rv.json");
    std::fs::write(&rv, r#"{"launch_digest": ["not-the-sample"]}"#).unwrap();

    // Default mode: refused at /attest.
    let dev = d.join("dev");
    let b = start_dev(&dev);
    let key = dev.join("admin-key.pem");
    put(&b.url, &key, "default/t/1", b"released", d);
    admin_ok(
        &b.url,
        &key,
        &["register-reference-values", rv.to_str().unwrap()],
    );
    let (st, _, _, body) = sample_attest(&http, &b.url).await;
    assert_eq!(
        st, 403,
        "default mode refuses a non-affirming appraisal: {body}"
    );
    assert!(
        body.contains("PolicyDeny") && body.contains("launch_digest"),
        "{body}"
    );
    drop(b);

    // compat = "trustee": the token comes back; the resource policy decides.
    let k = AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
    let (adm, adm_pub) = (d.join("admin.pem"), d.join("admin.pub.pem"));
    std::fs::write(&adm, k.to_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&adm_pub, k.public_pem().unwrap()).unwrap();
    let port = free_port();
    let cfg = d.join("broker.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:{port}"
compat = "trustee"
[storage]
backend = "memory"
[admin]
issuer = "remits-admin"
[[admin.keys]]
name = "t"
public_key = "{}"
[attestation]
allow_sample = true
attestation_policy = "development"
"#,
            adm_pub.display()
        ),
    )
    .unwrap();
    let b = broker::start_config(bin(), &cfg, &format!("http://127.0.0.1:{port}"));
    put(&b.url, &adm, "default/t/1", b"released", d);
    admin_ok(
        &b.url,
        &adm,
        &["register-reference-values", rv.to_str().unwrap()],
    );
    // The broker checks `iss` when configured: a token naming another issuer is refused.
    let out = admin(
        &b.url,
        &adm,
        &["--issuer", "someone-else", "list-resources"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    let (st, cookie, kp, body) = sample_attest(&http, &b.url).await;
    assert_eq!(st, 200, "trustee mode returns the token: {body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let statuses: Vec<&str> = claims["submods"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["ear.status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.iter().any(|s| *s != "affirming"),
        "the token records the non-affirming appraisal: {statuses:?}"
    );

    // A policy that wants affirming tokens refuses (trustee's status: 401, PolicyDeny) ...
    set_resource_policy(&b.url, &adm, AFFIRMING_ONLY, d);
    let (st, body) = fetch(&http, &b.url, &cookie, "default/t/1").await;
    assert_eq!(st, 401, "{body}");
    assert!(body.contains("PolicyDeny"), "{body}");
    // ... one that does not care releases the resource to the same session.
    set_resource_policy(&b.url, &adm, "package policy\ndefault allow := true\n", d);
    let (st, body) = fetch(&http, &b.url, &cookie, "default/t/1").await;
    assert_eq!(st, 200, "{body}");
    let jwe: JweMessage = serde_json::from_str(&body).unwrap();
    assert_eq!(&kp.decrypt(&jwe).unwrap()[..], b"released");
    // Unknown reference value id in trustee mode: 200 `null`, as trustee serialises None.
    let resp = http
        .get(format!("{}/kbs/v0/reference-value/nothing", b.url))
        .bearer_auth(k.mint(SystemTime::now(), Duration::from_secs(60)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "null");
}
