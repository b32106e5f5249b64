//! Quote verification against the real Azure vTPM quote in the shared test data, and tampered copies.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use remits_tpm::{verify_quote, AttestationKey, Error, HashAlg, NonceCheck, PcrValues, Signature};

struct Vec3 {
    msg: Vec<u8>,
    sig: Signature,
    ak: AttestationKey,
    pcrs: PcrValues,
}

fn load() -> Option<Vec3> {
    let d = remits_testsupport::testdata::dir()?.join("tpm");
    let msg = std::fs::read(d.join("azure-snp-vtpm-quote.msg")).unwrap();
    let raw = std::fs::read(d.join("azure-snp-vtpm-quote.sig")).unwrap();
    let pem = std::fs::read_to_string(d.join("azure-snp-vtpm-akpub.pem")).unwrap();
    let pcrs =
        PcrValues::from_json(&std::fs::read(d.join("azure-snp-vtpm-quote-pcrs.json")).unwrap())
            .unwrap();
    Some(Vec3 {
        msg,
        sig: Signature::rsassa_raw(HashAlg::Sha256, &raw),
        ak: AttestationKey::from_spki_pem(&pem).unwrap(),
        pcrs,
    })
}

#[test]
fn real_azure_quote_verifies() {
    let Some(v) = load() else { return };
    let q = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &v.pcrs,
        NonceCheck::Expected(b"challenge"),
    )
    .unwrap();
    assert!(q.nonce_checked());
    assert_eq!(q.quote().extra_data, hex::encode(b"challenge"));
    assert_eq!(
        q.quote().pcr_select.to_string(),
        format!(
            "sha256:{}",
            (0..24).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        )
    );
    assert_eq!(
        q.quote().pcr_digest,
        "0daff74c2fca14910b1e9b54a384707434c3365db9f163cc73a39a9f7500833f"
    );
    assert_eq!(q.quote().firmware_version, "0x2020031200120003");
    assert_eq!(q.quote().clock.clock, 2167057);
    assert_eq!(q.pcrs().bank(HashAlg::Sha256).unwrap().len(), 24);
    assert_eq!(q.signature_scheme(), "rsassa-sha256");
}

#[test]
fn wrong_nonce_rejected() {
    let Some(v) = load() else { return };
    let e = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &v.pcrs,
        NonceCheck::Expected(b"challengf"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NonceMismatch { .. }), "{e}");
    let e = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &v.pcrs,
        NonceCheck::Expected(b"challeng"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::NonceMismatch { .. }), "{e}");
}

#[test]
fn tampered_quote_and_signature_rejected() {
    let Some(v) = load() else { return };
    for i in 0..v.msg.len() {
        let mut m = v.msg.clone();
        m[i] ^= 0x01;
        let e = verify_quote(
            &m,
            &v.sig,
            &v.ak,
            &v.pcrs,
            NonceCheck::Expected(b"challenge"),
        )
        .unwrap_err();
        assert!(matches!(e, Error::BadSignature { .. }), "byte {i}: {e}");
    }
    let Signature::Rsassa { sig, .. } = &v.sig else {
        unreachable!()
    };
    let mut s = sig.clone();
    s[100] ^= 0x80;
    let e = verify_quote(
        &v.msg,
        &Signature::rsassa_raw(HashAlg::Sha256, &s),
        &v.ak,
        &v.pcrs,
        NonceCheck::Unchecked,
    )
    .unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
    // Same bytes claimed as PSS, or with another hash: the scheme must match what was signed.
    let pss = Signature::Rsapss {
        hash: HashAlg::Sha256,
        sig: sig.clone(),
    };
    assert!(verify_quote(&v.msg, &pss, &v.ak, &v.pcrs, NonceCheck::Unchecked).is_err());
    let sha1 = Signature::Rsassa {
        hash: HashAlg::Sha1,
        sig: sig.clone(),
    };
    let e = verify_quote(&v.msg, &sha1, &v.ak, &v.pcrs, NonceCheck::Unchecked).unwrap_err();
    assert!(matches!(e, Error::HashNotAllowed { .. }), "{e}");
    // A key fixed to RSAPSS refuses an RSASSA signature.
    let pinned =
        v.ak.clone()
            .with_scheme(remits_tpm::SigScheme::Rsapss, HashAlg::Sha256);
    let e = verify_quote(&v.msg, &v.sig, &pinned, &v.pcrs, NonceCheck::Unchecked).unwrap_err();
    assert!(matches!(e, Error::SchemeNotAllowed { .. }), "{e}");
}

#[test]
fn changed_pcr_rejected() {
    let Some(v) = load() else { return };
    let mut p = PcrValues::new();
    for (i, val) in v.pcrs.bank(HashAlg::Sha256).unwrap() {
        let mut val = val.clone();
        if *i == 7 {
            val[0] ^= 1;
        }
        p.insert(HashAlg::Sha256, *i, val).unwrap();
    }
    let e = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &p,
        NonceCheck::Expected(b"challenge"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::PcrDigestMismatch { .. }), "{e}");
}

#[test]
fn relabelled_or_partial_selection_rejected() {
    let Some(v) = load() else { return };
    // The attack azure-cvm-tooling misses: values shifted onto other indices.
    let mut shifted = PcrValues::new();
    for (i, val) in v.pcrs.bank(HashAlg::Sha256).unwrap() {
        if *i > 0 {
            shifted
                .insert(HashAlg::Sha256, *i - 1, val.clone())
                .unwrap();
        }
    }
    let e = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &shifted,
        NonceCheck::Expected(b"challenge"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::PcrSelectionMismatch { .. }), "{e}");
    // Same values claimed for another bank.
    let mut other = PcrValues::new();
    for (i, val) in v.pcrs.bank(HashAlg::Sha256).unwrap() {
        other.insert(HashAlg::Sha256, *i, val.clone()).unwrap();
        other.insert(HashAlg::Sha1, *i, val[..20].to_vec()).unwrap();
    }
    let e = verify_quote(
        &v.msg,
        &v.sig,
        &v.ak,
        &other,
        NonceCheck::Expected(b"challenge"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::PcrSelectionMismatch { .. }), "{e}");
}

#[test]
fn trailing_bytes_and_other_key_rejected() {
    let Some(v) = load() else { return };
    let mut m = v.msg.clone();
    m.push(0);
    assert!(verify_quote(&m, &v.sig, &v.ak, &v.pcrs, NonceCheck::Unchecked).is_err());
    assert!(matches!(
        remits_tpm::Attest::parse(&m),
        Err(Error::Layout(remits_codec::Error::Trailing {
            trailing: 1,
            ..
        }))
    ));
    for n in 0..v.msg.len() {
        assert!(remits_tpm::Attest::parse(&v.msg[..n]).is_err());
    }
}
