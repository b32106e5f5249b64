//! A chain that is not AMD's (same profile and names, other keys) is rejected unless its ARK is
//! an explicit trust anchor; CRLs signed by the ARK revoke ASKs, fail-open and fail-closed.

mod common;

use common::forge::Forged;
use common::*;
use remits_snp::{CertRole, CrlCheck, Endorsement, Error, TrustAnchors, Verifier, VerifyOptions};

fn end(f: &Forged) -> Endorsement {
    Endorsement {
        leaf: f.vcek.clone(),
        chain: vec![f.ask.clone(), f.ark.clone()],
    }
}

#[test]
fn foreign_chain_rejected_unless_its_ark_is_trusted() {
    let f = Forged::milan(1);
    let report = f.report(b"nonce");
    let opts = VerifyOptions::at(at(NOW));
    for backend in backends() {
        // AMD anchors only: the supplied ARK is not pinned.
        let v = Verifier::with_backend(TrustAnchors::amd(), backend.clone());
        let err = v.verify(&report, &end(&f), &opts).unwrap_err();
        assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
        // Without the ARK in the chain, AMD's ARK-Milan does not share the forged issuer name.
        let e = Endorsement {
            leaf: f.vcek.clone(),
            chain: vec![f.ask.clone()],
        };
        let err = v.verify(&report, &e, &opts).unwrap_err();
        assert!(
            matches!(err, Error::ChainIncomplete(CertRole::Ark)),
            "{err}"
        );
        // Leaf alone: the built-in AMD ASK does not sign the forged VCEK (issuer names differ).
        let err = v
            .verify(&report, &Endorsement::leaf(f.vcek.clone()), &opts)
            .unwrap_err();
        assert!(
            matches!(err, Error::CertProfile { .. } | Error::CertSignature { .. }),
            "{err}"
        );

        // With the ARK as an explicit anchor: accepted, and marked as not AMD's root.
        let v = Verifier::with_backend(
            TrustAnchors::amd().with_ark(&f.ark).unwrap(),
            backend.clone(),
        );
        let ok = v.verify(&report, &end(&f), &opts).unwrap();
        assert!(!ok.amd_root());
        assert_eq!(&ok.claims().report_data[..5], b"nonce");
        // Also with only the ASK supplied (the ARK comes from the anchors).
        let e = Endorsement {
            leaf: f.vcek.clone(),
            chain: vec![f.ask.clone()],
        };
        v.verify(&report, &e, &opts).unwrap();

        // Another forged ARK with the same names is still rejected.
        let g = Forged::milan(2);
        let err = v.verify(&g.report(b"x"), &end(&g), &opts).unwrap_err();
        assert!(matches!(err, Error::UntrustedRoot { .. }), "{err}");
        // Mixing: forged-1 VCEK/ASK with forged-2's ARK.
        let e = Endorsement {
            leaf: f.vcek.clone(),
            chain: vec![f.ask.clone(), g.ark.clone()],
        };
        let v2 = Verifier::with_backend(
            TrustAnchors::amd().with_ark(&g.ark).unwrap(),
            backend.clone(),
        );
        let err = v2.verify(&report, &e, &opts).unwrap_err();
        assert!(matches!(err, Error::CertSignature { .. }), "{err}");
    }
}

#[test]
fn anchors_without_amd_reject_amd_reports() {
    let Some(dir) = snp_dir() else { return };
    let f = Forged::milan(3);
    let v = Verifier::new(TrustAnchors::empty().with_ark(&f.ark).unwrap());
    let err = v
        .verify(
            &read(&dir, "milan-v2-sev-report.bin"),
            &Endorsement::leaf(read(&dir, "milan-v2-sev-vcek.der")),
            &VerifyOptions::at(at(NOW)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::ChainIncomplete(_)), "{err}");
    assert!(
        TrustAnchors::empty().with_ark(&f.ask).is_err(),
        "an ASK is not an ARK"
    );
}

#[test]
fn crl_revokes_the_ask_and_modes_behave() {
    let mut f = Forged::milan(4);
    let report = f.report(b"crl");
    let t = at(NOW);
    let day = std::time::Duration::from_secs(86_400);
    let anchors = TrustAnchors::amd().with_ark(&f.ark).unwrap();

    let mut opts = VerifyOptions::at(t);
    // Fail-closed without a CRL: rejected. Fail-open: accepted.
    let v = Verifier::new(anchors.clone());
    opts.check_crl = CrlCheck::FailClosed;
    assert!(matches!(
        v.verify(&report, &end(&f), &opts).unwrap_err(),
        Error::CrlUnavailable(_)
    ));
    opts.check_crl = CrlCheck::FailOpen;
    v.verify(&report, &end(&f), &opts).unwrap();

    // A fresh CRL that does not list the ASK: accepted fail-closed.
    let clean = f.crl(&[0x10002], t - day, t + day);
    v.add_crl(&clean, t).unwrap();
    opts.check_crl = CrlCheck::FailClosed;
    v.verify(&report, &end(&f), &opts).unwrap();

    // A newer CRL that lists the ASK: rejected in both modes, even with the chain cached.
    let revoking = f.crl(&[f.ask_serial], t - day / 2, t + day);
    v.add_crl(&revoking, t).unwrap();
    for mode in [CrlCheck::FailClosed, CrlCheck::FailOpen] {
        opts.check_crl = mode;
        let err = v.verify(&report, &end(&f), &opts).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Revoked {
                    role: CertRole::Ask,
                    ..
                }
            ),
            "{err}"
        );
    }
    opts.check_crl = CrlCheck::Off;
    v.verify(&report, &end(&f), &opts).unwrap();

    // Stale at a later time: fail-closed rejects, fail-open passes.
    let mut later = VerifyOptions::at(t + 3 * day);
    later.check_crl = CrlCheck::FailClosed;
    assert!(matches!(
        v.verify(&report, &end(&f), &later).unwrap_err(),
        Error::CrlUnavailable(_)
    ));
    later.check_crl = CrlCheck::FailOpen;
    v.verify(&report, &end(&f), &later).unwrap();

    // CRLs that are stale, or signed by another ARK, or tampered are refused.
    let v = Verifier::new(anchors);
    let stale = f.crl(&[], t - 3 * day, t - day);
    assert!(matches!(
        v.add_crl(&stale, t).unwrap_err(),
        Error::CrlInvalid(_)
    ));
    let mut g = Forged::milan(5);
    let foreign = g.crl(&[], t - day, t + day);
    assert!(matches!(
        v.add_crl(&foreign, t).unwrap_err(),
        Error::CrlInvalid(_)
    ));
    let mut tampered = f.crl(&[f.ask_serial], t - day, t + day);
    let n = tampered.len();
    tampered[n - 300] ^= 1;
    assert!(v.add_crl(&tampered, t).is_err());
    assert!(v.add_crl(b"not a crl", t).is_err());
}
