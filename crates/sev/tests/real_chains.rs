//! The real SEV platform chains (Naples, Rome, Milan) under AMD's built-in roots, and every
//! way of breaking them.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use remits_sev::{CertName, Error, Generation, PlatformChain, RootChoice};
use sha2::Digest;

const PLATFORMS: [(&str, Generation); 3] = [
    ("naples", Generation::Naples),
    ("rome", Generation::Rome),
    ("milan", Generation::Milan),
];

#[test]
fn builtin_roots_are_amds_published_files_and_verify() {
    let d = common::sev_dir();
    for g in Generation::ALL {
        let roots = g.roots().unwrap_or_else(|e| panic!("{g}: {e}"));
        assert_eq!(roots.generation(), Some(g));
        let (ark_pin, ask_pin) = g.pinned_sha256();
        assert_eq!(hex::encode(sha2::Sha256::digest(g.ark())), ark_pin);
        assert_eq!(hex::encode(sha2::Sha256::digest(g.ask())), ask_pin);
        if let Some(d) = &d {
            // The built-in files are byte-identical to AMD's published ones in the test data.
            assert_eq!(
                common::read(d, &format!("{g}-ark.cert")),
                g.ark(),
                "{g} ARK"
            );
            assert_eq!(
                common::read(d, &format!("{g}-ask.cert")),
                g.ask(),
                "{g} ASK"
            );
        }
    }
}

#[test]
fn every_real_chain_verifies_under_its_generation() {
    let Some(d) = common::sev_dir() else { return };
    for (name, g) in PLATFORMS {
        let chain = common::chain(&d, name);
        let p = chain
            .verify(RootChoice::Generation(g))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.generation(), Some(g));
        assert_eq!(p.pdh_cert(), &chain.pdh[..]);
        // Without naming the generation, the ASK that signed the CEK is found.
        let any = chain.verify(RootChoice::AnyGeneration).unwrap();
        assert_eq!(any.generation(), Some(g), "{name}");
        // sevctl's single-file export form round-trips.
        let again = PlatformChain::from_sevctl_export(&chain.to_sevctl_export()).unwrap();
        assert_eq!(again, chain);
    }
}

#[test]
fn a_chain_under_another_generation_is_rejected_at_ask_to_cek() {
    let Some(d) = common::sev_dir() else { return };
    for (name, g) in PLATFORMS {
        let chain = common::chain(&d, name);
        for other in Generation::ALL.into_iter().filter(|o| *o != g) {
            let e = chain.verify(RootChoice::Generation(other)).unwrap_err();
            match &e {
                Error::Signature { link, .. } => {
                    assert_eq!(
                        (link.issuer, link.subject),
                        (CertName::Ask, CertName::Cek),
                        "{name} under {other}: {e}"
                    )
                }
                other_err => panic!("{name} under {other}: {other_err}"),
            }
        }
    }
}

#[test]
fn a_pdh_paired_with_another_platforms_pek_is_rejected() {
    let Some(d) = common::sev_dir() else { return };
    let milan = common::chain(&d, "milan");
    let rome = common::chain(&d, "rome");
    let mixed = PlatformChain {
        pdh: rome.pdh.clone(),
        ..milan.clone()
    };
    let e = mixed
        .verify(RootChoice::Generation(Generation::Milan))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Signature { link, .. } if link.issuer == CertName::Pek && link.subject == CertName::Pdh),
        "{e}"
    );
    assert!(e.to_string().contains("PEK → PDH"), "{e}");
    // And an OCA of another platform does not sign this PEK.
    let mixed = PlatformChain {
        oca: rome.oca.clone(),
        ..milan
    };
    let e = mixed
        .verify(RootChoice::Generation(Generation::Milan))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Signature { link, .. } if link.issuer == CertName::Oca && link.subject == CertName::Pek),
        "{e}"
    );
}

/// The bytes of a certificate that a signature covers or that are a used signature slot.
fn signed_positions(cert: &[u8]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..0x414).collect();
    for off in [0x414usize, 0x61C] {
        let usage = u32::from_le_bytes(cert[off..off + 4].try_into().unwrap());
        if usage != remits_sev::usage::INVALID {
            v.extend(off..off + 8 + 0x200);
        }
    }
    v
}

fn names(e: &Error, cert: CertName) -> bool {
    match e {
        Error::Signature { link, .. } => link.subject == cert || link.issuer == cert,
        Error::Malformed { cert: c, .. } | Error::WrongField { cert: c, .. } => *c == cert,
        _ => false,
    }
}

#[test]
fn every_single_byte_change_of_a_signed_body_or_signature_is_rejected_naming_the_link() {
    let Some(d) = common::sev_dir() else { return };
    let mut checked = 0usize;
    for (name, g) in PLATFORMS {
        let chain = common::chain(&d, name);
        // Milan: every byte. Naples and Rome: every seventh byte (the same code paths, with
        // RSA-2048 and RSA-4096 ASKs), to keep the test under a minute on two cores.
        let step = if name == "milan" { 1 } else { 7 };
        for (cert, field) in [
            (CertName::Cek, 0usize),
            (CertName::Oca, 1),
            (CertName::Pek, 2),
            (CertName::Pdh, 3),
        ] {
            let orig = match field {
                0 => &chain.cek,
                1 => &chain.oca,
                2 => &chain.pek,
                _ => &chain.pdh,
            };
            for pos in signed_positions(orig).into_iter().step_by(step) {
                let mut bad = chain.clone();
                let b = match field {
                    0 => &mut bad.cek,
                    1 => &mut bad.oca,
                    2 => &mut bad.pek,
                    _ => &mut bad.pdh,
                };
                b[pos] ^= 0x01;
                let e = bad.verify(RootChoice::Generation(g)).expect_err(&format!(
                    "{name} {cert} byte {pos:#x} flipped still verifies"
                ));
                assert!(names(&e, cert), "{name} {cert} byte {pos:#x}: {e}");
                checked += 1;
            }
        }
        // Trailing or missing bytes.
        let mut long = chain.clone();
        long.pdh.push(0);
        assert!(matches!(
            long.verify(RootChoice::Generation(g)),
            Err(Error::Malformed {
                cert: CertName::Pdh,
                ..
            })
        ));
        let mut short = chain.clone();
        short.cek.pop();
        assert!(matches!(
            short.verify(RootChoice::Generation(g)),
            Err(Error::Malformed {
                cert: CertName::Cek,
                ..
            })
        ));
    }
    println!("{checked} single-byte changes rejected");
    assert!(checked > 7000, "{checked}");
}

#[test]
fn roots_with_a_flipped_byte_are_rejected() {
    let g = Generation::Milan;
    for pos in (0..g.ask().len()).step_by(97) {
        let mut ask = g.ask().to_vec();
        ask[pos] ^= 0x80;
        assert!(
            remits_sev::AmdRoots::verify(g.ark(), &ask, None).is_err(),
            "ASK byte {pos}"
        );
        let mut ark = g.ark().to_vec();
        ark[pos] ^= 0x80;
        assert!(
            remits_sev::AmdRoots::verify(&ark, g.ask(), None).is_err(),
            "ARK byte {pos}"
        );
    }
}

#[test]
fn garbage_never_panics() {
    for len in [0usize, 1, 63, 64, 0x823, 0x824, 0x825, 832, 1600, 4 * 0x824] {
        let junk = vec![0xA5u8; len];
        let c = PlatformChain {
            cek: junk.clone(),
            oca: junk.clone(),
            pek: junk.clone(),
            pdh: junk.clone(),
        };
        assert!(c.verify(RootChoice::AnyGeneration).is_err());
        assert!(remits_sev::AmdRoots::verify(&junk, &junk, None).is_err());
        let _ = PlatformChain::from_sevctl_export(&junk);
    }
}
