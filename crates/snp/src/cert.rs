//! AMD certificates: X.509 parsing that keeps the exact received TBS bytes, the RSASSA-PSS
//! profile check, and AMD's VCEK/VLEK extensions (OID arc 1.3.6.1.4.1.3704.1).

use std::ops::Range;
use std::time::SystemTime;

use der::asn1::{Ia5StringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader};
use sha2::{Digest, Sha256};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::error::CertRole;
use crate::Error;

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// AMD extension OIDs.
mod amd_oid {
    use der::asn1::ObjectIdentifier;
    pub(super) const STRUCT_VERSION: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
    pub(super) const PRODUCT_NAME: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
    pub(super) const SPL_ARC: &str = "1.3.6.1.4.1.3704.1.3.";
    pub(super) const HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
    pub(super) const CSP_ID: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.5");
    pub(super) const ARC: &str = "1.3.6.1.4.1.3704.1.";
}

/// A public key found in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: the PKCS#1 RSAPublicKey DER.
    Rsa(Vec<u8>),
    /// EC P-384: the SEC1 uncompressed point (97 bytes).
    P384(Vec<u8>),
}

/// AMD's VCEK/VLEK extensions, as found (absent ones are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmdExtensions {
    /// structVersion (0 Milan/Genoa, 1 Turin).
    pub struct_version: Option<u32>,
    /// productName (`Milan-B0`, `Genoa`, `Turin`, ...).
    pub product_name: Option<String>,
    /// SPLs by index: `[1]` blSPL, `[2]` teeSPL, `[3]` snpSPL, `[4..=7]` reserved, `[8]` ucodeSPL,
    /// `[9]` fmcSPL. Index 0 is unused.
    pub spl: [Option<u8>; 10],
    /// hwID, unwrapped if it was OCTET-STRING-wrapped (VCEK only).
    pub hw_id: Option<Vec<u8>>,
    /// cspID (VLEK only).
    pub csp_id: Option<String>,
}

/// A parsed AMD certificate that keeps its DER and the position of its TBS bytes.
#[derive(Debug, Clone)]
pub struct AmdCert {
    der: Vec<u8>,
    tbs: Range<usize>,
    signature: Vec<u8>,
    subject_cn: String,
    issuer_cn: String,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    not_before: SystemTime,
    not_after: SystemTime,
    key: PublicKey,
    ext: AmdExtensions,
    fingerprint: [u8; 32],
}

fn perr(role: CertRole, e: impl std::fmt::Display) -> Error {
    Error::CertParse {
        role,
        reason: e.to_string(),
    }
}

fn profile(role: CertRole, reason: impl Into<String>) -> Error {
    Error::CertProfile {
        role,
        reason: reason.into(),
    }
}

/// The CN of a name, if it has exactly one.
fn common_name(name: &Name) -> Option<String> {
    let mut found = None;
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == OID_CN {
                if found.is_some() {
                    return None;
                }
                let s = match der::Tagged::tag(&atv.value) {
                    der::Tag::Utf8String | der::Tag::PrintableString | der::Tag::Ia5String => {
                        std::str::from_utf8(atv.value.value()).ok()?
                    }
                    _ => return None,
                };
                found = Some(s.to_owned());
            }
        }
    }
    found
}

/// The byte range of the TBSCertificate inside the DER of a certificate.
pub(crate) fn tbs_range(der: &[u8], role: CertRole) -> Result<Range<usize>, Error> {
    let mut r = SliceReader::new(der).map_err(|e| perr(role, e))?;
    let outer = r.peek_header().map_err(|e| perr(role, e))?;
    let hdr_len = outer.encoded_len().map_err(|e| perr(role, e))?;
    let start = usize::try_from(hdr_len).map_err(|e| perr(role, e))?;
    der::Header::decode(&mut r).map_err(|e| perr(role, e))?;
    let tbs = r.tlv_bytes().map_err(|e| perr(role, e))?;
    Ok(start..start + tbs.len())
}

fn decode_spl(role: CertRole, idx: usize, value: &[u8]) -> Result<u8, Error> {
    let v = u32::from_der(value).map_err(|e| {
        profile(
            role,
            format!("SPL extension .3.{idx} is not a DER INTEGER: {e}"),
        )
    })?;
    u8::try_from(v).map_err(|_| {
        profile(
            role,
            format!("SPL extension .3.{idx} value {v} exceeds 255"),
        )
    })
}

fn parse_extensions(cert: &Certificate, role: CertRole) -> Result<AmdExtensions, Error> {
    let mut ext = AmdExtensions::default();
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    let Some(list) = cert.tbs_certificate.extensions.as_ref() else {
        return Ok(ext);
    };
    for e in list {
        if seen.contains(&e.extn_id) {
            return Err(profile(role, format!("duplicate extension {}", e.extn_id)));
        }
        seen.push(e.extn_id);
        let value = e.extn_value.as_bytes();
        let oid = e.extn_id;
        if oid == amd_oid::STRUCT_VERSION {
            let v = u32::from_der(value).map_err(|err| {
                profile(role, format!("structVersion is not a DER INTEGER: {err}"))
            })?;
            ext.struct_version = Some(v);
        } else if oid == amd_oid::PRODUCT_NAME {
            let s = Ia5StringRef::from_der(value)
                .map_err(|err| profile(role, format!("productName is not an IA5String: {err}")))?;
            ext.product_name = Some(s.as_str().to_owned());
        } else if oid == amd_oid::HW_ID {
            ext.hw_id = Some(value.to_vec());
        } else if oid == amd_oid::CSP_ID {
            let s = Ia5StringRef::from_der(value)
                .map_err(|err| profile(role, format!("cspID is not an IA5String: {err}")))?;
            ext.csp_id = Some(s.as_str().to_owned());
        } else {
            let text = oid.to_string();
            if let Some(idx) = text.strip_prefix(amd_oid::SPL_ARC) {
                let i: usize = idx
                    .parse()
                    .ok()
                    .filter(|i| (1..=9).contains(i))
                    .ok_or_else(|| profile(role, format!("unknown AMD SPL extension {text}")))?;
                let v = decode_spl(role, i, value)?;
                if let Some(slot) = ext.spl.get_mut(i) {
                    *slot = Some(v);
                }
            } else if text.starts_with(amd_oid::ARC) && e.critical {
                return Err(profile(
                    role,
                    format!("unknown critical AMD extension {text}"),
                ));
            } else if e.critical && !is_known_critical(&oid) {
                return Err(profile(role, format!("unknown critical extension {text}")));
            }
        }
    }
    Ok(ext)
}

fn is_known_critical(oid: &ObjectIdentifier) -> bool {
    // basicConstraints, keyUsage.
    *oid == ObjectIdentifier::new_unwrap("2.5.29.19")
        || *oid == ObjectIdentifier::new_unwrap("2.5.29.15")
}

/// Require RSASSA-PSS with SHA-384, MGF1-SHA-384, salt 48, trailer 1.
pub(crate) fn check_pss_alg(
    alg: &spki::AlgorithmIdentifierOwned,
    role: CertRole,
) -> Result<(), Error> {
    if alg.oid != OID_RSASSA_PSS {
        return Err(profile(
            role,
            format!("signature algorithm {} is not RSASSA-PSS", alg.oid),
        ));
    }
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| profile(role, "RSASSA-PSS parameters missing"))?;
    let params_der = params.to_der().map_err(|e| perr(role, e))?;
    let p = pkcs1::RsaPssParams::from_der(&params_der)
        .map_err(|e| profile(role, format!("RSASSA-PSS parameters malformed: {e}")))?;
    if p.hash.oid != OID_SHA384 {
        return Err(profile(
            role,
            format!("RSASSA-PSS hash {} is not SHA-384", p.hash.oid),
        ));
    }
    if p.mask_gen.oid != OID_MGF1 || p.mask_gen.parameters.map(|h| h.oid) != Some(OID_SHA384) {
        return Err(profile(
            role,
            "RSASSA-PSS mask generation is not MGF1 with SHA-384",
        ));
    }
    if p.salt_len != 48 {
        return Err(profile(
            role,
            format!("RSASSA-PSS salt length {} is not 48", p.salt_len),
        ));
    }
    if p.trailer_field != pkcs1::TrailerField::BC {
        return Err(profile(role, "RSASSA-PSS trailer field is not 1"));
    }
    Ok(())
}

impl AmdCert {
    /// Parse a DER certificate. Checks only structure and the RSASSA-PSS signature profile;
    /// role-specific checks happen during chain verification.
    ///
    /// # Errors
    ///
    /// [`Error::CertParse`] when `der` is not an X.509 certificate, [`Error::CertProfile`] when its
    /// signature algorithm is not AMD's RSASSA-PSS profile.
    pub fn from_der(der: &[u8], role: CertRole) -> Result<Self, Error> {
        let cert = Certificate::from_der(der).map_err(|e| perr(role, e))?;
        let tbs = tbs_range(der, role)?;
        check_pss_alg(&cert.signature_algorithm, role)?;
        if cert.tbs_certificate.signature != cert.signature_algorithm {
            return Err(profile(
                role,
                "TBS signature algorithm differs from the outer one",
            ));
        }
        let signature = cert
            .signature
            .as_bytes()
            .ok_or_else(|| profile(role, "signature BIT STRING has unused bits"))?
            .to_vec();
        let t = &cert.tbs_certificate;
        let spki = &t.subject_public_key_info;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| profile(role, "public key BIT STRING has unused bits"))?
            .to_vec();
        let key =
            if spki.algorithm.oid == OID_RSA_ENCRYPTION || spki.algorithm.oid == OID_RSASSA_PSS {
                PublicKey::Rsa(key_bytes)
            } else if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                if curve != Some(OID_SECP384R1) {
                    return Err(profile(role, "EC public key is not on P-384"));
                }
                if key_bytes.len() != 97 || key_bytes.first() != Some(&4) {
                    return Err(profile(
                        role,
                        "P-384 public key is not an uncompressed point",
                    ));
                }
                PublicKey::P384(key_bytes)
            } else {
                return Err(profile(
                    role,
                    format!("public key algorithm {} unsupported", spki.algorithm.oid),
                ));
            };
        let subject_cn =
            common_name(&t.subject).ok_or_else(|| profile(role, "subject has no single CN"))?;
        let issuer_cn =
            common_name(&t.issuer).ok_or_else(|| profile(role, "issuer has no single CN"))?;
        let ext = parse_extensions(&cert, role)?;
        Ok(AmdCert {
            der: der.to_vec(),
            tbs,
            signature,
            subject_cn,
            issuer_cn,
            subject: t.subject.to_der().map_err(|e| perr(role, e))?,
            issuer: t.issuer.to_der().map_err(|e| perr(role, e))?,
            serial: t.serial_number.as_bytes().to_vec(),
            not_before: t.validity.not_before.to_system_time(),
            not_after: t.validity.not_after.to_system_time(),
            key,
            ext,
            fingerprint: Sha256::digest(der).into(),
        })
    }

    /// Parse one PEM `CERTIFICATE` block.
    ///
    /// # Errors
    ///
    /// [`Error::CertParse`] when `pem` holds no certificate block, and as [`AmdCert::from_der`].
    pub fn from_pem(pem: &str, role: CertRole) -> Result<Self, Error> {
        let der = pem_to_der(pem, role)?;
        Self::from_der(&der, role)
    }

    /// The DER as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The exact received TBSCertificate bytes (what the issuer signed).
    pub fn tbs_bytes(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or(&[])
    }
    /// The signature value.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// Subject common name.
    pub fn subject_cn(&self) -> &str {
        &self.subject_cn
    }
    /// Issuer common name.
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }
    /// Subject name, DER.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }
    /// Issuer name, DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }
    /// Serial number bytes (DER INTEGER content, big-endian).
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
    /// notBefore.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }
    /// notAfter.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
    /// AMD extensions.
    pub fn amd_extensions(&self) -> &AmdExtensions {
        &self.ext
    }
    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
    /// Whether subject and issuer names are equal.
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Check validity at `time`.
    ///
    /// # Errors
    ///
    /// [`Error::CertValidity`] when `time` is outside the certificate's validity.
    pub fn check_validity(&self, time: SystemTime, role: CertRole) -> Result<(), Error> {
        if time < self.not_before || time > self.not_after {
            return Err(Error::CertValidity {
                role,
                time: crate::error::rfc3339(time),
                not_before: crate::error::rfc3339(self.not_before),
                not_after: crate::error::rfc3339(self.not_after),
            });
        }
        Ok(())
    }

    /// The hwID with an OCTET STRING wrapper removed when present (`expected_len` decides).
    pub fn hw_id(&self, expected_len: usize) -> Option<Vec<u8>> {
        let raw = self.ext.hw_id.as_ref()?;
        if raw.len() == expected_len {
            return Some(raw.clone());
        }
        match OctetStringRef::from_der(raw) {
            Ok(o) if o.as_bytes().len() == expected_len => Some(o.as_bytes().to_vec()),
            _ => Some(raw.clone()),
        }
    }
}

/// Decode one PEM CERTIFICATE block to DER (strict RFC 7468, see [`remits_codec::pem`]).
pub(crate) fn pem_to_der(pem: &str, role: CertRole) -> Result<Vec<u8>, Error> {
    remits_codec::pem::decode(pem, "CERTIFICATE").map_err(|e| perr(role, e))
}

/// Split a PEM bundle into DER certificates (at most 16), in file order.
///
/// Each `-----BEGIN ` starts a block that must end at the next `-----END CERTIFICATE-----` and
/// be a strict RFC 7468 `CERTIFICATE` block; text between blocks is ignored; a 17th block, an
/// unterminated block or another label is an error. No block at all gives an empty list
/// (see [`remits_codec::pem::split_bundle`]).
///
/// # Errors
///
/// [`Error::CertParse`] for a malformed block or more than 16 certificates.
pub fn pem_bundle_to_der(text: &str) -> Result<Vec<Vec<u8>>, Error> {
    remits_codec::pem::split_bundle(text, "CERTIFICATE", 16).map_err(|e| perr(CertRole::Unknown, e))
}

/// Encode DER as one PEM `CERTIFICATE` block (LF line endings).
pub fn der_to_pem(der: &[u8]) -> String {
    remits_codec::pem::encode("CERTIFICATE", der)
}

/// Accept DER or PEM (one certificate) and return DER.
///
/// A text that is one `CERTIFICATE` block and nothing else is read with the codec's lenient
/// grammar ([`remits_codec::pem::der_or_pem`]: any Base64 line length, as operators paste
/// certificates), the same as the verification service reads its configured roots. A text
/// with other lines around the block (OpenSSL's `subject=` lines) is read as a bundle
/// ([`pem_bundle_to_der`], strict RFC 7468) that must hold exactly one certificate.
///
/// # Errors
///
/// [`Error::CertParse`] when the PEM holds no certificate, several, or a malformed one.
pub fn der_or_pem(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| perr(CertRole::Unknown, "neither DER nor PEM"))?;
    if text.trim_start().starts_with("-----BEGIN ") {
        if let Ok(der) = remits_codec::pem::decode_lenient(text, "CERTIFICATE") {
            return Ok(der);
        }
    }
    let mut certs = pem_bundle_to_der(text)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        0 => Err(perr(CertRole::Unknown, "no PEM certificate found")),
        n => Err(perr(
            CertRole::Unknown,
            format!("expected one certificate, found {n}"),
        )),
    }
}
