//! AMD SEV-SNP: the remits envelope (`{"report": b64, "cert_chain": [...]}`) or trustee's form
//! (`{"attestation_report": {...}, "cert_chain": [...]|null}`), verified by remits-snp.
//!
//! Checks, in order: structure; the endorsement chain to a trusted ARK (AMD's, or one the
//! operator added explicitly); the report signature over the raw bytes; reported TCB equals the
//! leaf's SPLs; CHIP_ID equals the VCEK hwID; REPORT_DATA equals the binding digest zero-padded
//! to 64 bytes; HOST_DATA equals the init-data digest fitted to 32 bytes. Policy bits, VMPL,
//! measurement and minimum TCB are left to the policy, which sees them as claims.
use std::sync::Arc;
use std::time::SystemTime;

use remits_evidence::binding::fit;
use remits_evidence::envelope::{CertType, SnpEvidence, MAX_CERTS};
use remits_snp::{Endorsement, SnpClaims, Verifier, VerifyOptions};
use serde_json::{json, Map, Value};

use super::snp_trustee::{byte_list, encode_report};
use crate::driver::{DriverOutput, Expected, TeeDriver};
use crate::Error;

/// The SNP roots a production policy may rely on: AMD's built-in ARKs always, and the extra
/// ARKs an operator explicitly marked as production roots (`snp_production_arks`). Extra roots
/// that are only trusted for development (e.g. the remits simulator's ARK, in
/// `snp_extra_arks`) verify, but their claims say `production_root: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductionRoots {
    extra: Vec<[u8; 32]>,
}

impl ProductionRoots {
    /// AMD's roots plus the extra ARKs with these SHA-256 fingerprints (of their DER).
    pub fn new(extra: Vec<[u8; 32]>) -> Self {
        ProductionRoots { extra }
    }

    /// Whether a chain ending in the ARK `ark_sha256` (AMD's when `amd_root`) is a
    /// production root.
    pub fn is_production(&self, amd_root: bool, ark_sha256: &[u8; 32]) -> bool {
        amd_root || self.extra.contains(ark_sha256)
    }
}

/// The SNP driver. Cheap to clone; the verifier caches verified chains.
#[derive(Clone)]
pub struct SnpDriver {
    verifier: Arc<Verifier>,
    roots: Arc<ProductionRoots>,
}

impl std::fmt::Debug for SnpDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpDriver").finish_non_exhaustive()
    }
}

fn rej(reason: impl Into<String>) -> Error {
    Error::malformed("snp", reason)
}

/// Raw report bytes and endorsement, from either evidence form.
///
/// # Errors
///
/// [`Error::EvidenceRejected`] (check `evidence.format`) when the document is neither form or a
/// member is missing or malformed.
pub fn parse_evidence(evidence: &Value) -> Result<(Vec<u8>, Endorsement), Error> {
    let obj = evidence
        .as_object()
        .ok_or_else(|| rej("evidence is not a JSON object"))?;
    if obj.contains_key("attestation_report") {
        let report = encode_report(&obj["attestation_report"])?;
        let mut certs = Vec::new();
        match obj.get("cert_chain") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                if a.len() > MAX_CERTS {
                    return Err(rej(format!("cert_chain: more than {MAX_CERTS} entries")));
                }
                for (i, e) in a.iter().enumerate() {
                    let ty = e
                        .get("cert_type")
                        .and_then(Value::as_str)
                        .ok_or_else(|| rej(format!("cert_chain[{i}].cert_type: missing")))?;
                    let ty: CertType = serde_json::from_value(json!(ty))
                        .map_err(|_| rej(format!("cert_chain[{i}].cert_type: unknown {ty:?}")))?;
                    let data = e
                        .get("data")
                        .ok_or_else(|| rej(format!("cert_chain[{i}].data: missing")))?;
                    let len = data.as_array().map(Vec::len).unwrap_or(0);
                    if len > 16 * 1024 {
                        return Err(rej(format!("cert_chain[{i}].data: too large")));
                    }
                    let der = byte_list(data, len)
                        .map_err(|e| rej(format!("cert_chain[{i}].data: {e}")))?;
                    certs.push((ty, der));
                }
            }
            Some(_) => return Err(rej("cert_chain: not an array")),
        }
        return Ok((report, endorsement(certs)?));
    }
    let ev: SnpEvidence = serde_json::from_value(evidence.clone())
        .map_err(|e| rej(format!("not SNP evidence (remits or trustee form): {e}")))?;
    if ev.cert_chain.len() > MAX_CERTS {
        return Err(rej(format!("cert_chain: more than {MAX_CERTS} entries")));
    }
    let certs = ev
        .cert_chain
        .into_iter()
        .map(|c| (c.cert_type, c.data))
        .collect();
    Ok((ev.report, endorsement(certs)?))
}

fn endorsement(certs: Vec<(CertType, Vec<u8>)>) -> Result<Endorsement, Error> {
    let mut leaf = None;
    let mut chain = Vec::new();
    for (ty, der) in certs {
        match ty {
            CertType::Vcek | CertType::Vlek if leaf.is_some() => {
                return Err(rej("cert_chain: more than one VCEK/VLEK"));
            }
            CertType::Vcek | CertType::Vlek => leaf = Some(der),
            CertType::Ask | CertType::Asvk | CertType::Ark => chain.push(der),
            // CRLs are configured on the verifier by the operator, not taken from the attester:
            // AMD's VCEK and VLEK CRLs are both signed by the ARK and cannot be told apart by
            // content, so a host could pass a genuine, newer, empty VLEK CRL off as the VCEK CRL
            // and displace the one that revokes its ASK (see remits_snp::CrlKind).
            _ => {}
        }
    }
    let leaf = leaf.ok_or_else(|| {
        rej("cert_chain: no VCEK or VLEK (remits does not fetch from AMD KDS at verification time)")
    })?;
    Ok(Endorsement { leaf, chain })
}

/// Claims under trustee's names (typed values), plus remits' extra names.
pub fn trustee_claims(c: &SnpClaims) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("version", json!(c.version));
    put(
        "generation",
        serde_json::to_value(c.generation).unwrap_or(Value::Null),
    );
    put("signer", json!(c.signer.to_string()));
    put("guest_svn", json!(c.guest_svn));
    put("vmpl", json!(c.vmpl));
    put("policy_abi_major", json!(c.policy.abi_major));
    put("policy_abi_minor", json!(c.policy.abi_minor));
    put("policy_smt_allowed", json!(c.policy.smt));
    put("policy_migrate_ma", json!(c.policy.migrate_ma));
    put("policy_debug_allowed", json!(c.policy.debug));
    put("policy_single_socket", json!(c.policy.single_socket));
    put("policy_cxl_allowed", json!(c.policy.cxl_allow));
    put("policy_mem_aes_256_xts", json!(c.policy.mem_aes_256_xts));
    put("policy_rapl_disabled", json!(c.policy.rapl_dis));
    put(
        "policy_ciphertext_hiding",
        json!(c.policy.ciphertext_hiding),
    );
    if let Some(b) = c.policy.page_swap_disable {
        put("policy_page_swap_disabled", json!(b));
    }
    put("policy_unknown_bits", json!(c.policy.unknown_bits));
    put("platform_smt_enabled", json!(c.platform_info.smt_en));
    put("platform_tsme_enabled", json!(c.platform_info.tsme_en));
    put("platform_ecc_enabled", json!(c.platform_info.ecc_en));
    put("platform_rapl_disabled", json!(c.platform_info.rapl_dis));
    put(
        "platform_ciphertext_hiding_enabled",
        json!(c.platform_info.ciphertext_hiding_en),
    );
    if let Some(b) = c.platform_info.alias_check_complete {
        put("platform_alias_check_complete", json!(b));
    }
    put(
        "platform_iommu_write_safe",
        json!(c.platform_info.iommu_write_safe),
    );
    if let Some(b) = c.platform_info.tio_en {
        put("platform_tio_enabled", json!(b));
    }
    put(
        "platform_info_unknown_bits",
        json!(c.platform_info.unknown_bits),
    );
    put("reported_tcb_bootloader", json!(c.reported_tcb.bootloader));
    put("reported_tcb_tee", json!(c.reported_tcb.tee));
    put("reported_tcb_snp", json!(c.reported_tcb.snp));
    put("reported_tcb_microcode", json!(c.reported_tcb.microcode));
    if let Some(f) = c.reported_tcb.fmc {
        put("reported_tcb_fmc", json!(f));
    }
    put(
        "committed_tcb",
        serde_json::to_value(c.committed_tcb).unwrap_or(Value::Null),
    );
    put(
        "current_tcb",
        serde_json::to_value(c.current_tcb).unwrap_or(Value::Null),
    );
    put(
        "launch_tcb",
        serde_json::to_value(c.launch_tcb).unwrap_or(Value::Null),
    );
    put("measurement", json!(hex::encode(&c.measurement)));
    put("report_data", json!(hex::encode(&c.report_data)));
    put("init_data", json!(hex::encode(&c.host_data)));
    put("host_data", json!(hex::encode(&c.host_data)));
    put("family_id", json!(hex::encode(&c.family_id)));
    put("image_id", json!(hex::encode(&c.image_id)));
    put("id_key_digest", json!(hex::encode(&c.id_key_digest)));
    put(
        "author_key_digest",
        json!(hex::encode(&c.author_key_digest)),
    );
    put("chip_id", json!(hex::encode(&c.chip_id)));
    put("current_firmware", json!(c.current_firmware));
    m
}

impl SnpDriver {
    /// A driver over a shared remits-snp verifier (its trust anchors decide what verifies;
    /// `roots` decides which of them the claims call production roots).
    pub fn new(verifier: Arc<Verifier>, roots: Arc<ProductionRoots>) -> Self {
        SnpDriver { verifier, roots }
    }

    /// Verify raw report bytes + endorsement (shared with tests and the CLI).
    ///
    /// # Errors
    ///
    /// [`Error::EvidenceRejected`] with remits-snp's failed check, [`Error::Binding`] when the
    /// report data or host data differ from `expected`.
    #[must_use = "the driver output carries the verified claims"]
    pub fn verify_raw(
        &self,
        report: &[u8],
        endorsement: &Endorsement,
        expected: &Expected,
        now: SystemTime,
    ) -> Result<DriverOutput, Error> {
        let mut opts = VerifyOptions::at(now);
        opts.expected_report_data = expected.report_data.bytes().map(|d| fit(d, 64));
        opts.expected_host_data = expected.init_data.as_ref().map(|d| fit(d, 32));
        let v = self
            .verifier
            .verify(report, endorsement, &opts)
            .map_err(snp_err)?;
        let mut claims = trustee_claims(v.claims());
        claims.insert("amd_root".into(), json!(v.amd_root()));
        claims.insert(
            "production_root".into(),
            json!(self.roots.is_production(v.amd_root(), v.ark_sha256())),
        );
        Ok(DriverOutput {
            claims,
            report_data_checked: opts.expected_report_data.is_some(),
            init_data_checked: expected.init_data.is_some(),
        })
    }
}

fn snp_err(e: remits_snp::Error) -> Error {
    match e {
        remits_snp::Error::ReportDataMismatch { expected, actual } => Error::Binding {
            tee: "snp".into(),
            what: "report_data",
            expected,
            actual,
        },
        remits_snp::Error::HostDataMismatch { expected, actual } => Error::Binding {
            tee: "snp".into(),
            what: "init_data",
            expected,
            actual,
        },
        other => Error::rejected("snp", other),
    }
}

impl TeeDriver for SnpDriver {
    fn name(&self) -> &str {
        "snp"
    }

    fn verify(
        &self,
        evidence: &Value,
        expected: &Expected,
        now: SystemTime,
    ) -> Result<DriverOutput, Error> {
        let (report, endorsement) = parse_evidence(evidence)?;
        self.verify_raw(&report, &endorsement, expected, now)
    }
}
