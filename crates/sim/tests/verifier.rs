//! remits_snp::Verifier accepts simulated reports only when the simulator's ARK is configured.

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
