//! Entry points for the `snp_report` and `snp_cert` fuzz targets (and the test that runs them
//! over mutated real vectors). They must never panic, hang or allocate without bound on any
//! input.
//!
//! [`report`] reaches past the signature checks into the TCB, chip-ID and claim code by
//! verifying with a private backend that accepts every signature; that backend is not exported
//! and is used nowhere else.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::backend::{BadSignature, P384Key, SignatureBackend};
use crate::cert::{der_or_pem, pem_bundle_to_der, AmdCert};
use crate::report::{Report, TcbVersion, REPORT_LEN};
use crate::{
    CertRole, CrlCheck, CrlKind, Endorsement, Generation, TrustAnchors, Verifier, VerifyOptions,
};

/// Accepts every signature: lets the fuzzer reach the checks behind the signatures.
#[derive(Debug)]
struct AcceptAll;

#[derive(Debug)]
struct AcceptKey;

impl P384Key for AcceptKey {
    fn verify(&self, _msg: &[u8], _sig: &[u8; 96]) -> Result<(), BadSignature> {
        Ok(())
    }
}

impl SignatureBackend for AcceptAll {
    fn name(&self) -> &'static str {
        "fuzzing-accept-all"
    }
    fn p384_key(&self, _sec1: &[u8]) -> Result<Box<dyn P384Key>, BadSignature> {
        Ok(Box::new(AcceptKey))
    }
    fn verify_rsa_pss_sha384(
        &self,
        _key: &[u8],
        _msg: &[u8],
        _sig: &[u8],
    ) -> Result<(), BadSignature> {
        Ok(())
    }
}

/// FUZZING ONLY (feature `fuzzing`, never on in a normal build): a signature backend that
/// accepts every signature, for fuzz targets that run evidence through the claim and policy code
/// behind the signatures.
#[cfg(feature = "fuzzing")]
pub fn accept_all_signatures() -> Arc<dyn SignatureBackend> {
    Arc::new(AcceptAll)
}

fn fuzz_time() -> SystemTime {
    // 2025-06-01: inside every real certificate's validity, the VLEK's included.
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_736_000)
}

/// Every accessor of the report view and the claims for each generation.
fn walk_report(r: &Report<'_>) {
    let _ = (
        r.version(),
        r.guest_svn(),
        r.vmpl(),
        r.signature_algo(),
        r.family_id(),
        r.image_id(),
    );
    let (p, pi, ki) = (r.policy(), r.platform_info(), r.key_info());
    let _ = (
        p.abi_major(),
        p.abi_minor(),
        p.debug(),
        p.migrate_ma(),
        p.page_swap_disable(),
    );
    let _ = (
        pi.smt_en(),
        pi.tio_en(),
        ki.signer(),
        ki.mask_chip_key(),
        ki.author_key_en(),
    );
    let _ = (
        r.report_data(),
        r.measurement(),
        r.host_data(),
        r.id_key_digest(),
    );
    let _ = (
        r.author_key_digest(),
        r.report_id(),
        r.report_id_ma(),
        r.chip_id(),
        r.cpuid(),
    );
    let _ = (
        r.current_version(),
        r.committed_version(),
        r.launch_mit_vector(),
        r.current_mit_vector(),
    );
    let _ = (
        r.reserved(),
        r.signature_be(),
        r.cpuid_generation(),
        r.signed_bytes(),
    );
    for g in Generation::ALL {
        for raw in [
            r.current_tcb_raw(),
            r.reported_tcb_raw(),
            r.committed_tcb_raw(),
            r.launch_tcb_raw(),
        ] {
            let _ = TcbVersion::decode(raw, g).to_u64();
        }
        for s in [crate::Signer::Vcek, crate::Signer::Vlek] {
            let c = crate::claims::SnpClaims::from_report(r, g, s, String::new(), None);
            let _ = format!("{c:?}");
        }
    }
}

/// The `snp_report` target: parse `data` as a report and walk every field. When `data` is longer
/// than a report, the rest is taken as the leaf certificate (DER) and the report is verified with
/// every signature accepted, so the extension, TCB, chip-ID, generation and claim checks run.
pub fn report(data: &[u8]) {
    let (head, leaf) = if data.len() > REPORT_LEN {
        data.split_at(REPORT_LEN)
    } else {
        (data, &[][..])
    };
    if let Ok(r) = Report::parse(head) {
        walk_report(&r);
    }
    if !leaf.is_empty() {
        report_with_leaf(head, leaf);
    }
}

/// Verify `report` with `leaf` and AMD's built-in chain, every signature accepted, with and
/// without a caller generation and expected values.
pub fn report_with_leaf(report: &[u8], leaf: &[u8]) {
    let v = Verifier::with_backend(TrustAnchors::amd(), Arc::new(AcceptAll));
    let end = Endorsement::leaf(leaf.to_vec());
    let mut opts = VerifyOptions::at(fuzz_time());
    let _ = v.verify(report, &end, &opts);
    opts.allow_masked_chip_id = true;
    opts.generation = Some(Generation::Turin);
    opts.expected_report_data = Some(report.get(..8).unwrap_or(&[]).to_vec());
    opts.expected_host_data = Some(vec![0; 32]);
    opts.check_crl = CrlCheck::FailOpen;
    let _ = v.verify(report, &end, &opts);
}

/// The `snp_cert` target: parse `data` as a certificate (DER, PEM or a PEM bundle), as an
/// explicit ARK, as a leaf with AMD's chain (real signature checks), and as a CRL.
pub fn cert(data: &[u8]) {
    if let Ok(c) = AmdCert::from_der(data, CertRole::Unknown) {
        let _ = (
            c.subject_cn(),
            c.issuer_cn(),
            c.serial(),
            c.tbs_bytes(),
            c.signature(),
        );
        let _ = (
            c.not_before(),
            c.not_after(),
            c.public_key(),
            c.is_self_issued(),
        );
        let _ = (c.hw_id(8), c.hw_id(64), c.amd_extensions(), c.fingerprint());
        let _ = c.check_validity(fuzz_time(), CertRole::Unknown);
    }
    let _ = der_or_pem(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pem_bundle_to_der(text);
    }
    let _ = TrustAnchors::amd().with_ark(data);
    let v = Verifier::new(TrustAnchors::amd());
    let _ = v.verify_endorsement(&Endorsement::leaf(data.to_vec()), fuzz_time());
    let _ = v.add_crl(data, CrlKind::Vcek, fuzz_time());
    let _ = v.add_crl(data, CrlKind::Vlek, fuzz_time());
}

/// The `snp_crl` target: `data` as AMD's VCEK and VLEK CRLs (DER, or PEM as operators configure
/// them), with the real RSA-PSS check and, past it (every signature accepted), the issuer,
/// issuing-distribution-point, time and revoked-serial checks.
pub fn crl(data: &[u8]) {
    // The operators' path of remits-verify: DER as is, or one lenient PEM `X509 CRL` block.
    let Ok(der) = remits_codec::pem::der_or_pem(data, "X509 CRL") else {
        return;
    };
    let real = Verifier::new(TrustAnchors::amd());
    let accept = Verifier::with_backend(TrustAnchors::amd(), Arc::new(AcceptAll));
    for kind in [CrlKind::Vcek, CrlKind::Vlek] {
        let _ = real.add_crl(&der, kind, fuzz_time());
        if let Ok(info) = accept.add_crl(&der, kind, fuzz_time()) {
            let _ = format!("{info:?}");
        }
    }
}
