//! Certificates in AMD's profile (snp.md section 4), issued by the simulator's own keys.
//!
//! Every link is RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt, as AMD signs. The VCEK
//! carries the AMD extensions (structVersion, productName, the SPLs and a raw 64-byte hwID) and
//! serial number 0. Every subject and issuer says `O=remits simulator - NOT AMD`, so no output of
//! the simulator can be mistaken for AMD's.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{BitString, Ia5String, OctetString};
use der::Encode;
use rsa::pss::SigningKey as PssSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha384;
use spki::{DynSignatureAlgorithmIdentifier, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::{SimError, SimTcb};

/// The organisation every simulator certificate names, in place of "Advanced Micro Devices".
pub const SIM_ORGANIZATION: &str = "remits simulator - NOT AMD";

const OID_STRUCT_VERSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
const OID_PRODUCT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
const OID_BL_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_SPL_4: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.4");
const OID_SPL_5: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.5");
const OID_SPL_6: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.6");
const OID_SPL_7: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.7");
const OID_UCODE_SPL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// The distinguished name of a simulator certificate with common name `cn`.
pub(crate) fn sim_name(cn: &str, which: &'static str) -> Result<Name, SimError> {
    Name::from_str(&format!(
        "CN={cn},O={SIM_ORGANIZATION},ST=CA,L=Santa Clara,C=US,OU=Engineering"
    ))
    .map_err(|e| cert_err(which, e))
}

fn cert_err(cert: &'static str, e: impl std::fmt::Display) -> SimError {
    SimError::Certificate {
        cert,
        reason: e.to_string(),
    }
}

pub(crate) fn time(which: &'static str, t: SystemTime) -> Result<Time, SimError> {
    // Whole seconds: X.509 times carry no fractions.
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|e| cert_err(which, e))?
        .as_secs();
    let t = UNIX_EPOCH + Duration::from_secs(secs);
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    match der::asn1::UtcTime::from_system_time(t) {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Time::try_from(t).map_err(|e| cert_err(which, e)),
    }
}

/// `years` of validity starting one hour before `now` (clock skew between guest and verifier).
pub(crate) fn validity(
    which: &'static str,
    now: SystemTime,
    years: u32,
) -> Result<Validity, SimError> {
    let start = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
    let end = start
        .checked_add(YEAR * years)
        .ok_or_else(|| cert_err(which, "validity end overflows"))?;
    Ok(Validity {
        not_before: time(which, start)?,
        not_after: time(which, end)?,
    })
}

fn ext(
    which: &'static str,
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, SimError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(|e| cert_err(which, e))?,
    })
}

fn int_ext(which: &'static str, oid: ObjectIdentifier, v: u8) -> Result<Extension, SimError> {
    let der = (v as u32).to_der().map_err(|e| cert_err(which, e))?;
    ext(which, oid, false, der)
}

/// The extensions of an AMD root or intermediate: a CA that signs certificates and CRLs.
pub(crate) fn ca_extensions(which: &'static str) -> Result<Vec<Extension>, SimError> {
    let bc = BasicConstraints {
        ca: true,
        path_len_constraint: None,
    }
    .to_der()
    .map_err(|e| cert_err(which, e))?;
    let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)
        .to_der()
        .map_err(|e| cert_err(which, e))?;
    Ok(vec![
        ext(which, OID_KEY_USAGE, true, ku)?,
        ext(which, OID_BASIC_CONSTRAINTS, true, bc)?,
    ])
}

/// The AMD extensions of a Milan/Genoa-style VCEK (structVersion 0): product name, the eight SPLs
/// and the 64-byte hwID stored raw (not DER-wrapped), as the KDS issues it.
pub(crate) fn vcek_extensions(
    product_name: &str,
    tcb: &SimTcb,
    hw_id: &[u8; 64],
) -> Result<Vec<Extension>, SimError> {
    const W: &str = "VCEK";
    let product = Ia5String::new(product_name)
        .map_err(|e| cert_err(W, e))?
        .to_der()
        .map_err(|e| cert_err(W, e))?;
    Ok(vec![
        ext(
            W,
            OID_STRUCT_VERSION,
            false,
            0u32.to_der().map_err(|e| cert_err(W, e))?,
        )?,
        ext(W, OID_PRODUCT_NAME, false, product)?,
        int_ext(W, OID_BL_SPL, tcb.bootloader)?,
        int_ext(W, OID_TEE_SPL, tcb.tee)?,
        int_ext(W, OID_SNP_SPL, tcb.snp)?,
        int_ext(W, OID_SPL_4, 0)?,
        int_ext(W, OID_SPL_5, 0)?,
        int_ext(W, OID_SPL_6, 0)?,
        int_ext(W, OID_SPL_7, 0)?,
        int_ext(W, OID_UCODE_SPL, tcb.microcode)?,
        ext(W, OID_HW_ID, false, hw_id.to_vec())?,
    ])
}

/// What goes into one certificate besides the signer.
pub(crate) struct CertSpec {
    pub(crate) which: &'static str,
    pub(crate) serial: u32,
    pub(crate) issuer: Name,
    pub(crate) subject: Name,
    pub(crate) validity: Validity,
    pub(crate) spki: SubjectPublicKeyInfoOwned,
    pub(crate) extensions: Vec<Extension>,
}

/// Builds the TBSCertificate, signs its DER with RSA-PSS SHA-384 (salt 48) and returns the
/// certificate's DER.
pub(crate) fn issue(
    spec: CertSpec,
    signer: &PssSigningKey<Sha384>,
    rng: &mut (impl rand::CryptoRng + rand::RngCore),
) -> Result<Vec<u8>, SimError> {
    let which = spec.which;
    let serial = if spec.serial == 0 {
        // AMD issues VCEKs with serial number 0; keep that quirk so verifiers meet it here too.
        SerialNumber::new(&[0]).map_err(|e| cert_err(which, e))?
    } else {
        SerialNumber::from(spec.serial)
    };
    let alg = signer
        .signature_algorithm_identifier()
        .map_err(|e| cert_err(which, e))?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial,
        signature: alg.clone(),
        issuer: spec.issuer,
        validity: spec.validity,
        subject: spec.subject,
        subject_public_key_info: spec.spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(spec.extensions),
    };
    let tbs_der = tbs.to_der().map_err(|e| cert_err(which, e))?;
    let sig = signer
        .try_sign_with_rng(rng, &tbs_der)
        .map_err(|e| cert_err(which, e))?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig.to_bytes()).map_err(|e| cert_err(which, e))?,
    };
    cert.to_der().map_err(|e| cert_err(which, e))
}
