//! Real AMD-signed vectors from ../shared/testdata/snp: every positive one verifies with every
//! backend, parsed fields equal expected.json, and every negative or tampered input is rejected
//! with the error naming the failed check.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use remits_snp::{
    CertRole, Endorsement, Error, Generation, Report, Signer, TcbVersion, TrustAnchors, Verifier,
    VerifyOptions,
};
use serde_json::Value;

struct Case {
    report: Vec<u8>,
    leaf: Vec<u8>,
    chain: Vec<Vec<u8>>,
    time: &'static str,
    expected: Value,
}

fn cases() -> Option<Vec<Case>> {
    let dir = snp_dir()?;
    let expected: Value = serde_json::from_slice(&read(&dir, "expected.json")).unwrap();
    let mut out = Vec::new();
    for e in expected["reports"].as_array().unwrap() {
        let vlek = e["signing_cert_type"] == "VLEK";
        out.push(Case {
            report: read(&dir, e["report"].as_str().unwrap()),
            leaf: read(&dir, e["signing_cert"].as_str().unwrap()),
            chain: bundle(&dir, e["ca_bundle"].as_str().unwrap()),
            time: if vlek { VLEK_TIME } else { NOW },
            expected: e.clone(),
        });
    }
    assert_eq!(out.len(), 4, "expected.json lists four real reports");
    Some(out)
}

fn hexs(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn int(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap(),
        _ => panic!("not an integer: {v}"),
    }
}

fn assert_tcb(t: &TcbVersion, e: &Value) {
    assert_eq!(t.bootloader as u64, int(&e["bl"]));
    assert_eq!(t.tee as u64, int(&e["tee"]));
    assert_eq!(t.snp as u64, int(&e["snp"]));
    assert_eq!(t.microcode as u64, int(&e["ucode"]));
}

#[test]
fn parsed_fields_equal_expected_json() {
    let Some(cases) = cases() else { return };
    for c in &cases {
        let e = &c.expected;
        let g: Generation = e["generation"].as_str().unwrap().parse().unwrap();
        let r = Report::parse(&c.report).unwrap();
        assert_eq!(r.version() as u64, int(&e["version"]));
        assert_eq!(r.guest_svn() as u64, int(&e["guest_svn"]));
        assert_eq!(r.policy().0, int(&e["policy"]));
        assert_eq!(r.vmpl() as u64, int(&e["vmpl"]));
        assert_eq!(r.signature_algo() as u64, int(&e["signature_algo"]));
        assert_eq!(r.platform_info().0, int(&e["platform_info"]));
        let ki = r.key_info();
        assert_eq!(
            ki.author_key_en() as u64,
            int(&e["key_info"]["author_key_en"])
        );
        assert_eq!(
            ki.mask_chip_key() as u64,
            int(&e["key_info"]["mask_chip_key"])
        );
        assert_eq!(ki.signing_key() as u64, int(&e["key_info"]["signing_key"]));
        match r.cpuid() {
            None => assert!(e["cpuid"].is_null()),
            Some(c) => {
                assert_eq!(c.family as u64, int(&e["cpuid"]["family"]));
                assert_eq!(c.model as u64, int(&e["cpuid"]["model"]));
                assert_eq!(c.stepping as u64, int(&e["cpuid"]["stepping"]));
                assert_eq!(r.cpuid_generation().unwrap().unwrap(), g);
            }
        }
        assert_tcb(
            &TcbVersion::decode(r.current_tcb_raw(), g),
            &e["current_tcb"],
        );
        assert_tcb(
            &TcbVersion::decode(r.reported_tcb_raw(), g),
            &e["reported_tcb"],
        );
        assert_tcb(
            &TcbVersion::decode(r.committed_tcb_raw(), g),
            &e["committed_tcb"],
        );
        assert_tcb(&TcbVersion::decode(r.launch_tcb_raw(), g), &e["launch_tcb"]);
        assert_eq!(
            r.current_version().to_string(),
            e["current_fw"].as_str().unwrap()
        );
        assert_eq!(
            r.committed_version().to_string(),
            e["committed_fw"].as_str().unwrap()
        );
        assert_eq!(r.report_data().to_vec(), hexs(&e["report_data"]));
        assert_eq!(r.measurement().to_vec(), hexs(&e["measurement"]));
        assert_eq!(r.host_data().to_vec(), hexs(&e["host_data"]));
        assert_eq!(r.id_key_digest().to_vec(), hexs(&e["id_key_digest"]));
        assert_eq!(
            r.author_key_digest().to_vec(),
            hexs(&e["author_key_digest"])
        );
        assert_eq!(r.report_id().to_vec(), hexs(&e["report_id"]));
        assert_eq!(r.report_id_ma().to_vec(), hexs(&e["report_id_ma"]));
        assert_eq!(r.chip_id().to_vec(), hexs(&e["chip_id"]));
        assert!(r.launch_mit_vector().is_none());

        // Certificate fields.
        let leaf = remits_snp::cert::AmdCert::from_der(&c.leaf, CertRole::Unknown).unwrap();
        let x = leaf.amd_extensions();
        assert_eq!(
            x.product_name.as_deref(),
            e["signing_cert_product_name"].as_str()
        );
        let spl = &e["signing_cert_spl"];
        for (i, k) in [
            (1, "blSPL"),
            (2, "teeSPL"),
            (3, "snpSPL"),
            (4, "spl_4"),
            (5, "spl_5"),
            (6, "spl_6"),
            (7, "spl_7"),
            (8, "ucodeSPL"),
        ] {
            assert_eq!(x.spl[i].map(u64::from), Some(int(&spl[k])), "{k}");
        }
        match e["signing_cert_hwid"].as_str() {
            Some(h) => assert_eq!(leaf.hw_id(64).unwrap(), hex::decode(h).unwrap()),
            None => assert!(x.hw_id.is_none()),
        }
        assert_eq!(x.csp_id.as_deref(), e["signing_cert_csp_id"].as_str());
        assert_eq!(
            leaf.not_before(),
            at(e["signing_cert_not_before"].as_str().unwrap())
        );
        assert_eq!(
            leaf.not_after(),
            at(e["signing_cert_not_after"].as_str().unwrap())
        );
    }
}

#[test]
fn every_positive_vector_verifies_with_every_backend() {
    let Some(cases) = cases() else { return };
    for backend in backends() {
        let v = Verifier::with_backend(TrustAnchors::amd(), backend.clone());
        for c in &cases {
            let e = &c.expected;
            let g: Generation = e["generation"].as_str().unwrap().parse().unwrap();
            let opts = VerifyOptions::at(at(c.time));
            // With the supplied chain, and with the built-in chain (chain empty).
            for chain in [c.chain.clone(), Vec::new()] {
                let end = Endorsement {
                    leaf: c.leaf.clone(),
                    chain,
                };
                let got = v
                    .verify(&c.report, &end, &opts)
                    .unwrap_or_else(|err| panic!("{} ({}): {err}", e["report"], backend.name()));
                assert_eq!(got.claims().generation, g);
                assert_eq!(got.claims().measurement, hexs(&e["measurement"]));
                assert_eq!(got.claims().report_data, hexs(&e["report_data"]));
                assert_eq!(got.claims().chip_id, hexs(&e["chip_id"]));
                assert_eq!(got.claims().vmpl as u64, int(&e["vmpl"]));
                assert_eq!(
                    got.claims().signer,
                    if e["signing_cert_type"] == "VLEK" {
                        Signer::Vlek
                    } else {
                        Signer::Vcek
                    }
                );
                assert!(got.amd_root());
            }
            // Cached path gives the same result.
            let again = v
                .verify(&c.report, &Endorsement::leaf(c.leaf.clone()), &opts)
                .unwrap();
            assert!(again.chain_cached());
            // Explicit generation agrees.
            let mut o = opts.clone();
            o.generation = Some(g);
            let _ = v
                .verify(&c.report, &Endorsement::leaf(c.leaf.clone()), &o)
                .unwrap();
        }
    }
}

#[test]
fn claims_json_has_the_listed_fields() {
    let Some(cases) = cases() else { return };
    let v = Verifier::new(TrustAnchors::amd());
    let c = &cases[0];
    let got = v
        .verify(
            &c.report,
            &Endorsement::leaf(c.leaf.clone()),
            &VerifyOptions::at(at(NOW)),
        )
        .unwrap();
    let j = serde_json::to_value(got.claims()).unwrap();
    for k in [
        "version",
        "generation",
        "signer",
        "vmpl",
        "measurement",
        "report_data",
        "host_data",
        "chip_id",
        "id_key_digest",
        "author_key_digest",
        "reported_tcb",
        "current_tcb",
        "committed_tcb",
        "launch_tcb",
        "policy",
        "platform_info",
    ] {
        assert!(j.get(k).is_some(), "missing {k}");
    }
    assert_eq!(j["generation"], "milan");
    assert_eq!(j["signer"], "vcek");
    assert_eq!(j["reported_tcb"]["microcode"], 115);
    assert_eq!(j["reported_tcb"]["bootloader"], 3);
    assert!(j["reported_tcb"].get("fmc").is_none());
    assert_eq!(j["policy"]["smt"], true);
    assert_eq!(j["policy"]["debug"], false);
    assert_eq!(j["policy"]["abi_major"], 0);
    assert_eq!(j["policy"]["page_swap_disable"], Value::Null);
    assert_eq!(j["measurement"], c.expected["measurement"]);
    assert_eq!(j["report_id_ma"], "ff".repeat(32));
}

#[test]
fn every_single_byte_change_in_the_signed_region_is_rejected() {
    let Some(cases) = cases() else { return };
    for backend in backends() {
        let v = Verifier::with_backend(TrustAnchors::amd(), backend.clone());
        for c in &cases {
            let end = Endorsement::leaf(c.leaf.clone());
            let opts = VerifyOptions::at(at(c.time));
            let _ = v.verify(&c.report, &end, &opts).unwrap();
            let mut n = 0;
            for off in 0..0x2A0 {
                for change in [0x01u8, 0xFF] {
                    let mut r = c.report.clone();
                    r[off] ^= change;
                    let err = v.verify(&r, &end, &opts).expect_err(&format!(
                        "{}: offset {off:#x} ^ {change:#x} accepted",
                        c.expected["report"]
                    ));
                    n += 1;
                    // The signature is checked before any field is trusted. The only other
                    // outcomes are structural refusals of VERSION, SIGNATURE_ALGO and KEY_INFO,
                    // which are read to decide how to verify.
                    let ok = match off {
                        0x00..=0x03 => matches!(
                            err,
                            Error::UnsupportedVersion(_) | Error::ReportSignature(_)
                        ),
                        0x34..=0x37 => matches!(err, Error::SignatureAlgo(_)),
                        0x48..=0x4B => matches!(
                            err,
                            Error::SigningKey(_)
                                | Error::LeafKind { .. }
                                | Error::ReportSignature(_)
                        ),
                        _ => matches!(err, Error::ReportSignature(_)),
                    };
                    assert!(ok, "{} offset {off:#x}: {err}", c.expected["report"]);
                }
            }
            assert_eq!(n, 2 * 0x2A0);
            // The untouched report still verifies (no state leaked from the rejections).
            let _ = v.verify(&c.report, &end, &opts).unwrap();
        }
    }
}

#[test]
fn cross_checks_are_rejected() {
    let Some(dir) = snp_dir() else { return };
    let v = Verifier::new(TrustAnchors::amd());
    let opts = VerifyOptions::at(at(NOW));
    let sev_report = read(&dir, "milan-v2-sev-report.bin");
    let sev_vcek = read(&dir, "milan-v2-sev-vcek.der");
    let trustee_vcek = read(&dir, "milan-v2-trustee-vcek.der");

    // The virtee/sev report with the trustee VCEK: the TCBs match, so the signature fails.
    let err = v
        .verify(&sev_report, &Endorsement::leaf(trustee_vcek), &opts)
        .unwrap_err();
    assert!(matches!(err, Error::ReportSignature(Signer::Vcek)), "{err}");

    // A Milan VCEK under the Genoa ASK/ARK: the Genoa certificates are not this leaf's chain.
    let genoa = bundle(&dir, "genoa-ask-ark-asvk.pem");
    let err = v
        .verify(
            &sev_report,
            &Endorsement {
                leaf: sev_vcek.clone(),
                chain: genoa.clone(),
            },
            &opts,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::ChainIncomplete(CertRole::Ask)),
        "{err}"
    );

    // A report_data bit flipped.
    let mut r = sev_report.clone();
    r[0x50] ^= 0x80;
    let err = v
        .verify(&r, &Endorsement::leaf(sev_vcek.clone()), &opts)
        .unwrap_err();
    assert!(matches!(err, Error::ReportSignature(_)), "{err}");

    // A report generation that contradicts the certificate.
    let mut o = opts.clone();
    o.generation = Some(Generation::Genoa);
    let err = v
        .verify(&sev_report, &Endorsement::leaf(sev_vcek.clone()), &o)
        .unwrap_err();
    assert!(matches!(err, Error::GenerationMismatch { .. }), "{err}");

    // Expected report_data / host_data.
    let mut o = opts.clone();
    o.expected_host_data = Some(vec![0u8; 4]);
    let _ = v
        .verify(&sev_report, &Endorsement::leaf(sev_vcek.clone()), &o)
        .unwrap();
    o.expected_host_data = Some(vec![1u8]);
    let err = v
        .verify(&sev_report, &Endorsement::leaf(sev_vcek.clone()), &o)
        .unwrap_err();
    assert!(matches!(err, Error::HostDataMismatch { .. }), "{err}");
    let mut o = opts.clone();
    o.expected_report_data = Some(Report::parse(&sev_report).unwrap().report_data().to_vec());
    let _ = v
        .verify(&sev_report, &Endorsement::leaf(sev_vcek.clone()), &o)
        .unwrap();
    o.expected_report_data = Some(vec![0u8; 65]);
    let err = v
        .verify(&sev_report, &Endorsement::leaf(sev_vcek), &o)
        .unwrap_err();
    assert!(matches!(err, Error::ExpectedTooLong { .. }), "{err}");
}

#[test]
fn vlek_expired_at_real_time_and_valid_in_2025() {
    let Some(dir) = snp_dir() else { return };
    let v = Verifier::new(TrustAnchors::amd());
    let report = read(&dir, "milan-v3-vlek-report.bin");
    let vlek = read(&dir, "milan-vlek.der");
    let end = Endorsement {
        leaf: vlek.clone(),
        chain: bundle(&dir, "milan-ask-ark-asvk.pem"),
    };
    let _ = v
        .verify(&report, &end, &VerifyOptions::at(at(VLEK_TIME)))
        .unwrap();
    let err = v
        .verify(
            &report,
            &end,
            &VerifyOptions::at(std::time::SystemTime::now()),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertValidity {
                role: CertRole::Vlek,
                ..
            }
        ),
        "{err}"
    );
    let err = v
        .verify(
            &report,
            &end,
            &VerifyOptions::at(at("2024-12-10T22:14:20Z")),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertValidity {
                role: CertRole::Vlek,
                ..
            }
        ),
        "{err}"
    );
    // Boundaries are inclusive.
    let _ = v
        .verify(
            &report,
            &end,
            &VerifyOptions::at(at("2025-12-10T22:14:21Z")),
        )
        .unwrap();

    // Checked against the ASK instead of the ASVK: rejected.
    let end = Endorsement {
        leaf: vlek,
        chain: bundle(&dir, "milan-ask-ark.pem"),
    };
    let err = v
        .verify(&report, &end, &VerifyOptions::at(at(VLEK_TIME)))
        .unwrap_err();
    assert!(
        matches!(err, Error::ChainIncomplete(CertRole::Asvk)),
        "{err}"
    );
}

#[test]
fn signing_key_must_match_the_leaf_kind() {
    let Some(dir) = snp_dir() else { return };
    let v = Verifier::new(TrustAnchors::amd());
    // A VCEK-signed report presented with the VLEK: KEY_INFO says VCEK.
    let report = read(&dir, "milan-v2-sev-report.bin");
    let err = v
        .verify(
            &report,
            &Endorsement::leaf(read(&dir, "milan-vlek.der")),
            &VerifyOptions::at(at(VLEK_TIME)),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LeafKind {
                report: Signer::Vcek,
                ..
            }
        ),
        "{err}"
    );
    // The VLEK report with a VCEK.
    let report = read(&dir, "milan-v3-vlek-report.bin");
    let err = v
        .verify(
            &report,
            &Endorsement::leaf(read(&dir, "milan-v2-sev-vcek.der")),
            &VerifyOptions::at(at(VLEK_TIME)),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::LeafKind {
                report: Signer::Vlek,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn certificate_only_vectors() {
    let Some(dir) = snp_dir() else { return };
    let v = Verifier::new(TrustAnchors::amd());
    // Real Turin VCEK: chain verifies, extensions are Turin's.
    let turin = read(&dir, "turin-vcek.der");
    let end = Endorsement {
        leaf: turin.clone(),
        chain: bundle(&dir, "turin-ask-ark.pem"),
    };
    v.verify_endorsement(&end, at(NOW)).unwrap();
    v.verify_endorsement(&Endorsement::leaf(turin.clone()), at(NOW))
        .unwrap();
    let c = remits_snp::cert::AmdCert::from_der(&turin, CertRole::Unknown).unwrap();
    let x = c.amd_extensions();
    assert_eq!(x.struct_version, Some(1));
    assert_eq!(x.product_name.as_deref(), Some("Turin"));
    assert_eq!(
        c.hw_id(8).unwrap(),
        hex::decode("1e550a8ee5cf9f4d").unwrap()
    );
    assert_eq!(x.spl[4], None);
    assert_eq!(
        (x.spl[9], x.spl[1], x.spl[2], x.spl[3], x.spl[8]),
        (Some(0), Some(0), Some(0), Some(0), Some(9))
    );
    let err = v
        .verify_endorsement(&end, at("2031-11-07T00:00:00Z"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::CertValidity {
                role: CertRole::Vcek,
                ..
            }
        ),
        "{err}"
    );

    // Synthetic VCEKs: parse (raw and OCTET-STRING-wrapped hwID), but the ASK signature fails.
    let want: Vec<u8> = (0u8..64).collect();
    for name in [
        "synthetic-invalid-vcek-legacy.der",
        "synthetic-invalid-vcek-new.der",
    ] {
        let der = read(&dir, name);
        let c = remits_snp::cert::AmdCert::from_der(&der, CertRole::Unknown).unwrap();
        assert_eq!(c.hw_id(64).unwrap(), want, "{name}");
        let end = Endorsement {
            leaf: der,
            chain: bundle(&dir, "milan-ask-ark-asvk.pem"),
        };
        let err = v.verify_endorsement(&end, at(NOW)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::CertSignature {
                    subject: CertRole::Vcek,
                    issuer: CertRole::Ask
                }
            ),
            "{name}: {err}"
        );
    }
}

#[test]
fn builtin_certificates_match_pinned_fingerprints_and_testdata() {
    use sha2::{Digest, Sha256};
    // Pinned ARK fingerprints from notes/snp.md.
    let pinned = [
        (
            Generation::Milan,
            "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
        ),
        (
            Generation::Genoa,
            "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
        ),
        (
            Generation::Turin,
            "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
        ),
    ];
    let anchors = TrustAnchors::amd();
    assert_eq!(anchors.fingerprints().len(), 3);
    for (g, fp) in pinned {
        let (ark, _, _) = TrustAnchors::amd_certificates(g).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&ark)), fp, "{g}");
        assert!(anchors.fingerprints().contains(&(g, fp.to_string())));
    }
    let Some(dir) = snp_dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&dir, "expected.json")).unwrap();
    let fps = &expected["ca_sha256_fingerprints"];
    for g in Generation::ALL {
        let (ark, ask, asvk) = TrustAnchors::amd_certificates(g).unwrap();
        let p = g.product();
        assert_eq!(
            hex::encode(Sha256::digest(&ark)),
            fps[format!("ARK-{p}")].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(Sha256::digest(&ask)),
            fps[format!("SEV-{p}")].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(Sha256::digest(&asvk)),
            fps[format!("SEV-VLEK-{p}")].as_str().unwrap()
        );
    }
}

#[test]
fn wrong_lengths_and_versions_are_rejected_without_panic() {
    for len in [0usize, 1, 0x2A0, 1183, 1185, 4096] {
        assert!(
            matches!(Report::parse(&vec![0u8; len]), Err(Error::ReportLength { actual, .. }) if actual == len)
        );
    }
    for ver in [0u32, 1, 6, 0xFFFF_FFFF] {
        let mut r = vec![0u8; 1184];
        r[..4].copy_from_slice(&ver.to_le_bytes());
        assert!(matches!(Report::parse(&r), Err(Error::UnsupportedVersion(v)) if v == ver));
    }
    let mut r = vec![0u8; 1184];
    r[0] = 4;
    let rep = Report::parse(&r).unwrap();
    assert!(rep.cpuid().is_some());
    assert!(rep.launch_mit_vector().is_none());
    r[0] = 5;
    assert_eq!(Report::parse(&r).unwrap().launch_mit_vector(), Some(0));
    // A garbage report with a real VCEK fails cleanly.
    let v = Verifier::new(TrustAnchors::amd());
    r[0x34] = 1;
    let err = v
        .verify(
            &r,
            &Endorsement::leaf(vec![0x30, 0x00]),
            &VerifyOptions::at(at(NOW)),
        )
        .unwrap_err();
    assert!(matches!(err, Error::CertParse { .. }), "{err}");
}

#[test]
fn verifier_is_send_sync_and_cache_is_shared() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
    let Some(cases) = cases() else { return };
    let v = Arc::new(Verifier::new(TrustAnchors::amd()));
    let c = &cases[1];
    let opts = VerifyOptions::at(at(c.time));
    let first = v
        .verify(&c.report, &Endorsement::leaf(c.leaf.clone()), &opts)
        .unwrap();
    assert!(!first.chain_cached());
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let v = v.clone();
            let (r, l, o) = (c.report.clone(), c.leaf.clone(), opts.clone());
            std::thread::spawn(move || {
                v.verify(&r, &Endorsement::leaf(l), &o)
                    .unwrap()
                    .chain_cached()
            })
        })
        .collect();
    for h in hs {
        assert!(h.join().unwrap());
    }
    v.clear_cache();
    assert!(!v
        .verify(&c.report, &Endorsement::leaf(c.leaf.clone()), &opts)
        .unwrap()
        .chain_cached());
}

/// `der_or_pem` reads a real certificate in every form operators hand it: DER, strict PEM, one
/// long Base64 line, CRLF, with OpenSSL's `subject=` line around it; two certificates are refused.
#[test]
fn one_certificate_in_every_operator_form() {
    let Some(dir) = snp_dir() else {
        return;
    };
    let chain = bundle(&dir, "milan-ask-ark-asvk.pem");
    let der = chain[0].clone();
    let strict = remits_snp::cert::der_to_pem(&der);
    let body: String = strict.lines().filter(|l| !l.starts_with("-----")).collect();
    let one_line = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
    let crlf = strict.replace('\n', "\r\n");
    let openssl = format!("subject=CN = ARK-Milan\nissuer=CN = ARK-Milan\n{strict}");
    for (form, bytes) in [
        ("DER", der.clone()),
        ("strict PEM", strict.clone().into_bytes()),
        ("one line", one_line.into_bytes()),
        ("CRLF", crlf.into_bytes()),
        ("OpenSSL text", openssl.into_bytes()),
    ] {
        assert_eq!(remits_snp::cert::der_or_pem(&bytes).unwrap(), der, "{form}");
    }
    let two = format!("{strict}{}", remits_snp::cert::der_to_pem(&chain[1]));
    let err = remits_snp::cert::der_or_pem(two.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected one certificate, found 2"),
        "{err}"
    );
    let key = strict.replace("CERTIFICATE", "PRIVATE KEY");
    assert!(remits_snp::cert::der_or_pem(key.as_bytes()).is_err());
}
