//! EAR token sign/verify: roundtrip, tamper, expiry, algorithm and issuer pinning.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::SigningKey;
use remits_verify::token::{tee_pubkey, TokenSigner, TokenVerifier, EAT_PROFILE};
use serde_json::{json, Map, Value};

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn setup() -> (TokenSigner, TokenVerifier, String) {
    let s = TokenSigner::new(
        SigningKey::from_slice(&[3u8; 32]).unwrap(),
        "iss-a",
        Duration::from_secs(300),
    );
    let v = TokenVerifier::new(s.verifying_key(), "iss-a");
    let mut claims = Map::new();
    claims.insert(
        "submods".into(),
        json!({"cpu0": {"ear.status": "affirming",
        "ear.veraison.annotated-evidence": {"runtime_data_claims": {"tee-pubkey": {"kty": "EC"}},
            "remits_binding": {"kind": "runtime-data", "report_data_checked": true}}}}),
    );
    let tok = s.sign(claims, t0()).unwrap();
    (s, v, tok)
}

fn parts(tok: &str) -> (Value, Value, String) {
    let p: Vec<&str> = tok.split('.').collect();
    (
        serde_json::from_slice(&B64.decode(p[0]).unwrap()).unwrap(),
        serde_json::from_slice(&B64.decode(p[1]).unwrap()).unwrap(),
        p[2].to_string(),
    )
}

fn enc(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn roundtrip() {
    let (_, v, tok) = setup();
    let c = v.verify(&tok, t0() + Duration::from_secs(10)).unwrap();
    assert_eq!(c["iss"], "iss-a");
    assert_eq!(c["eat_profile"], EAT_PROFILE);
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
    assert_eq!(tee_pubkey(&c).unwrap(), json!({"kty": "EC"}));
    // A key the token does not record as bound (another binding, or unchecked) names nobody.
    let ae = "/submods/cpu0/ear.veraison.annotated-evidence/remits_binding";
    for (field, value) in [
        ("kind", json!("report-data")),
        ("report_data_checked", json!(false)),
    ] {
        let mut unbound = c.clone();
        unbound.pointer_mut(ae).unwrap()[field] = value;
        assert_eq!(tee_pubkey(&unbound), None, "{field}");
    }
    let (h, _, _) = parts(&tok);
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["jwk"]["crv"], "P-256");
}

#[test]
fn expiry_and_future_iat() {
    let (_, v, tok) = setup();
    assert!(v
        .verify(&tok, t0() + Duration::from_secs(300))
        .unwrap_err()
        .to_string()
        .contains("expired"));
    assert!(v
        .verify(&tok, t0() - Duration::from_secs(61))
        .unwrap_err()
        .to_string()
        .contains("future"));
}

#[test]
fn tampered_payload_and_signature() {
    let (_, v, tok) = setup();
    let (h, mut c, s) = parts(&tok);
    c["submods"]["cpu0"]["ear.status"] = json!("contraindicated");
    let forged = format!("{}.{}.{}", enc(&h), enc(&c), s);
    assert!(v
        .verify(&forged, t0())
        .unwrap_err()
        .to_string()
        .contains("signature"));
    let mut sig = B64.decode(&s).unwrap();
    sig[5] ^= 1;
    let forged = format!("{}.{}", &tok[..tok.rfind('.').unwrap()], B64.encode(sig));
    assert!(v.verify(&forged, t0()).is_err());
    assert!(v.verify("a.b", t0()).is_err());
    assert!(v.verify(&format!("{tok}.x"), t0()).is_err());
}

#[test]
fn alg_and_key_pinned() {
    let (_, v, tok) = setup();
    let (mut h, c, _) = parts(&tok);
    h["alg"] = json!("none");
    let none = format!("{}.{}.", enc(&h), enc(&c));
    assert!(v
        .verify(&none, t0())
        .unwrap_err()
        .to_string()
        .contains("alg"));
    h["alg"] = json!("HS256");
    let hs = format!("{}.{}.AAAA", enc(&h), enc(&c));
    assert!(v.verify(&hs, t0()).unwrap_err().to_string().contains("alg"));
    // A token signed by another key (with its own jwk header) is refused.
    let other = TokenSigner::new(
        SigningKey::from_slice(&[4u8; 32]).unwrap(),
        "iss-a",
        Duration::from_secs(300),
    );
    let t = other.sign(Map::new(), t0()).unwrap();
    assert!(v
        .verify(&t, t0())
        .unwrap_err()
        .to_string()
        .contains("pinned"));
    // Right key, wrong issuer.
    let v2 = TokenVerifier::new(
        SigningKey::from_slice(&[3u8; 32])
            .unwrap()
            .verifying_key()
            .to_owned(),
        "iss-b",
    );
    assert!(v2
        .verify(&tok, t0())
        .unwrap_err()
        .to_string()
        .contains("iss"));
}
