//! Wycheproof vectors through the SEV-SNP signature seam, exactly as the verifier calls it:
//! [`SignatureBackend::p384_key`] on the SEC1 point, then [`P384Key::verify`] on the message
//! and the fixed 96-byte big-endian `r || s` (the report path builds those 96 bytes from the
//! report's R and S fields, so a signature of any other length cannot reach the backend and
//! counts as rejected); [`SignatureBackend::verify_rsa_pss_sha384`] on the PKCS#1
//! `RSAPublicKey` DER, the TBS bytes and the signature (the ASK/ASVK/VCEK/VLEK certificates
//! and CRLs). Every backend this build has runs: RustCrypto always, aws-lc-rs with the
//! `aws-lc` feature (the workspace build turns it on). Results: `docs/wycheproof.md`.
//!
//! "acceptable" vectors: none in these files; should a later vector set add some, they must
//! be rejected (a signature that is only tolerable is not good enough for the root of trust).
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Debug;

use remits_snp::backend::{RustCrypto, SignatureBackend};
use wycheproof::TestResult;

/// Counts of one primitive through one backend; fails the test on any unexpected result.
#[derive(Default)]
struct Tally {
    name: String,
    run: usize,
    valid_accepted: usize,
    invalid_rejected: usize,
    acceptable_rejected: usize,
    /// Rejected before the backend because the seam's type cannot carry them.
    not_representable: usize,
    unexpected: Vec<String>,
}

impl Tally {
    fn new(name: String) -> Self {
        Tally {
            name,
            ..Tally::default()
        }
    }

    fn record(
        &mut self,
        tc_id: usize,
        comment: &str,
        flags: &impl Debug,
        result: TestResult,
        accepted: bool,
    ) {
        self.run += 1;
        match (result, accepted) {
            (TestResult::Valid, true) => self.valid_accepted += 1,
            (TestResult::Invalid, false) => self.invalid_rejected += 1,
            // Choice for these primitives: acceptable must be rejected.
            (TestResult::Acceptable, false) => self.acceptable_rejected += 1,
            _ => self.unexpected.push(format!(
                "tcId {tc_id} ({result:?}, {}): {comment:?} flags {flags:?}",
                if accepted { "accepted" } else { "rejected" }
            )),
        }
    }

    fn finish(self, expected_run: usize) {
        println!(
            "wycheproof {}: {} run, {} valid accepted, {} invalid rejected ({} not representable \
             at the seam), {} acceptable rejected, {} unexpected",
            self.name,
            self.run,
            self.valid_accepted,
            self.invalid_rejected,
            self.not_representable,
            self.acceptable_rejected,
            self.unexpected.len()
        );
        assert!(
            self.unexpected.is_empty(),
            "{}: {} unexpected results:\n{}",
            self.name,
            self.unexpected.len(),
            self.unexpected.join("\n")
        );
        assert_eq!(self.run, expected_run, "{}: every vector runs", self.name);
        assert!(self.run > 0);
    }
}

fn backends() -> Vec<Box<dyn SignatureBackend>> {
    vec![
        Box::new(RustCrypto),
        #[cfg(feature = "aws-lc")]
        Box::new(remits_snp::backend::AwsLc),
    ]
}

#[test]
fn ecdsa_p384_sha384_p1363_verify() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp384r1Sha384P1363).expect("vector set");
    for backend in backends() {
        let mut t = Tally::new(format!("ECDSA P-384/SHA-384 verify [{}]", backend.name()));
        for g in &set.test_groups {
            let key = backend.p384_key(&g.key.key);
            for tc in &g.tests {
                let accepted = match (&key, <&[u8; 96]>::try_from(&tc.sig[..])) {
                    (Ok(key), Ok(sig)) => key.verify(&tc.msg, sig).is_ok(),
                    (Err(_), _) => false,
                    (Ok(_), Err(_)) => {
                        t.not_representable += 1;
                        false
                    }
                };
                t.record(tc.tc_id, &tc.comment, &tc.flags, tc.result, accepted);
            }
        }
        t.finish(set.number_of_tests);
    }
}

/// Every RSASSA-PSS vector set with SHA-384, MGF1-SHA-384 and a 48-byte salt: the 2048- and
/// 4096-bit files and the matching group of the "misc" file.
#[test]
fn rsa_pss_sha384_mgf1_sha384_salt48_verify() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    use wycheproof::{HashFunction, Mgf};
    for backend in backends() {
        let mut t = Tally::new(format!(
            "RSA-PSS SHA-384/MGF1-SHA-384/salt 48 verify [{}]",
            backend.name()
        ));
        let mut expected = 0;
        for name in [
            TestName::RsaPss2048Sha384Mgf1SaltLen48,
            TestName::RsaPss4096Sha384Mgf1SaltLen48,
            TestName::RsaPssmisc,
        ] {
            let set = TestSet::load(name).expect("vector set");
            for g in &set.test_groups {
                if g.hash != HashFunction::Sha2_384
                    || g.mgf != Mgf::Mgf1
                    || g.mgf_hash != Some(HashFunction::Sha2_384)
                    || g.salt_size != 48
                {
                    continue;
                }
                for tc in &g.tests {
                    expected += 1;
                    let accepted = backend
                        .verify_rsa_pss_sha384(&g.asn_key, &tc.msg, &tc.sig)
                        .is_ok();
                    t.record(tc.tc_id, &tc.comment, &tc.flags, tc.result, accepted);
                }
            }
        }
        t.finish(expected);
    }
}
