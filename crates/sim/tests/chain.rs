//! The simulator's chain and reports, checked with independent primitives (rsa, p384, x509-cert).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::os::unix::fs::PermissionsExt;

use der::{Decode, Encode};
use p384::ecdsa::signature::Verifier as _;
use rand::SeedableRng;
use remits_evidence::attester::Attester;
use remits_sim::{files, ReportParams, SimChain, SimSnpAttester, REPORT_LEN, SIGNED_LEN};
use rsa::pkcs8::DecodePublicKey;
use x509_cert::Certificate;

fn chain() -> SimChain {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    SimChain::generate(&mut rng).unwrap()
}

fn pss_verify(issuer: &Certificate, cert: &Certificate) -> bool {
    let spki = issuer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    let key = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
    let vk = rsa::pss::VerifyingKey::<sha2::Sha384>::new(key);
    let sig = rsa::pss::Signature::try_from(cert.signature.raw_bytes()).unwrap();
    let tbs = cert.tbs_certificate.to_der().unwrap();
    rsa::signature::Verifier::verify(&vk, &tbs, &sig).is_ok()
}

fn ext<'a>(cert: &'a Certificate, oid: &str) -> Option<&'a [u8]> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id.to_string() == oid)
        .map(|e| e.extn_value.as_bytes())
}

#[test]
fn chain_has_amd_profile_and_verifies() {
    let c = chain();
    let ark = Certificate::from_der(c.ark_der()).unwrap();
    let ask = Certificate::from_der(c.ask_der()).unwrap();
    let vcek = Certificate::from_der(c.vcek_der()).unwrap();
    assert!(pss_verify(&ark, &ark), "ARK self-signature");
    assert!(pss_verify(&ark, &ask), "ARK signs ASK");
    assert!(pss_verify(&ask, &vcek), "ASK signs VCEK");
    assert!(!pss_verify(&ask, &ask), "ASK is not self-signed");

    // RSASSA-PSS algorithm identifier with SHA-384 params (salt 48).
    assert_eq!(
        vcek.signature_algorithm.oid.to_string(),
        "1.2.840.113549.1.1.10"
    );
    let params = vcek
        .signature_algorithm
        .parameters
        .as_ref()
        .unwrap()
        .to_der()
        .unwrap();
    let pss = rsa::pkcs1::RsaPssParams::from_der(&params).unwrap();
    assert_eq!(pss.salt_len, 48);
    assert_eq!(pss.hash.oid.to_string(), "2.16.840.1.101.3.4.2.2");

    for (cert, cn) in [
        (&ark, "ARK-Milan"),
        (&ask, "SEV-Milan"),
        (&vcek, "SEV-VCEK"),
    ] {
        let subject = cert.tbs_certificate.subject.to_string();
        assert!(subject.contains(&format!("CN={cn}")), "{subject}");
        assert!(
            subject.contains("O=remits simulator - NOT AMD"),
            "{subject}"
        );
        assert!(!subject.contains("Advanced Micro Devices"));
    }
    assert_eq!(vcek.tbs_certificate.issuer, ask.tbs_certificate.subject);
    assert_eq!(vcek.tbs_certificate.serial_number.as_bytes(), &[0]);

    // AMD extensions: structVersion 0, productName, SPLs, raw 64-byte hwID == chip id.
    assert_eq!(ext(&vcek, "1.3.6.1.4.1.3704.1.1"), Some(&[2u8, 1, 0][..]));
    assert_eq!(
        ext(&vcek, "1.3.6.1.4.1.3704.1.2").unwrap()[2..].to_vec(),
        b"Milan-B0".to_vec()
    );
    let tcb = c.meta().tcb;
    assert_eq!(
        ext(&vcek, "1.3.6.1.4.1.3704.1.3.1"),
        Some(&[2u8, 1, tcb.bootloader][..])
    );
    assert_eq!(
        ext(&vcek, "1.3.6.1.4.1.3704.1.3.3"),
        Some(&[2u8, 1, tcb.snp][..])
    );
    // microcode 219 >= 0x80 needs a leading zero byte in DER.
    assert_eq!(
        ext(&vcek, "1.3.6.1.4.1.3704.1.3.8"),
        Some(&[2u8, 2, 0, tcb.microcode][..])
    );
    assert_eq!(
        ext(&vcek, "1.3.6.1.4.1.3704.1.4"),
        Some(c.meta().chip_id.as_slice())
    );
}

#[test]
fn report_layout_and_signature() {
    let c = chain();
    let rd: Vec<u8> = (0..48).collect();
    let report = c.report(&ReportParams::default(), &rd).unwrap();
    assert_eq!(report.len(), REPORT_LEN);
    assert_eq!(&report[0..4], &3u32.to_le_bytes());
    assert_eq!(&report[0x50..0x80], &rd[..]);
    assert_eq!(&report[0x80..0x90], &[0u8; 16]);
    assert_eq!(&report[0x1A0..0x1E0], c.meta().chip_id.as_slice());
    assert_eq!(&report[0x180..0x188], &c.meta().tcb.to_bytes());
    assert_eq!(&report[0x1A0 - 0x18..0x1A0 - 0x15], &[0x19, 0x01, 0x01]);

    // Verify with the key from the VCEK certificate, over [0, 0x2A0), R/S little-endian.
    let vcek = Certificate::from_der(c.vcek_der()).unwrap();
    let spki = vcek
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    let vk = p384::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
    let mut r = report[0x2A0..0x2A0 + 48].to_vec();
    let mut s = report[0x2E8..0x2E8 + 48].to_vec();
    assert!(report[0x2A0 + 48..0x2E8].iter().all(|b| *b == 0));
    r.reverse();
    s.reverse();
    let sig = p384::ecdsa::Signature::from_slice(&[r, s].concat()).unwrap();
    vk.verify(&report[..SIGNED_LEN], &sig).unwrap();
    let mut tampered = report.clone();
    tampered[0x90] ^= 1;
    assert!(vk.verify(&tampered[..SIGNED_LEN], &sig).is_err());

    assert!(c.report(&ReportParams::default(), &[0u8; 65]).is_err());
}

#[test]
fn write_load_roundtrip_and_key_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let c = chain();
    c.write_to(&sim).unwrap();
    let mode = |n: &str| std::fs::metadata(sim.join(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(files::VCEK_KEY), 0o600);
    assert_eq!(
        std::fs::metadata(&sim).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(std::fs::read_to_string(sim.join(files::README))
        .unwrap()
        .contains("NOT AMD"));
    assert!(std::fs::read_to_string(sim.join(files::ARK_PEM))
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));

    let loaded = SimChain::load(&sim).unwrap();
    assert_eq!(loaded.ark_der(), c.ark_der());
    assert_eq!(loaded.vcek_der(), c.vcek_der());
    assert_eq!(loaded.meta(), c.meta());

    // A key from another chain does not match vcek.der: refused.
    let other = dir.path().join("other");
    SimChain::generate(&mut rand::rngs::StdRng::seed_from_u64(8))
        .unwrap()
        .write_to(&other)
        .unwrap();
    std::fs::copy(other.join(files::VCEK_KEY), sim.join(files::VCEK_KEY)).unwrap();
    let err = SimChain::load(&sim).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");

    // Missing directory: a typed I/O error naming the file.
    let err = SimChain::load(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ark.der"), "{err}");
}

#[test]
fn attester_labels_evidence_simulated() {
    let a = SimSnpAttester::new(chain());
    assert_eq!(a.tee(), remits_evidence::TeeKind::Snp);
    let v = a.evidence(&[7u8; 48]).unwrap();
    assert_eq!(v["simulated"], serde_json::Value::Bool(true));
    let ev: remits_evidence::envelope::SnpEvidence = serde_json::from_value(v).unwrap();
    assert_eq!(ev.report.len(), REPORT_LEN);
    assert_eq!(&ev.report[0x50..0x80], &[7u8; 48]);
    assert_eq!(
        ev.cert(remits_evidence::envelope::CertType::Vcek),
        Some(a.chain().vcek_der())
    );
    assert_eq!(
        ev.cert(remits_evidence::envelope::CertType::Ark),
        Some(a.chain().ark_der())
    );
    let err = a.evidence(&[0u8; 65]).unwrap_err();
    assert!(matches!(
        err,
        remits_evidence::attester::AttesterError::ReportDataTooLong {
            len: 65,
            max: 64,
            ..
        }
    ));
}
