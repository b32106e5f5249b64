//! AMD's certificate revocation lists.
//!
//! AMD publishes **two** CRLs per product, both X.509 v2 CRLs signed by the product's ARK with
//! RSASSA-PSS SHA-384 (salt 48), issuer = the ARK's subject:
//! - the **VCEK CRL** (`/vcek/v1/<Product>/crl`), which lists revoked ASKs;
//! - the **VLEK CRL** (`/vlek/v1/<Product>/crl`), which lists revoked ASVKs.
//!
//! Both are kept, keyed by (ARK, [`CrlKind`]): a VLEK CRL never replaces the VCEK CRL of the same
//! ARK, and a newer CRL (later thisUpdate) of the same key replaces an older one (an older one
//! arriving later is ignored). The two lists cannot be told apart reliably by content (either
//! may be empty) and AMD's CRLs need not carry an issuing-distribution-point extension, so the
//! **caller says which list it is** ([`CrlKind`]: the KDS path it came from, the config key it
//! was listed under). When the CRL does carry an issuing distribution point whose URI names
//! `/vcek/` or `/vlek/`, it must agree with the caller, else the CRL is refused.
//!
//! What is checked ([`CrlStore::check`]):
//! - the **intermediate** (ASK on the VCEK path, ASVK on the VLEK path) by serial, against the
//!   CRL of its kind from the chain's ARK;
//! - the **leaf** (VCEK/VLEK) by serial, against the same CRL, **only when its serial is not
//!   zero**. AMD issues every VCEK and VLEK with serial 0, so a serial cannot name one of them:
//!   an entry for serial 0 is not read as "every VCEK is revoked" (that is not what an
//!   ARK-issued CRL entry means; RFC 5280 entries name certificates issued by the CRL issuer).
//!   AMD does not expect to revoke individual VCEKs (a newer TCB supersedes them); the leaf
//!   check exists for leaves with a unique, non-zero serial (other issuers, the simulator).
//! - revocation is checked against whatever verified CRL is held, **even a stale one**
//!   (revocations are not undone); then freshness decides under [`CrlCheck`]: a CRL is stale
//!   when its nextUpdate has passed, when its thisUpdate is older than the configured maximum
//!   age (even if nextUpdate is absent or far), or when its thisUpdate is in the future.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};

use crate::anchors::TrustAnchors;
use crate::backend::SignatureBackend;
use crate::cert::{check_pss_alg, tbs_range, PublicKey};
use crate::error::{rfc3339, CertRole};
use crate::Error;

/// How to use CRLs during verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CrlCheck {
    /// No CRL check (default).
    #[default]
    Off,
    /// Check against the held CRL of the chain's ARK and kind; pass when none is held or it is
    /// stale (a revocation listed in a stale CRL still rejects).
    FailOpen,
    /// Require a held, fresh CRL of the chain's ARK and kind; reject without one.
    FailClosed,
}

impl CrlCheck {
    /// The stricter of two modes (`Off` < `FailOpen` < `FailClosed`).
    pub fn stricter(self, other: CrlCheck) -> CrlCheck {
        self.max(other)
    }
}

/// Which of AMD's two CRLs of a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrlKind {
    /// `/vcek/v1/<Product>/crl`: revokes ASKs (the VCEK path).
    Vcek,
    /// `/vlek/v1/<Product>/crl`: revokes ASVKs (the VLEK path).
    Vlek,
}

impl CrlKind {
    /// The KDS path component (`vcek` or `vlek`).
    pub fn path(self) -> &'static str {
        match self {
            CrlKind::Vcek => "vcek",
            CrlKind::Vlek => "vlek",
        }
    }

    /// The CRL that covers an intermediate of `role` (ASK → VCEK CRL, ASVK → VLEK CRL).
    pub fn for_intermediate(role: CertRole) -> CrlKind {
        match role {
            CertRole::Asvk | CertRole::Vlek => CrlKind::Vlek,
            _ => CrlKind::Vcek,
        }
    }
}

impl std::fmt::Display for CrlKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CrlKind::Vcek => "VCEK",
            CrlKind::Vlek => "VLEK",
        })
    }
}

/// What is known about a held CRL (for diagnostics and refresh decisions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// Which list.
    pub kind: CrlKind,
    /// SHA-256 of the ARK that signed it.
    pub ark_sha256: [u8; 32],
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate, when present.
    pub next_update: Option<SystemTime>,
    /// Number of revoked serials listed.
    pub revoked: usize,
}

/// A verified CRL.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCrl {
    info: CrlInfo,
    /// Revoked serials, leading zero bytes stripped.
    revoked: Vec<Vec<u8>>,
}

/// Verified CRLs by (ARK, kind).
#[derive(Debug, Default)]
pub(crate) struct CrlStore {
    crls: RwLock<HashMap<([u8; 32], CrlKind), VerifiedCrl>>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::CrlInvalid(reason.into())
}

/// Serial bytes without leading zero bytes (DER may carry one for the sign).
fn normalize(serial: &[u8]) -> &[u8] {
    let start = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
    serial.get(start..).unwrap_or(&[])
}

/// The kind named by an issuing-distribution-point URI, if any.
fn idp_kind(crl: &CertificateList) -> Result<Option<CrlKind>, Error> {
    let oid_idp = const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT;
    let mut kind = None;
    for ext in crl.tbs_cert_list.crl_extensions.iter().flatten() {
        if ext.extn_id != oid_idp {
            if ext.critical {
                return Err(invalid(format!(
                    "critical CRL extension {} is not supported",
                    ext.extn_id
                )));
            }
            continue;
        }
        let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes())
            .map_err(|e| invalid(format!("issuingDistributionPoint: {e}")))?;
        if idp.only_some_reasons.is_some() || idp.indirect_crl || idp.only_contains_attribute_certs
        {
            return Err(invalid(
                "issuingDistributionPoint: partial or indirect CRLs are not supported",
            ));
        }
        if let Some(DistributionPointName::FullName(names)) = &idp.distribution_point {
            for n in names {
                if let GeneralName::UniformResourceIdentifier(uri) = n {
                    let uri = uri.as_str();
                    if uri.contains("/vlek/") {
                        kind = Some(CrlKind::Vlek);
                    } else if uri.contains("/vcek/") {
                        kind = Some(CrlKind::Vcek);
                    }
                }
            }
        }
    }
    Ok(kind)
}

/// Parse and verify a CRL against the trust anchors: well-formed, RSASSA-PSS SHA-384 by a
/// trusted ARK (issuer = that ARK's subject), thisUpdate not after `time`, kind consistent with
/// its issuing distribution point. Stale CRLs verify (their revocations still count).
pub(crate) fn verify_crl(
    der: &[u8],
    kind: CrlKind,
    time: SystemTime,
    anchors: &TrustAnchors,
    backend: &dyn SignatureBackend,
) -> Result<VerifiedCrl, Error> {
    let crl = CertificateList::from_der(der).map_err(|e| invalid(format!("malformed: {e}")))?;
    check_pss_alg(&crl.signature_algorithm, CertRole::Ark).map_err(|e| invalid(e.to_string()))?;
    if crl.tbs_cert_list.signature != crl.signature_algorithm {
        return Err(invalid(
            "TBS signature algorithm differs from the outer one",
        ));
    }
    let range = tbs_range(der, CertRole::Ark).map_err(|e| invalid(e.to_string()))?;
    let tbs = der.get(range).ok_or_else(|| invalid("TBS out of range"))?;
    let sig = crl
        .signature
        .as_bytes()
        .ok_or_else(|| invalid("signature has unused bits"))?;
    let issuer = crl
        .tbs_cert_list
        .issuer
        .to_der()
        .map_err(|e| invalid(e.to_string()))?;
    let mut signer = None;
    for a in anchors
        .anchors
        .iter()
        .filter(|a| a.ark.subject_der() == issuer.as_slice())
    {
        let PublicKey::Rsa(key) = a.ark.public_key() else {
            continue;
        };
        if backend.verify_rsa_pss_sha384(key, tbs, sig).is_ok() {
            signer = Some(*a.ark.fingerprint());
            break;
        }
    }
    let ark_sha256 = signer.ok_or_else(|| invalid("not signed by a trusted ARK"))?;
    match idp_kind(&crl)? {
        Some(k) if k != kind => {
            return Err(invalid(format!(
                "given as the {kind} CRL, but its issuingDistributionPoint names the {k} CRL"
            )))
        }
        _ => {}
    }
    let this_update = crl.tbs_cert_list.this_update.to_system_time();
    let next_update = crl.tbs_cert_list.next_update.map(|t| t.to_system_time());
    if this_update > time {
        return Err(invalid(format!(
            "thisUpdate {} is in the future",
            rfc3339(this_update)
        )));
    }
    let revoked: Vec<Vec<u8>> = crl
        .tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| normalize(r.serial_number.as_bytes()).to_vec())
        .collect();
    Ok(VerifiedCrl {
        info: CrlInfo {
            kind,
            ark_sha256,
            this_update,
            next_update,
            revoked: revoked.len(),
        },
        revoked,
    })
}

/// Why a held CRL is not fresh at `time`, if it is not.
fn staleness(info: &CrlInfo, time: SystemTime, max_age: Option<Duration>) -> Option<String> {
    if info.this_update > time {
        return Some(format!(
            "thisUpdate {} is in the future",
            rfc3339(info.this_update)
        ));
    }
    if let Some(n) = info.next_update {
        if n < time {
            return Some(format!("nextUpdate {} has passed", rfc3339(n)));
        }
    }
    if let Some(max) = max_age {
        let age = time.duration_since(info.this_update).unwrap_or_default();
        if age > max {
            return Some(format!(
                "thisUpdate {} is older than the maximum CRL age of {} s",
                rfc3339(info.this_update),
                max.as_secs()
            ));
        }
    }
    None
}

/// One certificate to look up in a CRL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub(crate) role: CertRole,
    pub(crate) serial: &'a [u8],
    /// A leaf: serial 0 (every AMD leaf) names no single certificate and is not looked up.
    pub(crate) leaf: bool,
}

impl CrlStore {
    /// Verify and keep `der` as the `kind` CRL of its ARK (unless a newer one is held).
    pub(crate) fn add(
        &self,
        der: &[u8],
        kind: CrlKind,
        time: SystemTime,
        anchors: &TrustAnchors,
        backend: &dyn SignatureBackend,
    ) -> Result<CrlInfo, Error> {
        let crl = verify_crl(der, kind, time, anchors, backend)?;
        let info = crl.info.clone();
        let mut map = self
            .crls
            .write()
            .map_err(|_| invalid("CRL store poisoned"))?;
        let key = (info.ark_sha256, kind);
        match map.get(&key) {
            Some(old) if old.info.this_update > info.this_update => {} // keep the newer one
            _ => {
                map.insert(key, crl);
            }
        }
        Ok(info)
    }

    /// What is held.
    pub(crate) fn infos(&self) -> Vec<CrlInfo> {
        let mut v: Vec<CrlInfo> = self
            .crls
            .read()
            .map(|m| m.values().map(|c| c.info.clone()).collect())
            .unwrap_or_default();
        v.sort_by_key(|i| (i.ark_sha256, i.kind));
        v
    }

    /// Check `subjects` against the `kind` CRL of the ARK `ark_sha256` under `mode`.
    pub(crate) fn check(
        &self,
        mode: CrlCheck,
        max_age: Option<Duration>,
        ark_sha256: &[u8; 32],
        kind: CrlKind,
        subjects: &[Subject<'_>],
        time: SystemTime,
    ) -> Result<(), Error> {
        if mode == CrlCheck::Off {
            return Ok(());
        }
        let map = self
            .crls
            .read()
            .map_err(|_| Error::CrlUnavailable("CRL store poisoned".into()))?;
        let Some(crl) = map.get(&(*ark_sha256, kind)) else {
            return match mode {
                CrlCheck::FailClosed => Err(Error::CrlUnavailable(format!(
                    "no {kind} CRL held for the ARK with SHA-256 {}",
                    hex::encode(ark_sha256)
                ))),
                _ => Ok(()),
            };
        };
        for s in subjects {
            let serial = normalize(s.serial);
            if s.leaf && serial.is_empty() {
                continue;
            }
            if crl.revoked.iter().any(|r| r.as_slice() == serial) {
                return Err(Error::Revoked {
                    role: s.role,
                    serial: hex::encode(s.serial),
                    kind,
                });
            }
        }
        match staleness(&crl.info, time, max_age) {
            Some(reason) if mode == CrlCheck::FailClosed => Err(Error::CrlStale { kind, reason }),
            _ => Ok(()),
        }
    }
}
