//! A chain that is not AMD's (same profile and names, other keys) is rejected unless its ARK is
//! an explicit trust anchor; CRLs signed by the ARK revoke ASKs, fail-open and fail-closed.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::forge::{Forged, VlekPath};
use common::*;
use remits_snp::{
    CertRole, CrlCheck, CrlKind, Endorsement, Error, TrustAnchors, Verifier, VerifyOptions,
};

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
        let _ = v.verify(&report, &e, &opts).unwrap();

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
    let _ = v.verify(&report, &end(&f), &opts).unwrap();

    // A fresh CRL that does not list the ASK: accepted fail-closed.
    let clean = f.crl(&[0x10002], t - day, t + day);
    v.add_crl(&clean, CrlKind::Vcek, t).unwrap();
    opts.check_crl = CrlCheck::FailClosed;
    let _ = v.verify(&report, &end(&f), &opts).unwrap();

    // A newer CRL that lists the ASK: rejected in both modes, even with the chain cached.
    let revoking = f.crl(&[f.ask_serial], t - day / 2, t + day);
    v.add_crl(&revoking, CrlKind::Vcek, t).unwrap();
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
    let _ = v.verify(&report, &end(&f), &opts).unwrap();

    // At a later time the revoking CRL is stale: its revocation still counts in both modes.
    let mut later = VerifyOptions::at(t + 3 * day);
    for mode in [CrlCheck::FailClosed, CrlCheck::FailOpen] {
        later.check_crl = mode;
        let err = v.verify(&report, &end(&f), &later).unwrap_err();
        assert!(matches!(err, Error::Revoked { .. }), "{err}");
    }

    // A clean CRL gone stale: fail-closed rejects naming staleness, fail-open passes.
    let v = Verifier::new(anchors.clone());
    v.add_crl(&clean, CrlKind::Vcek, t).unwrap();
    later.check_crl = CrlCheck::FailClosed;
    let err = v.verify(&report, &end(&f), &later).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CrlStale {
                kind: CrlKind::Vcek,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("crl: "), "{err}");
    later.check_crl = CrlCheck::FailOpen;
    let _ = v.verify(&report, &end(&f), &later).unwrap();

    // A CRL already stale when loaded verifies and is kept (its revocations count), but does
    // not satisfy fail-closed.
    let v = Verifier::new(anchors);
    let stale = f.crl(&[f.ask_serial], t - 3 * day, t - day);
    v.add_crl(&stale, CrlKind::Vcek, t).unwrap();
    opts.check_crl = CrlCheck::FailOpen;
    assert!(matches!(
        v.verify(&report, &end(&f), &opts).unwrap_err(),
        Error::Revoked { .. }
    ));
    // CRLs signed by another ARK, tampered, dated in the future or malformed are refused.
    let mut g = Forged::milan(5);
    let foreign = g.crl(&[], t - day, t + day);
    assert!(matches!(
        v.add_crl(&foreign, CrlKind::Vcek, t).unwrap_err(),
        Error::CrlInvalid(_)
    ));
    let mut tampered = f.crl(&[f.ask_serial], t - day, t + day);
    let n = tampered.len();
    tampered[n - 300] ^= 1;
    assert!(v.add_crl(&tampered, CrlKind::Vcek, t).is_err());
    let future = f.crl(&[], t + day, t + 2 * day);
    assert!(matches!(
        v.add_crl(&future, CrlKind::Vcek, t).unwrap_err(),
        Error::CrlInvalid(_)
    ));
    assert!(v.add_crl(b"not a crl", CrlKind::Vcek, t).is_err());
}

fn vlek_end(p: &VlekPath, f: &Forged) -> Endorsement {
    Endorsement {
        leaf: p.vlek.clone(),
        chain: vec![p.asvk.clone(), f.ark.clone()],
    }
}

#[test]
fn vcek_and_vlek_crls_are_both_kept_and_both_apply() {
    let mut f = Forged::milan(6);
    let vl = f.vlek_path(0x10101, 0);
    let vcek_report = f.report(b"vcek");
    let vlek_report = f.vlek_report(&vl, b"vlek");
    let t = at(NOW);
    let day = std::time::Duration::from_secs(86_400);
    let anchors = TrustAnchors::amd().with_ark(&f.ark).unwrap();
    let v = Verifier::new(anchors).with_crl_check(CrlCheck::FailClosed);
    let opts = VerifyOptions::at(t);
    // Without CRLs both paths fail closed (the verifier's mode applies with opts Off).
    for (r, e) in [(&vcek_report, end(&f)), (&vlek_report, vlek_end(&vl, &f))] {
        let err = v.verify(r, &e, &opts).unwrap_err();
        assert!(matches!(err, Error::CrlUnavailable(_)), "{err}");
    }
    // A VCEK CRL alone does not vouch for the VLEK path.
    let vcek_crl = f.crl(&[0x10002], t - day, t + day);
    v.add_crl(&vcek_crl, CrlKind::Vcek, t).unwrap();
    let _ = v.verify(&vcek_report, &end(&f), &opts).unwrap();
    let err = v
        .verify(&vlek_report, &vlek_end(&vl, &f), &opts)
        .unwrap_err();
    assert!(matches!(err, Error::CrlUnavailable(_)), "{err}");
    // The VLEK CRL revoking the ASVK: the VLEK path is denied, the VCEK CRL is still held.
    let vlek_crl = f.crl(&[vl.asvk_serial], t - day, t + day);
    v.add_crl(&vlek_crl, CrlKind::Vlek, t).unwrap();
    let err = v
        .verify(&vlek_report, &vlek_end(&vl, &f), &opts)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Revoked {
                role: CertRole::Asvk,
                kind: CrlKind::Vlek,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ASVK serial"), "{err}");
    let _ = v.verify(&vcek_report, &end(&f), &opts).unwrap();
    assert_eq!(v.crls().len(), 2);
    // A newer VCEK CRL revoking the ASK: both revocations apply at once.
    let vcek_crl2 = f.crl(&[f.ask_serial], t - day / 2, t + day);
    v.add_crl(&vcek_crl2, CrlKind::Vcek, t).unwrap();
    let err = v.verify(&vcek_report, &end(&f), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Revoked {
                role: CertRole::Ask,
                kind: CrlKind::Vcek,
                ..
            }
        ),
        "{err}"
    );
    assert!(v.verify(&vlek_report, &vlek_end(&vl, &f), &opts).is_err());
    // An older VCEK CRL arriving later does not replace the newer one.
    v.add_crl(&vcek_crl, CrlKind::Vcek, t).unwrap();
    assert!(matches!(
        v.verify(&vcek_report, &end(&f), &opts).unwrap_err(),
        Error::Revoked { .. }
    ));
    // The ASVK's serial in the VCEK CRL does not revoke it (other list); the ASK's in the VLEK
    // CRL does not revoke the ASK.
    let v = Verifier::new(TrustAnchors::amd().with_ark(&f.ark).unwrap())
        .with_crl_check(CrlCheck::FailClosed);
    let swapped_vcek = f.crl(&[vl.asvk_serial], t - day, t + day);
    let swapped_vlek = f.crl(&[f.ask_serial], t - day, t + day);
    v.add_crl(&swapped_vcek, CrlKind::Vcek, t).unwrap();
    v.add_crl(&swapped_vlek, CrlKind::Vlek, t).unwrap();
    let _ = v.verify(&vcek_report, &end(&f), &opts).unwrap();
    let _ = v.verify(&vlek_report, &vlek_end(&vl, &f), &opts).unwrap();
}

#[test]
fn crl_kind_must_agree_with_its_distribution_point() {
    let mut f = Forged::milan(7);
    let t = at(NOW);
    let day = std::time::Duration::from_secs(86_400);
    let v = Verifier::new(TrustAnchors::amd().with_ark(&f.ark).unwrap());
    let vlek = f.crl_full(
        &[],
        t - day,
        Some(t + day),
        Some("https://kdsintf.amd.com/vlek/v1/Milan/crl"),
    );
    let err = v.add_crl(&vlek, CrlKind::Vcek, t).unwrap_err();
    assert!(matches!(err, Error::CrlInvalid(_)), "{err}");
    v.add_crl(&vlek, CrlKind::Vlek, t).unwrap();
    let vcek = f.crl_full(
        &[],
        t - day,
        Some(t + day),
        Some("https://kdsintf.amd.com/vcek/v1/Milan/crl"),
    );
    v.add_crl(&vcek, CrlKind::Vcek, t).unwrap();
    assert!(v.add_crl(&vcek, CrlKind::Vlek, t).is_err());
}

#[test]
fn maximum_crl_age_makes_an_old_crl_stale_without_next_update() {
    let mut f = Forged::milan(8);
    let report = f.report(b"age");
    let t = at(NOW);
    let day = std::time::Duration::from_secs(86_400);
    let anchors = TrustAnchors::amd().with_ark(&f.ark).unwrap();
    let old = f.crl_full(&[], t - 40 * day, None, None);
    let mut opts = VerifyOptions::at(t);
    opts.check_crl = CrlCheck::FailClosed;
    // No maximum age: no nextUpdate means never stale.
    let v = Verifier::new(anchors.clone());
    v.add_crl(&old, CrlKind::Vcek, t).unwrap();
    let _ = v.verify(&report, &end(&f), &opts).unwrap();
    // 30 days: stale, fail-closed denies, fail-open passes.
    let v = Verifier::new(anchors).with_crl_max_age(Some(30 * day));
    v.add_crl(&old, CrlKind::Vcek, t).unwrap();
    let err = v.verify(&report, &end(&f), &opts).unwrap_err();
    assert!(matches!(err, Error::CrlStale { .. }), "{err}");
    assert!(err.to_string().contains("maximum CRL age"), "{err}");
    opts.check_crl = CrlCheck::FailOpen;
    let _ = v.verify(&report, &end(&f), &opts).unwrap();
    // A fresh one (also without nextUpdate) replaces it.
    let fresh = f.crl_full(&[], t - day, None, None);
    v.add_crl(&fresh, CrlKind::Vcek, t).unwrap();
    opts.check_crl = CrlCheck::FailClosed;
    let _ = v.verify(&report, &end(&f), &opts).unwrap();
}

#[test]
fn leaf_serial_revocation_but_serial_zero_names_no_leaf() {
    let t = at(NOW);
    let day = std::time::Duration::from_secs(86_400);
    let mut opts = VerifyOptions::at(t);
    opts.check_crl = CrlCheck::FailClosed;
    // A VCEK with a unique serial, listed: revoked, naming the VCEK.
    let mut f = Forged::with_vcek_serial(9, remits_snp::Generation::Milan, 0x4242);
    let report = f.report(b"leaf");
    let v = Verifier::new(TrustAnchors::amd().with_ark(&f.ark).unwrap());
    let _ = v.verify(&report, &end(&f), &VerifyOptions::at(t)).unwrap();
    let crl = f.crl(&[0x4242], t - day, t + day);
    v.add_crl(&crl, CrlKind::Vcek, t).unwrap();
    let err = v.verify(&report, &end(&f), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Revoked {
                role: CertRole::Vcek,
                ..
            }
        ),
        "{err}"
    );
    // AMD-style VCEK with serial 0, CRL listing serial 0: not revoked (0 names no single leaf).
    let mut f = Forged::milan(10);
    let report = f.report(b"zero");
    let v = Verifier::new(TrustAnchors::amd().with_ark(&f.ark).unwrap());
    let crl = f.crl(&[0], t - day, t + day);
    v.add_crl(&crl, CrlKind::Vcek, t).unwrap();
    let _ = v.verify(&report, &end(&f), &opts).unwrap();
}
