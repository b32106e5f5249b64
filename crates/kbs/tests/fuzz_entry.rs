//! The `kbs_request`, `admin_jwt` and `broker_config` fuzz entries over seeds (real protocol
//! messages, minted admin tokens, the shipped broker configurations) and bounded deterministic
//! mutations, under the allocation cap: nothing panics, no input allocates more than the cap.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use std::time::{Duration, UNIX_EPOCH};

use remits_kbs::fuzzing;

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

fn repo(p: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(p),
    )
    .unwrap()
}

#[test]
fn admin_jwt_entry_survives_minted_tokens_and_mutations() {
    let _serial = alloc_cap::serial();
    let now = UNIX_EPOCH + Duration::from_secs(fuzzing::ADMIN_NOW_SECS - 60);
    let token = fuzzing::admin_key().mint(now, Duration::from_secs(600));
    let mut runs = 0;
    for seed in [
        format!("Bearer {token}"),
        token.clone(),
        format!("Bearer {}", token.replace('.', "..")),
    ] {
        runs += alloc_cap::exercise("admin jwt", seed.as_bytes(), 600, fuzzing::admin_jwt);
    }
    // A header declaring a huge JSON body in a small token: bounded by the token.
    let big = format!("Bearer {}.e30.AAAA", "eyJ".repeat(300_000));
    runs += alloc_cap::exercise("long admin jwt", big.as_bytes(), 5, fuzzing::admin_jwt);
    assert!(runs > 1500, "{runs}");
}

#[test]
fn broker_config_entry_survives_shipped_configs_and_mutations() {
    let _serial = alloc_cap::serial();
    let mut runs = 0;
    for f in ["deploy/broker.toml", "deploy/broker-replica.toml"] {
        let seed = repo(f);
        runs += alloc_cap::exercise(f, &seed, 800, fuzzing::broker_config);
    }
    // Hostile sizes: deep nesting, a 1 MiB string, a huge declared integer.
    let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long = format!("listen = \"{}\"", "a".repeat(1 << 20));
    for (name, h) in [
        ("deep arrays", deep.as_str()),
        ("1 MiB string", long.as_str()),
        (
            "huge integer",
            "max_body_bytes = 99999999999999999999999999999",
        ),
    ] {
        runs += alloc_cap::exercise(name, h.as_bytes(), 3, fuzzing::broker_config);
    }
    assert!(runs > 1600, "{runs}");
}

#[test]
fn request_entry_survives_protocol_messages_and_mutations() {
    let _serial = alloc_cap::serial();
    let mut runs = 0;
    for seed in [
        &br#"{"version":"0.4.0","tee":"snp","extra-params":{}}"#[..],
        br#"{"init-data":{"format":"toml","body":"algorithm = \"sha384\"\n"},"runtime-data":{"nonce":"n","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"AA","y":"AA"}},"tee-evidence":{"primary_evidence":{},"additional_evidence":""}}"#,
        b"default/key/1",
        br#"{"protected":"e30","encrypted_key":"","iv":"","ciphertext":"","tag":""}"#,
    ] {
        runs += alloc_cap::exercise("kbs request", seed, 400, fuzzing::request);
    }
    assert!(runs > 1600, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set).
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    let w = alloc_cap::write_seed;
    let now = UNIX_EPOCH + Duration::from_secs(fuzzing::ADMIN_NOW_SECS - 60);
    let token = fuzzing::admin_key().mint(now, Duration::from_secs(600));
    w("admin_jwt", "bearer", format!("Bearer {token}").as_bytes());
    w(
        "admin_jwt",
        "expired",
        fuzzing::admin_key()
            .mint(UNIX_EPOCH, Duration::from_secs(600))
            .as_bytes(),
    );
    for f in ["deploy/broker.toml", "deploy/broker-replica.toml"] {
        w("broker_config", f.trim_start_matches("deploy/"), &repo(f));
    }
    for (i, seed) in [
        &br#"{"version":"0.4.0","tee":"snp","extra-params":{}}"#[..],
        br#"{"init-data":{"format":"toml","body":"algorithm = \"sha384\"\n"},"runtime-data":{"nonce":"n","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"AA","y":"AA"}},"tee-evidence":{"primary_evidence":{},"additional_evidence":""}}"#,
        b"default/key/1",
        br#"{"protected":"e30","encrypted_key":"","iv":"","ciphertext":"","tag":""}"#,
    ]
    .iter()
    .enumerate()
    {
        w("kbs_request", &format!("message-{i}"), seed);
    }
}
