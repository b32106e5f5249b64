//! Reference values from `remits-measure` manifests: a signed one is accepted only under a
//! configured signer key, and its ENCLAVE ID then lets the matching TPM evidence through.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::collections::BTreeMap;
use std::sync::Arc;

use remits_evidence::clock::SystemClock;
use remits_manifest::enclave_id::{enclave_id_v1, PCRS_V1, VERSION};
use remits_manifest::events::{replay_all, Event};
use remits_manifest::manifest::{Hex32, Manifest, FORMAT, FORMAT_VERSION};
use remits_manifest::signing::SigningKey;
use remits_store::MemoryStore;
use remits_verify::{AttestationService, Error, ServiceConfig};
use serde_json::{json, Value};

fn manifest(key: Option<&SigningKey>) -> Manifest {
    let mut events: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
    for i in [4u32, 5, 9, 11] {
        events.insert(i, Vec::new());
    }
    events.insert(
        15,
        vec![Event::new(
            "EV_EVENT_TAG",
            "remits.pcr15.version",
            [1u8; 32],
        )],
    );
    events.insert(
        16,
        match key {
            Some(k) => vec![k.public_key().pcr16_event().unwrap()],
            None => Vec::new(),
        },
    );
    let pcrs = replay_all(&events);
    let id = enclave_id_v1(&pcrs).unwrap();
    let mut m = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        tool_version: "test".into(),
        bank: "sha256".into(),
        boot_chain: "uki".into(),
        pcrs: pcrs.into_iter().map(|(k, v)| (k, Hex32(v))).collect(),
        enclave_id: Hex32(id),
        enclave_id_version: VERSION,
        enclave_id_pcrs: PCRS_V1.to_vec(),
        events,
        signature: None,
    };
    if let Some(k) = key {
        m.sign(k).unwrap();
    }
    m
}

async fn service(signers: Vec<std::path::PathBuf>) -> AttestationService {
    let cfg = ServiceConfig {
        manifest_signers: signers,
        ..ServiceConfig::default()
    };
    AttestationService::new(cfg, Arc::new(MemoryStore::new()), Arc::new(SystemClock))
        .await
        .unwrap()
}

fn pub_pem(dir: &std::path::Path, name: &str, k: &SigningKey) -> std::path::PathBuf {
    use base64::Engine as _;
    let der = k.public_key().spki_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let b64 = lines.join("\n");
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"),
    )
    .unwrap();
    p
}

#[tokio::test]
async fn signed_manifest_only_under_configured_key() {
    let Some(td) = remits_testsupport::testdata::dir() else {
        return;
    };
    let key =
        SigningKey::from_pem(&std::fs::read_to_string(td.join("measure/id_key_test.pem")).unwrap())
            .unwrap();
    let other = SigningKey::from_pem(
        &std::fs::read_to_string(td.join("measure/author_key_test.pem")).unwrap(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("remits-manifest-rv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good_pem = pub_pem(&dir, "signer.pem", &key);
    let other_pem = pub_pem(&dir, "other.pem", &other);

    let signed = manifest(Some(&key));
    let bytes = signed.to_json().unwrap();

    // Accepted under the configured key: ENCLAVE ID, PCR11 and the PCR16 signer are registered.
    let svc = service(vec![good_pem.clone()]).await;
    let rv = svc.register_manifest(&bytes, None).await.unwrap();
    let id = json!(hex::encode(signed.enclave_id.0));
    assert_eq!(rv.get("enclave_id").unwrap(), std::slice::from_ref(&id));
    assert_eq!(
        rv.get("tpm_trusted_signer").unwrap(),
        &[json!(hex::encode(signed.pcrs[&16].0))]
    );
    assert!(svc
        .reference_values()
        .get("enclave_id")
        .unwrap()
        .contains(&id));

    // Under another key, tampered, unsigned-with-keys, signed-without-keys: refused.
    let svc_other = service(vec![other_pem]).await;
    assert!(matches!(
        svc_other.register_manifest(&bytes, None).await,
        Err(Error::ReferenceValues(_))
    ));
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    v["tool_version"] = json!("tampered");
    let tampered = serde_json::to_vec(&v).unwrap();
    assert!(svc.register_manifest(&tampered, None).await.is_err());
    let unsigned = manifest(None).to_json().unwrap();
    assert!(svc.register_manifest(&unsigned, None).await.is_err());
    let svc_none = service(Vec::new()).await;
    assert!(svc_none.register_manifest(&bytes, None).await.is_err());
    // Unsigned, with no signer configured: the operator's own prediction, no signer value.
    let rv = svc_none.register_manifest(&unsigned, None).await.unwrap();
    assert!(rv.get("enclave_id").is_some());
    assert!(rv.get("tpm_trusted_signer").is_none());
    // Inconsistent (ENCLAVE ID does not match the PCRs): refused even unsigned.
    let mut v: Value = serde_json::from_slice(&unsigned).unwrap();
    v["enclave_id"] = json!("00".repeat(32));
    assert!(svc_none
        .register_manifest(&serde_json::to_vec(&v).unwrap(), None)
        .await
        .is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
