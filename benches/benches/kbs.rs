//! KBS hot-path pieces: JWE to a TEE key (what every resource GET does), the client-side
//! decrypt, TEE-key parsing, and admin JWT verification.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
// criterion_group!/criterion_main! generate undocumented public functions.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use remits_kbs::admin::{AdminSigningKey, AdminVerifier, NamedKey};
use remits_kbs::jwe::{RecipientKey, TeeKeyAlgorithm, TeeKeyPair};
use remits_kbs::{OsRandom, Rng};

fn bench(c: &mut Criterion) {
    let src = OsRandom;
    for (name, alg) in [
        ("p256", TeeKeyAlgorithm::EcP256),
        ("p521", TeeKeyAlgorithm::EcP521),
        ("rsa2048", TeeKeyAlgorithm::Rsa2048),
    ] {
        let kp = TeeKeyPair::generate(alg, &mut Rng(&src)).unwrap();
        let jwk = kp.public_jwk();
        let rk = RecipientKey::from_jwk(&jwk).unwrap();
        let secret = vec![0x5au8; 64];
        c.bench_function(&format!("kbs/jwe_encrypt_{name}"), |b| {
            b.iter(|| rk.encrypt(&secret, &mut Rng(&src)).unwrap())
        });
        let msg = rk.encrypt(&secret, &mut Rng(&src)).unwrap();
        c.bench_function(&format!("kbs/jwe_decrypt_{name}"), |b| {
            b.iter(|| kp.decrypt(&msg).unwrap())
        });
        c.bench_function(&format!("kbs/tee_key_parse_{name}"), |b| {
            b.iter(|| RecipientKey::from_jwk(&jwk).unwrap())
        });
    }
    let key = AdminSigningKey::generate_ed25519(&mut Rng(&src));
    let v = AdminVerifier::new(
        vec![NamedKey {
            name: "k".into(),
            key: key.public_key(),
        }],
        Duration::from_secs(3600),
    );
    let header = format!(
        "Bearer {}",
        key.mint(SystemTime::now(), Duration::from_secs(300))
    );
    c.bench_function("kbs/admin_jwt_verify_ed25519", |b| {
        b.iter(|| v.verify(Some(&header), SystemTime::now()).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
