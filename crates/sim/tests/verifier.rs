//! remits_snp::Verifier accepts simulated reports only when the simulator's ARK is configured.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rand::SeedableRng;
use remits_sim::{ReportParams, SimChain, SimGeneration, SimOptions};
use remits_snp::{TrustAnchors, Verifier, VerifyOptions};
use std::time::{Duration, SystemTime};

fn chain_at(now: SystemTime, generation: SimGeneration) -> SimChain {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    SimChain::generate_with(
        &mut rng,
        &SimOptions {
            now,
            generation,
            ..SimOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn accepted_only_with_the_sim_ark() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    for gen in [SimGeneration::Milan, SimGeneration::Genoa] {
        let chain = chain_at(now, gen);
        let rd = [0x5au8; 48];
        let report = chain.report(&ReportParams::default(), &rd).unwrap();
        let mut opts = VerifyOptions::at(now);
        opts.expected_report_data = Some(rd.to_vec());

        // AMD's pinned roots alone: rejected.
        let amd_only = Verifier::new(TrustAnchors::amd());
        assert!(amd_only
            .verify(&report, &chain.endorsement(), &opts)
            .is_err());

        // With the simulator's ARK as an explicit extra anchor: accepted, claims as generated.
        let anchors = TrustAnchors::amd().with_ark(chain.ark_der()).unwrap();
        let v = Verifier::new(anchors);
        let verified = v.verify(&report, &chain.endorsement(), &opts).unwrap();
        let claims = serde_json::to_value(verified.claims()).unwrap();
        let text = claims.to_string();
        assert!(
            text.contains(&hex::encode(ReportParams::default().measurement)),
            "{text}"
        );

        // Tampering with any signed byte is rejected.
        let mut bad = report.clone();
        bad[0x90] ^= 1;
        assert!(v.verify(&bad, &chain.endorsement(), &opts).is_err());
        // Wrong report data is rejected.
        opts.expected_report_data = Some(vec![0u8; 48]);
        assert!(v.verify(&report, &chain.endorsement(), &opts).is_err());
        // Outside the VCEK's 7-year validity: rejected.
        let mut late = VerifyOptions::at(now + Duration::from_secs(8 * 365 * 24 * 3600));
        late.expected_report_data = Some(rd.to_vec());
        assert!(v.verify(&report, &chain.endorsement(), &late).is_err());
    }
}

#[test]
fn another_sim_ark_does_not_vouch() {
    let now = SystemTime::now();
    let a = chain_at(now, SimGeneration::Milan);
    let b = SimChain::generate(&mut rand::rngs::StdRng::seed_from_u64(1)).unwrap();
    let report = a.report(&ReportParams::default(), &[1u8; 64]).unwrap();
    let v = Verifier::new(TrustAnchors::amd().with_ark(b.ark_der()).unwrap());
    assert!(v
        .verify(&report, &a.endorsement(), &VerifyOptions::at(now))
        .is_err());
}

/// CRLs the simulator's ARK signs have AMD's structure (X.509 v2, issuer = ARK subject,
/// RSASSA-PSS like the certificates, revoked certificates by serial) and revoke the simulated ASK
/// in remits-snp; one from another simulator ARK with the same names is refused.
#[test]
fn sim_crls_in_amds_format_revoke_the_ask() {
    use der::{Decode, Encode};
    use remits_sim::CrlSpec;
    use remits_snp::{CrlCheck, CrlKind, Error};
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let day = Duration::from_secs(86_400);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let opts = SimOptions {
        now,
        ..SimOptions::default()
    };
    let (chain, ark) = SimChain::generate_with_ark(&mut rng, &opts).unwrap();
    let spec = CrlSpec {
        revoked: vec![ark.ask_serial()],
        this_update: now - day,
        next_update: Some(now + 6 * day),
        distribution_point: Some("https://kdsintf.amd.com/vcek/v1/Milan/crl".into()),
    };
    let der = ark.crl(&spec, &mut rng).unwrap();

    let crl = x509_cert::crl::CertificateList::from_der(&der).unwrap();
    let ark_cert = x509_cert::Certificate::from_der(chain.ark_der()).unwrap();
    assert_eq!(
        crl.tbs_cert_list.version,
        x509_cert::certificate::Version::V2
    );
    assert_eq!(
        crl.tbs_cert_list.issuer.to_der().unwrap(),
        ark_cert.tbs_certificate.subject.to_der().unwrap()
    );
    assert_eq!(crl.signature_algorithm, ark_cert.signature_algorithm);
    assert_eq!(crl.tbs_cert_list.signature, ark_cert.signature_algorithm);
    let revoked = crl.tbs_cert_list.revoked_certificates.unwrap();
    let ask = x509_cert::Certificate::from_der(chain.ask_der()).unwrap();
    assert_eq!(revoked[0].serial_number, ask.tbs_certificate.serial_number);

    let rd = [1u8; 48];
    let report = chain.report(&ReportParams::default(), &rd).unwrap();
    let v = Verifier::new(TrustAnchors::amd().with_ark(chain.ark_der()).unwrap())
        .with_crl_check(CrlCheck::FailClosed);
    v.add_crl(&der, CrlKind::Vcek, now).unwrap();
    let err = v
        .verify(&report, &chain.endorsement(), &VerifyOptions::at(now))
        .unwrap_err();
    assert!(matches!(err, Error::Revoked { .. }), "{err}");
    // Its distribution point names the VCEK list: refused as the VLEK CRL.
    assert!(v.add_crl(&der, CrlKind::Vlek, now).is_err());

    let (_, other) = SimChain::generate_with_ark(&mut rng, &opts).unwrap();
    let foreign = other.crl(&spec, &mut rng).unwrap();
    assert!(matches!(
        v.add_crl(&foreign, CrlKind::Vcek, now).unwrap_err(),
        Error::CrlInvalid(_)
    ));
}
