//! AMD's certificate revocation lists: each ARK signs one CRL (RSASSA-PSS SHA-384) that lists
//! revoked ASKs/ASVKs. AMD does not revoke individual VCEKs (newer TCBs supersede them).

use std::sync::RwLock;
use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;

use crate::anchors::TrustAnchors;
use crate::backend::SignatureBackend;
use crate::cert::{check_pss_alg, tbs_range, PublicKey};
use crate::error::CertRole;
use crate::Error;

/// How to use CRLs during verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrlCheck {
    /// No CRL check (default).
    #[default]
    Off,
    /// Check against the ARK's CRL when one is loaded and fresh; pass when none is.
    FailOpen,
    /// Require a loaded, fresh CRL for the chain's ARK; reject without one.
    FailClosed,
}

/// A verified CRL.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCrl {
    ark_sha256: [u8; 32],
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    revoked: Vec<Vec<u8>>,
}

/// Verified CRLs by ARK.
#[derive(Debug, Default)]
pub(crate) struct CrlStore {
    crls: RwLock<Vec<VerifiedCrl>>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::CrlInvalid(reason.into())
}

/// Parse and verify a CRL against the trust anchors; returns it without storing it.
pub(crate) fn verify_crl(
    der: &[u8],
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
    let this_update = crl.tbs_cert_list.this_update.to_system_time();
    let next_update = crl.tbs_cert_list.next_update.map(|t| t.to_system_time());
    if this_update > time {
        return Err(invalid("thisUpdate is in the future"));
    }
    if next_update.is_some_and(|n| n < time) {
        return Err(invalid("nextUpdate has passed (stale CRL)"));
    }
    let revoked = crl
        .tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| r.serial_number.as_bytes().to_vec())
        .collect();
    Ok(VerifiedCrl {
        ark_sha256,
        this_update,
        next_update,
        revoked,
    })
}

impl CrlStore {
    pub(crate) fn add(
        &self,
        der: &[u8],
        time: SystemTime,
        anchors: &TrustAnchors,
        backend: &dyn SignatureBackend,
    ) -> Result<(), Error> {
        let crl = verify_crl(der, time, anchors, backend)?;
        let mut list = self
            .crls
            .write()
            .map_err(|_| invalid("CRL store poisoned"))?;
        match list.iter_mut().find(|c| c.ark_sha256 == crl.ark_sha256) {
            Some(old) if old.this_update <= crl.this_update => *old = crl,
            Some(_) => {} // keep the newer one
            None => list.push(crl),
        }
        Ok(())
    }

    pub(crate) fn check(
        &self,
        mode: CrlCheck,
        ark_sha256: &[u8; 32],
        role: CertRole,
        serial: &[u8],
        time: SystemTime,
    ) -> Result<(), Error> {
        if mode == CrlCheck::Off {
            return Ok(());
        }
        let list = self
            .crls
            .read()
            .map_err(|_| Error::CrlUnavailable("CRL store poisoned".into()))?;
        let fresh = list.iter().find(|c| {
            &c.ark_sha256 == ark_sha256
                && c.this_update <= time
                && c.next_update.is_none_or(|n| time <= n)
        });
        match fresh {
            Some(c) => {
                if c.revoked.iter().any(|s| s.as_slice() == serial) {
                    return Err(Error::Revoked {
                        role,
                        serial: hex::encode(serial),
                    });
                }
                Ok(())
            }
            None if mode == CrlCheck::FailOpen => Ok(()),
            None => Err(Error::CrlUnavailable(format!(
                "no fresh CRL loaded for the ARK with SHA-256 {}",
                hex::encode(ark_sha256)
            ))),
        }
    }
}
