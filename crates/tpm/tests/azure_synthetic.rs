//! The Azure SNP vTPM checks that real captures cannot reach (they all pass them): complete
//! evidence is built here from the SNP simulator's chain (trusted only as an explicit extra
//! anchor), a fresh RSA attestation key, runtime claims, an HCL report and a signed quote.
//! The genuine build verifies; a report at VMPL 1, non-zero report_data after the claims hash,
//! a v2 user-data without the nonce, a relabelled PCR selection and AMD-only trust anchors are
//! each rejected with their own error.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use base64::Engine as _;
use rand::SeedableRng;
use remits_sim::{ReportParams, SimChain};
use remits_tpm::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence};
use remits_tpm::{Error, HashAlg, NonceCheck};
use rsa::traits::PublicKeyParts;

const NONCE: &[u8] = b"synthetic nonce: 48 bytes of KBS runtime digest";

struct Fixture {
    chain: SimChain,
    ak: rsa::RsaPrivateKey,
}

fn fixture() -> Fixture {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let chain = SimChain::generate(&mut rng).unwrap();
    let ak = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    Fixture { chain, ak }
}

/// What to build (defaults: a genuine v2 evidence).
struct Build {
    vmpl: u32,
    hash_type: u32,
    report_data_tail: u8,
    user_data_prefix: Vec<u8>,
    /// First quoted PCR (0 = sha256:0–23).
    first_pcr: u32,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            vmpl: 0,
            hash_type: 1,
            report_data_tail: 0,
            user_data_prefix: NONCE.to_vec(),
            first_pcr: 0,
        }
    }
}

fn pcr(i: u32) -> Vec<u8> {
    HashAlg::Sha256.hash(format!("pcr {i}").as_bytes())
}

fn build(f: &Fixture, b: &Build) -> AzSnpVtpmEvidence {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let pubk = f.ak.to_public_key();
    let mut user_data = b.user_data_prefix.clone();
    user_data.resize(64, 0);
    let claims = serde_json::json!({
        "keys": [
            {"kid": "HCLAkPub", "key_ops": ["sign"], "kty": "RSA",
             "e": b64.encode(pubk.e().to_bytes_be()), "n": b64.encode(pubk.n().to_bytes_be())},
        ],
        "vm-configuration": {"console-enabled": false, "secure-boot": true, "tpm-enabled": true,
                             "vmUniqueId": "00000000-0000-0000-0000-000000000000"},
        "user-data": hex::encode_upper(&user_data),
    })
    .to_string()
    .into_bytes();
    let hash = match b.hash_type {
        1 => HashAlg::Sha256,
        2 => HashAlg::Sha384,
        _ => HashAlg::Sha512,
    };
    let mut report_data = hash.hash(&claims);
    report_data.resize(64, b.report_data_tail);
    let params = ReportParams {
        vmpl: b.vmpl,
        ..ReportParams::default()
    };
    let snp = f.chain.report(&params, &report_data).unwrap();

    let var = claims.len() as u32;
    let mut hcl = Vec::new();
    for v in [0x414C_4348u32, 2, 0x4D4 + var, 2, 0, 0, 0, 0] {
        hcl.extend(v.to_le_bytes());
    }
    hcl.extend(&snp);
    for v in [20 + var, 1, 2, b.hash_type, var] {
        hcl.extend(v.to_le_bytes());
    }
    hcl.extend(&claims);
    hcl.resize(2600, 0);

    let pcrs: Vec<Vec<u8>> = (b.first_pcr..24).map(pcr).collect();
    let bitmap: u32 = (b.first_pcr..24).fold(0, |m, i| m | (1 << i));
    let mut msg = Vec::new();
    msg.extend(0xFF54_4347u32.to_be_bytes());
    msg.extend(0x8018u16.to_be_bytes());
    msg.extend(34u16.to_be_bytes());
    msg.extend(0x000Bu16.to_be_bytes());
    msg.extend([0x5A; 32]);
    msg.extend((NONCE.len() as u16).to_be_bytes());
    msg.extend(NONCE);
    msg.extend(1_000_000u64.to_be_bytes());
    msg.extend(3u32.to_be_bytes());
    msg.extend(0u32.to_be_bytes());
    msg.push(1);
    msg.extend(0x2020_0312_0012_0003u64.to_be_bytes());
    msg.extend(1u32.to_be_bytes());
    msg.extend(0x000Bu16.to_be_bytes());
    msg.push(3);
    msg.extend(&bitmap.to_le_bytes()[..3]);
    let digest = HashAlg::Sha256.hash_parts(pcrs.iter().map(Vec::as_slice));
    msg.extend(32u16.to_be_bytes());
    msg.extend(&digest);
    let signature =
        f.ak.sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &HashAlg::Sha256.hash(&msg),
        )
        .unwrap();

    let e = f.chain.endorsement();
    let mut vcek = vec![e.leaf];
    vcek.extend(e.chain);
    AzSnpVtpmEvidence {
        version: 2,
        signature,
        message: msg,
        pcrs,
        hcl_report: hcl,
        vcek,
    }
}

fn sim_verifier(f: &Fixture) -> remits_snp::Verifier {
    remits_snp::Verifier::new(
        remits_snp::TrustAnchors::amd()
            .with_ark(f.chain.ark_der())
            .unwrap(),
    )
}

fn verify(f: &Fixture, e: &AzSnpVtpmEvidence) -> Result<remits_tpm::azure::AzClaims, Error> {
    let opts = remits_snp::VerifyOptions::at(SystemTime::now());
    verify_az_snp_vtpm(e, &sim_verifier(f), &opts, NonceCheck::Expected(NONCE))
}

#[test]
fn synthetic_evidence_checks() {
    let f = fixture();
    // Genuine (SHA-256 and SHA-384 runtime-claims binding; also through the JSON writer).
    let e = build(&f, &Build::default());
    let c = verify(&f, &e).unwrap();
    assert_eq!(c.evidence_version(), 2);
    assert_eq!(c.report_data(), hex::encode(NONCE));
    assert_eq!(
        c.tpm().pcrs().get(HashAlg::Sha256, 8),
        Some(pcr(8).as_slice())
    );
    // v1/v2 JSON carries the VCEK alone (the chain comes from the anchors): put the
    // simulator's ASK back after the round trip.
    let mut again = AzSnpVtpmEvidence::from_value(e.to_json_v1v2()).unwrap();
    assert_eq!(again.vcek[0], e.vcek[0]);
    again.vcek = e.vcek.clone();
    assert_eq!(again, e);
    let _ = verify(&f, &again).unwrap();
    let _ = verify(
        &f,
        &build(
            &f,
            &Build {
                hash_type: 2,
                ..Build::default()
            },
        ),
    )
    .unwrap();

    // The simulator's root is never trusted by default.
    let opts = remits_snp::VerifyOptions::at(SystemTime::now());
    let amd = remits_snp::Verifier::new(remits_snp::TrustAnchors::amd());
    let err = verify_az_snp_vtpm(&e, &amd, &opts, NonceCheck::Expected(NONCE)).unwrap_err();
    assert!(matches!(err, Error::Snp(_)), "{err}");

    // A report requested above VMPL 0 (by the guest OS, not the paravisor).
    let err = verify(
        &f,
        &build(
            &f,
            &Build {
                vmpl: 1,
                ..Build::default()
            },
        ),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Vmpl(1)), "{err}");

    // report_data must be the claims hash followed by zeros.
    let err = verify(
        &f,
        &build(
            &f,
            &Build {
                report_data_tail: 1,
                ..Build::default()
            },
        ),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ReportDataBinding {
                field: "[n..64]",
                ..
            }
        ),
        "{err}"
    );

    // v2: user-data must start with the nonce; v1 does not require it.
    let other = Build {
        user_data_prefix: b"an older session".to_vec(),
        ..Build::default()
    };
    let mut e2 = build(&f, &other);
    let err = verify(&f, &e2).unwrap_err();
    assert!(matches!(err, Error::UserData(_)), "{err}");
    e2.version = 1;
    let _ = verify(&f, &e2).unwrap();

    // A quote over PCRs 1–23 whose values are presented as PCRs 0–22.
    let err = verify(
        &f,
        &build(
            &f,
            &Build {
                first_pcr: 1,
                ..Build::default()
            },
        ),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PcrSelectionMismatch { .. }), "{err}");

    // The quote signed by a key other than HCLAkPub.
    let mut e3 = build(&f, &Build::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let stranger = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    e3.signature = stranger
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &HashAlg::Sha256.hash(&e3.message),
        )
        .unwrap();
    let err = verify(&f, &e3).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
}
