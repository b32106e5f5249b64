//! Generation handling on forged chains in each generation's profile (no real Turin report
//! exists): the Turin TCB layout with FMC, the 8-byte Turin hwID, generation from CPUID
//! cross-checked against the certificate, v2 reports (no CPUID) and an explicit generation.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::forge::Forged;
use common::*;
use remits_snp::{Endorsement, Error, Generation, TrustAnchors, Verifier, VerifyOptions};

fn setup(g: Generation, seed: u64) -> (Forged, Verifier, Endorsement, VerifyOptions) {
    let f = Forged::new(seed, g);
    let v = Verifier::new(TrustAnchors::amd().with_ark(&f.ark).unwrap());
    let e = Endorsement {
        leaf: f.vcek.clone(),
        chain: vec![f.ask.clone(), f.ark.clone()],
    };
    (f, v, e, VerifyOptions::at(at(NOW)))
}

#[test]
fn each_generation_verifies_and_decodes_its_tcb_layout() {
    for (i, g) in Generation::ALL.into_iter().enumerate() {
        let (f, v, e, opts) = setup(g, 10 + i as u64);
        for backend in backends() {
            let v2 = Verifier::with_backend(TrustAnchors::amd().with_ark(&f.ark).unwrap(), backend);
            let ok = v2.verify(&f.report(b"gen"), &e, &opts).unwrap();
            assert_eq!(ok.claims().generation, g);
            assert!(!ok.amd_root());
        }
        let ok = v.verify(&f.report(b"gen"), &e, &opts).unwrap();
        let t = ok.claims().reported_tcb;
        let j = serde_json::to_value(ok.claims()).unwrap();
        if g == Generation::Turin {
            assert_eq!(
                (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
                (Some(2), 3, 0, 5, 71)
            );
            assert_eq!(j["reported_tcb"]["fmc"], 2);
            assert_eq!(j["chip_id"].as_str().unwrap()[16..], "0".repeat(112));
        } else {
            assert_eq!(
                (t.fmc, t.bootloader, t.tee, t.snp, t.microcode),
                (None, 3, 0, 8, 115)
            );
            assert!(j["reported_tcb"].get("fmc").is_none());
        }
        // The explicit generation must agree.
        let mut o = opts.clone();
        o.generation = Some(g);
        let _ = v.verify(&f.report(b"gen"), &e, &o).unwrap();
        for other in Generation::ALL.into_iter().filter(|o| *o != g) {
            o.generation = Some(other);
            let err = v.verify(&f.report(b"gen"), &e, &o).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::GenerationMismatch {
                        source_a: "caller",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}

#[test]
fn turin_fmc_and_every_tcb_byte_must_equal_the_spls() {
    let (f, v, e, opts) = setup(Generation::Turin, 20);
    let names = [
        "fmc",
        "bootloader",
        "tee",
        "snp",
        "reserved[4] (spl_5)",
        "reserved[5] (spl_6)",
        "reserved[6] (spl_7)",
        "microcode",
    ];
    for (byte, name) in names.into_iter().enumerate() {
        let r = f.report_with(b"tcb", |r| r[0x180 + byte] ^= 0x10);
        let err = v.verify(&r, &e, &opts).unwrap_err();
        assert!(
            matches!(err, Error::TcbMismatch { field, .. } if field == name),
            "byte {byte}: {err}"
        );
    }
    // Milan layout: the SNP SPL is byte 6, bytes 2-5 are reserved (spl_4..7).
    let (f, v, e, opts) = setup(Generation::Milan, 21);
    let r = f.report_with(b"tcb", |r| r[0x186] = 9);
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TcbMismatch {
                field: "snp",
                report: 9,
                cert: 8
            }
        ),
        "{err}"
    );
    let r = f.report_with(b"tcb", |r| r[0x182] = 1);
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TcbMismatch {
                field: "reserved[2] (spl_4)",
                ..
            }
        ),
        "{err}"
    );
    // CURRENT/COMMITTED/LAUNCH TCB may differ from REPORTED_TCB.
    let r = f.report_with(b"tcb", |r| {
        r[0x38 + 7] = 200;
        r[0x1E0 + 7] = 199;
    });
    let ok = v.verify(&r, &e, &opts).unwrap();
    assert_eq!(ok.claims().current_tcb.microcode, 200);
}

#[test]
fn turin_chip_id_is_the_first_8_bytes_and_the_rest_must_be_zero() {
    let (f, v, e, opts) = setup(Generation::Turin, 30);
    let r = f.report_with(b"chip", |r| r[0x1A0 + 8] = 1);
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(matches!(err, Error::ChipIdMismatch { .. }), "{err}");
    let r = f.report_with(b"chip", |r| r[0x1A0 + 7] ^= 0x40);
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(matches!(err, Error::ChipIdMismatch { .. }), "{err}");
    // Masked chip ID: rejected unless the caller allows it.
    let r = f.report_with(b"chip", |r| r[0x1A0..0x1E0].fill(0));
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(matches!(err, Error::ChipIdMismatch { .. }), "{err}");
    let mut o = opts.clone();
    o.allow_masked_chip_id = true;
    let _ = v.verify(&r, &e, &o).unwrap();
    // Milan: all 64 bytes.
    let (f, v, e, opts) = setup(Generation::Milan, 31);
    let r = f.report_with(b"chip", |r| r[0x1A0 + 63] ^= 1);
    let err = v.verify(&r, &e, &opts).unwrap_err();
    assert!(matches!(err, Error::ChipIdMismatch { .. }), "{err}");
}

#[test]
fn cpuid_generation_is_cross_checked_with_the_certificate() {
    // A Turin-chain report whose CPUID says Milan, Genoa, Venice or an unknown CPU.
    let (f, v, e, opts) = setup(Generation::Turin, 40);
    for (fam, model, want_unknown) in [
        (0x19u8, 0x01u8, false),
        (0x19, 0xA0, false),
        (0x1A, 0x50, true),
        (0x17, 0x31, true),
    ] {
        let r = f.report_with(b"cpu", |r| {
            r[0x188] = fam;
            r[0x189] = model;
        });
        let err = v.verify(&r, &e, &opts).unwrap_err();
        if want_unknown {
            assert!(matches!(err, Error::UnknownCpu { .. }), "{err}");
        } else {
            assert!(
                matches!(err, Error::GenerationMismatch { source_a: "report CPUID", ref b, .. } if b == "turin"),
                "{err}"
            );
        }
    }
    // Genoa CPUID models 0x10-0x1F and 0xA0-0xAF (0xAF included).
    let (f, v, e, opts) = setup(Generation::Genoa, 41);
    for model in [0x10u8, 0x1F, 0xA0, 0xAF] {
        let r = f.report_with(b"cpu", |r| r[0x189] = model);
        let _ = v.verify(&r, &e, &opts).unwrap();
    }
}

#[test]
fn v2_reports_take_the_generation_from_the_certificate() {
    for (i, g) in Generation::ALL.into_iter().enumerate() {
        let (f, v, e, opts) = setup(g, 50 + i as u64);
        // Version 2: bytes 0x188.. are reserved; put junk there, it is kept, not rejected.
        let r = f.report_with(b"v2", |r| {
            r[0] = 2;
            r[0x188..0x18B].copy_from_slice(&[0xEE, 0xEE, 0xEE]);
        });
        let ok = v.verify(&r, &e, &opts).unwrap();
        assert_eq!(ok.claims().generation, g);
        assert_eq!(ok.claims().version, 2);
        assert!(ok.claims().cpuid.is_none());
        // Version 4 reads as 3, version 5 adds the mitigation vectors.
        let r = f.report_with(b"v4", |r| r[0] = 4);
        assert_eq!(v.verify(&r, &e, &opts).unwrap().claims().version, 4);
        let r = f.report_with(b"v5", |r| {
            r[0] = 5;
            r[0x1F8] = 3;
            r[0x200] = 7;
        });
        let c = v.verify(&r, &e, &opts).unwrap().into_claims();
        assert_eq!(
            (c.launch_mit_vector, c.current_mit_vector),
            (Some(3), Some(7))
        );
    }
}

#[test]
fn reserved_bytes_inside_the_signed_region_are_kept_not_rejected() {
    let (f, v, e, opts) = setup(Generation::Milan, 60);
    let r = f.report_with(b"rsvd", |r| {
        r[0x4C] = 0xAB;
        r[0x19F] = 0xCD;
        r[0x29F] = 0xEF;
    });
    let _ = v.verify(&r, &e, &opts).unwrap();
    let rep = remits_snp::Report::parse(&r).unwrap();
    let reserved = rep.reserved();
    assert!(reserved.iter().any(|(off, b)| *off == 0x4C && b[0] == 0xAB));
    assert!(reserved
        .iter()
        .any(|(off, b)| *off == 0x1F8 && b[b.len() - 1] == 0xEF));
}

#[test]
fn signing_key_field_selects_the_leaf_kind() {
    let (f, v, e, opts) = setup(Generation::Milan, 70);
    // KEY_INFO.SIGNING_KEY = 1 (VLEK) with a VCEK leaf; 7 (none); 3 (undefined).
    for (key, vlek) in [(1u32, true), (7, false), (3, false)] {
        let r = f.report_with(b"key", |r| {
            r[0x48..0x4C].copy_from_slice(&(key << 2).to_le_bytes())
        });
        let err = v.verify(&r, &e, &opts).unwrap_err();
        if vlek {
            assert!(matches!(err, Error::LeafKind { .. }), "{err}");
        } else {
            assert!(
                matches!(err, Error::SigningKey(k) if u32::from(k) == key),
                "{err}"
            );
        }
    }
}
