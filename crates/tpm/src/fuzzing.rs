//! Entry points for the fuzz targets in `fuzz/fuzz_targets/` (one per target). Each runs a
//! parser on arbitrary bytes and then every step that can follow a successful parse, so the
//! fuzzer reaches claim extraction, digests and replay. None may panic, hang or allocate
//! without bound on any input; `tests/fuzz_vectors.rs` runs them over the real vectors and
//! their mutations so CI exercises them without libFuzzer.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;

use crate::alg::HashAlg;
use crate::attest::Attest;
use crate::azure::{verify_az_snp_vtpm, AzSnpVtpmEvidence, HclReport, RuntimeClaims};
use crate::eventlog::{replay, CompareMode, EventLog};
use crate::key::AttestationKey;
use crate::pcr::{PcrSelection, PcrValues};
use crate::public::TpmPublic;
use crate::quote::{verify_quote, NonceCheck};
use crate::signature::Signature;

/// A fixed RSA-2048 key (modulus all ones: not a real key, but a valid verification input).
fn rsa_key() -> Option<AttestationKey> {
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xFFu8; 256]);
    AttestationKey::from_rsa_jwk(&n, "AQAB", None).ok()
}

/// A fixed P-256 key.
fn p256_key() -> Option<AttestationKey> {
    use p256::pkcs8::EncodePublicKey;
    let sk = p256::SecretKey::from_slice(&[7u8; 32]).ok()?;
    let der = sk.public_key().to_public_key_der().ok()?;
    AttestationKey::from_spki_der(der.as_bytes()).ok()
}

/// Zero values for every PCR of `sel`.
fn zero_values(sel: &PcrSelection) -> PcrValues {
    let mut v = PcrValues::new();
    for (alg, pcrs) in sel.banks() {
        for p in pcrs {
            let _ = v.insert(alg, p, vec![0; alg.size()]);
        }
    }
    v
}

/// `tpm_attest`: TPMS_ATTEST (and TPML_PCR_SELECTION and the tpm2-tools PCR files), then the
/// steps after parsing: summary, PCR ordering, digest, and the full quote check.
pub fn tpm_attest(data: &[u8]) {
    if let Ok(a) = Attest::parse(data) {
        let info = a.info();
        let _ = serde_json::to_string(&info);
        let values = zero_values(a.selection());
        if let Some(parts) = values.ordered_by(a.selection()) {
            let _ = HashAlg::Sha256.hash_parts(parts);
        }
        let _ = a.selection().same_pcrs(&values.selection());
        if let Some(k) = rsa_key() {
            let sig = Signature::rsassa_raw(HashAlg::Sha256, &[1u8; 256]);
            let _ = verify_quote(data, &sig, &k, &values, NonceCheck::Unchecked);
        }
    }
    if let Ok(s) = PcrSelection::parse(data) {
        let _ = s.to_string();
        let _ = PcrValues::from_tpm2_values(data, &s);
    }
    if let Ok((s, v)) = PcrValues::from_tpm2_serialized(data) {
        let _ = v.ordered_by(&s);
    }
    if let Ok(v) = PcrValues::from_json(data) {
        let _ = serde_json::to_string(&v);
    }
    if let Ok(t) = std::str::from_utf8(data) {
        let _ = PcrValues::from_tpm2_pcrread(t);
    }
}

/// `tpm_signature`: TPMT_SIGNATURE, then verification under fixed RSA and P-256 keys (which
/// exercises scalar padding, scheme and hash checks) over the input itself.
pub fn tpm_signature(data: &[u8]) {
    if let Ok(s) = Signature::parse(data) {
        let _ = s.describe();
        for k in [rsa_key(), p256_key()].into_iter().flatten() {
            let _ = k.verify(data, &s);
        }
    }
}

/// `tpm_public`: TPM2B_PUBLIC, its Name, scheme and attributes, and every key constructor.
pub fn tpm_public(data: &[u8]) {
    if let Ok(p) = TpmPublic::parse(data) {
        let _ = p.name();
        let _ = p.signing_scheme();
        let _ = p.check_restricted_signing();
        let _ = serde_json::to_string(&p.summary());
    }
    let _ = TpmPublic::parse_tpmt(data);
    if let Ok(k) = AttestationKey::from_any(data) {
        let _ = serde_json::to_string(&k.describe());
    }
}

/// `event_log`: a TCG event log, every event decoded, replayed, and compared with its own
/// replay and with empty values.
pub fn event_log(data: &[u8]) {
    if let Ok(log) = EventLog::parse(data) {
        let _ = serde_json::to_string(&log.describe());
        if let Ok(r) = replay(&log) {
            let _ = r.compare(r.pcrs(), CompareMode::AllQuoted);
            let _ = r.compare(r.pcrs(), CompareMode::LogCovered);
            let _ = r.compare(&PcrValues::new(), CompareMode::AllQuoted);
            let _ = r.events_of(0);
        }
    }
}

/// `hcl_report`: the HCL report and its runtime claims (also parsed alone), down to the
/// HCLAkPub key.
pub fn hcl_report(data: &[u8]) {
    if let Ok(h) = HclReport::parse(data) {
        let _ = h.hash().hash(h.var_data());
        if let Ok((n, e)) = h.runtime_claims().hcl_ak_pub() {
            let _ = AttestationKey::from_rsa_jwk(n, e, None);
        }
        let _ = serde_json::to_string(h.runtime_claims());
    }
    if let Ok(c) = RuntimeClaims::parse(data) {
        let _ = c.hcl_ak_pub();
    }
}

/// `az_evidence_json`: trustee evidence JSON v0/v1/v2, re-serialised, then the whole
/// verification at a fixed time against AMD's roots.
pub fn az_evidence_json(data: &[u8]) {
    if let Ok(e) = AzSnpVtpmEvidence::from_json(data) {
        let _ = AzSnpVtpmEvidence::from_value(e.to_json_v1v2());
        let v = remits_snp::Verifier::new(remits_snp::TrustAnchors::amd());
        let opts = remits_snp::VerifyOptions::at(UNIX_EPOCH + Duration::from_secs(1_793_491_200));
        let _ = verify_az_snp_vtpm(&e, &v, &opts, NonceCheck::Unchecked);
    }
}
