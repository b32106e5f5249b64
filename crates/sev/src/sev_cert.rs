//! The SEV certificate format of the platform keys (CEK, OCA, PEK, PDH) and of the guest
//! owner's Diffie-Hellman key (SEV API, "SEV Certificate"), 0x824 bytes, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x000 | 4 | version (1) |
//! | 0x004 | 1+1 | API major, API minor of the firmware that made it |
//! | 0x006 | 2 | reserved |
//! | 0x008 | 4 | PUBKEY_USAGE |
//! | 0x00C | 4 | PUBKEY_ALGO |
//! | 0x010 | 0x404 | PUBKEY: for ECDSA/ECDH `{u32 curve, QX[72], QY[72], reserved}` |
//! | 0x414 | 4+4+0x200 | signature 1: `{usage, algo, sig}` |
//! | 0x61C | 4+4+0x200 | signature 2 |
//!
//! Signatures cover bytes 0x000..0x414. An ECDSA signature is `{R[72], S[72]}`, an RSA one
//! is the 512-byte little-endian signature. Coordinates and scalars are little-endian and
//! zero-padded to 72 bytes.

use p384::ecdsa::signature::hazmat::PrehashVerifier;
use p384::elliptic_curve::sec1::FromEncodedPoint;
use sha2::Digest;

use remits_codec::Cursor;

use crate::amd_cert::{AmdCert, USAGE_ASK};
use crate::error::{malformed, CertName, Error, Link, Result};
use crate::rsa_pss;

/// Size of an SEV certificate.
pub const SEV_CERT_LEN: usize = 0x824;
const BODY_LEN: usize = 0x414;
const SIG1: usize = 0x414;
const SIG2: usize = 0x61C;
const SIG_LEN: usize = 0x200;
const COORD: usize = 72;
const P384_LEN: usize = 48;

/// PUBKEY_USAGE / signature usage values.
pub mod usage {
    /// AMD Root Key.
    pub const ARK: u32 = 0x0000;
    /// AMD SEV Signing Key.
    pub const ASK: u32 = 0x0013;
    /// Invalid / empty signature slot.
    pub const INVALID: u32 = 0x1000;
    /// Owner Certificate Authority.
    pub const OCA: u32 = 0x1001;
    /// Platform Endorsement Key.
    pub const PEK: u32 = 0x1002;
    /// Platform Diffie-Hellman key (and the guest owner's DH key).
    pub const PDH: u32 = 0x1003;
    /// Chip Endorsement Key.
    pub const CEK: u32 = 0x1004;
}

/// PUBKEY_ALGO / signature algorithm values.
pub mod algo {
    /// None (empty slot).
    pub const NONE: u32 = 0x0;
    /// RSASSA-PSS with SHA-256.
    pub const RSA_PSS_SHA256: u32 = 0x1;
    /// ECDSA with SHA-256.
    pub const ECDSA_SHA256: u32 = 0x2;
    /// ECDH with SHA-256.
    pub const ECDH_SHA256: u32 = 0x3;
    /// RSASSA-PSS with SHA-384.
    pub const RSA_PSS_SHA384: u32 = 0x101;
    /// ECDSA with SHA-384.
    pub const ECDSA_SHA384: u32 = 0x102;
    /// ECDH with SHA-384.
    pub const ECDH_SHA384: u32 = 0x103;
}

/// Curve id of NIST P-384 in the PUBKEY field.
pub(crate) const CURVE_P384: u32 = 2;

/// A 72-byte little-endian field → 48-byte big-endian P-384 value; the upper 24 bytes must
/// be zero.
fn le72_to_be48(field: &[u8]) -> Option<[u8; P384_LEN]> {
    let (low, high) = field.split_at_checked(P384_LEN)?;
    if high.iter().any(|&b| b != 0) {
        return None;
    }
    let mut out = [0u8; P384_LEN];
    out.copy_from_slice(low);
    out.reverse();
    Some(out)
}

/// A parsed SEV certificate, borrowing the received bytes.
#[derive(Debug, Clone)]
pub struct SevCert<'a> {
    raw: &'a [u8; SEV_CERT_LEN],
    /// Bytes `0x000..0x414` as received: what the signatures cover.
    body: &'a [u8; BODY_LEN],
    name: CertName,
    usage: u32,
    algo: u32,
    api: (u8, u8),
    key: p384::PublicKey,
    /// The two signature slots.
    slots: [SigSlot<'a>; 2],
}

/// One signature slot: `{usage, algo, sig}`.
#[derive(Debug, Clone, Copy)]
struct SigSlot<'a> {
    usage: u32,
    algo: u32,
    sig: &'a [u8; SIG_LEN],
}

impl<'a> SigSlot<'a> {
    fn read(c: &mut Cursor<'a>) -> std::result::Result<Self, remits_codec::Error> {
        Ok(SigSlot {
            usage: c.u32_le("signature usage")?,
            algo: c.u32_le("signature algo")?,
            sig: c.array_ref("signature")?,
        })
    }
}

/// The fields of the signed body, read in order.
struct Body<'a> {
    version: u32,
    api: (u8, u8),
    usage: u32,
    algo: u32,
    curve: u32,
    qx: &'a [u8; COORD],
    qy: &'a [u8; COORD],
}

impl<'a> Body<'a> {
    fn read(body: &'a [u8; BODY_LEN]) -> std::result::Result<Self, remits_codec::Error> {
        let mut c = Cursor::new(body, "SEV certificate");
        let version = c.u32_le("version")?;
        let api = (c.u8("API major")?, c.u8("API minor")?);
        c.skip(2, "reserved")?;
        let usage = c.u32_le("PUBKEY_USAGE")?;
        let algo = c.u32_le("PUBKEY_ALGO")?;
        // PUBKEY: {u32 curve, QX[72], QY[72], reserved}.
        let curve = c.u32_le("PUBKEY curve")?;
        let qx = c.array_ref("PUBKEY QX")?;
        let qy = c.array_ref("PUBKEY QY")?;
        c.skip(0x404 - 4 - 2 * COORD, "PUBKEY reserved")?;
        c.finish()?;
        Ok(Body {
            version,
            api,
            usage,
            algo,
            curve,
            qx,
            qy,
        })
    }
}

impl<'a> SevCert<'a> {
    /// Parses `raw` (exactly 0x824 bytes) as certificate `name`, whose public key must be a
    /// P-384 ECDSA (CEK, OCA, PEK) or ECDH (PDH, GODH) key with the usage of that name.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for another length or a key not on P-384, [`Error::WrongField`] for a
    /// version, usage, algorithm or curve that does not fit `name`.
    pub fn parse(raw: &'a [u8], name: CertName) -> Result<Self> {
        let raw: &'a [u8; SEV_CERT_LEN] = raw.try_into().map_err(|_| {
            malformed(
                name,
                format!("{} bytes, an SEV certificate is {SEV_CERT_LEN}", raw.len()),
            )
        })?;
        // Exactly SEV_CERT_LEN bytes: the reads below cannot run out (a failure names the field).
        let cut = |e: remits_codec::Error| malformed(name, e.to_string());
        let mut c = Cursor::new(raw, "SEV certificate");
        let body = c.array_ref::<BODY_LEN>("body").map_err(cut)?;
        let slots = [
            SigSlot::read(&mut c).map_err(cut)?,
            SigSlot::read(&mut c).map_err(cut)?,
        ];
        c.finish().map_err(cut)?;
        let Body {
            version,
            api,
            usage,
            algo,
            curve,
            qx,
            qy,
        } = Body::read(body).map_err(cut)?;
        if version != 1 {
            return Err(Error::WrongField {
                cert: name,
                field: "version",
                found: version,
                expected: "1",
            });
        }
        let (want_usage, want_usage_s, want_algos, want_algo_s): (u32, _, &[u32], _) = match name {
            CertName::Cek => (
                usage::CEK,
                "0x1004 (CEK)",
                &[algo::ECDSA_SHA256, algo::ECDSA_SHA384],
                "ECDSA",
            ),
            CertName::Oca => (
                usage::OCA,
                "0x1001 (OCA)",
                &[algo::ECDSA_SHA256, algo::ECDSA_SHA384],
                "ECDSA",
            ),
            CertName::Pek => (
                usage::PEK,
                "0x1002 (PEK)",
                &[algo::ECDSA_SHA256, algo::ECDSA_SHA384],
                "ECDSA",
            ),
            CertName::Pdh | CertName::Godh => (
                usage::PDH,
                "0x1003 (PDH)",
                &[algo::ECDH_SHA256, algo::ECDH_SHA384],
                "ECDH",
            ),
            CertName::Ark | CertName::Ask => {
                return Err(malformed(
                    name,
                    "the ARK and ASK use the AMD certificate format",
                ))
            }
        };
        if usage != want_usage {
            return Err(Error::WrongField {
                cert: name,
                field: "key usage",
                found: usage,
                expected: want_usage_s,
            });
        }
        if !want_algos.contains(&algo) {
            return Err(Error::WrongField {
                cert: name,
                field: "key algorithm",
                found: algo,
                expected: want_algo_s,
            });
        }
        if curve != CURVE_P384 {
            return Err(Error::WrongField {
                cert: name,
                field: "curve",
                found: curve,
                expected: "2 (P-384)",
            });
        }
        let qx = le72_to_be48(qx).ok_or_else(|| malformed(name, "QX does not fit P-384"))?;
        let qy = le72_to_be48(qy).ok_or_else(|| malformed(name, "QY does not fit P-384"))?;
        let point = p384::EncodedPoint::from_affine_coordinates(&qx.into(), &qy.into(), false);
        let key = Option::<p384::PublicKey>::from(p384::PublicKey::from_encoded_point(&point))
            .ok_or_else(|| malformed(name, "public key is not a point on P-384"))?;
        Ok(Self {
            raw,
            body,
            name,
            usage,
            algo,
            api,
            key,
            slots,
        })
    }

    /// The exact bytes parsed.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Which certificate this is.
    pub fn name(&self) -> CertName {
        self.name
    }

    /// PUBKEY_USAGE.
    pub fn usage(&self) -> u32 {
        self.usage
    }

    /// PUBKEY_ALGO.
    pub fn algo(&self) -> u32 {
        self.algo
    }

    /// The API version (major, minor) of the firmware that issued it.
    pub fn api_version(&self) -> (u8, u8) {
        self.api
    }

    /// The P-384 public key.
    pub fn public_key(&self) -> &p384::PublicKey {
        &self.key
    }

    /// The signature slot filled by a signer of usage `by`: `(algo, sig bytes)`.
    fn slot_by(&self, by: u32) -> Option<(u32, &'a [u8; SIG_LEN])> {
        self.slots
            .iter()
            .find(|slot| slot.usage == by)
            .map(|slot| (slot.algo, slot.sig))
    }

    fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Verifies that the ECDSA key of `issuer` signed this certificate (the slot whose usage is
    /// the issuer's).
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] naming the link when `issuer` is not a signing key, no slot has its
    /// usage, or the signature does not verify.
    pub fn verify_signed_by(&self, issuer: &SevCert<'_>) -> Result<()> {
        let link = Link {
            issuer: issuer.name,
            subject: self.name,
        };
        let fail = |reason: String| Error::Signature { link, reason };
        if !matches!(issuer.algo, algo::ECDSA_SHA256 | algo::ECDSA_SHA384) {
            return Err(fail(format!(
                "the {} key is not a signing key",
                issuer.name
            )));
        }
        let (sig_algo, sig) = self
            .slot_by(issuer.usage)
            .ok_or_else(|| fail(format!("no signature slot of usage {:#x}", issuer.usage)))?;
        let digest: Vec<u8> = match sig_algo {
            algo::ECDSA_SHA256 => sha2::Sha256::digest(self.body()).to_vec(),
            algo::ECDSA_SHA384 => sha2::Sha384::digest(self.body()).to_vec(),
            other => return Err(fail(format!("signature algorithm {other:#x} is not ECDSA"))),
        };
        let r = le72_to_be48(&sig[..COORD]).ok_or_else(|| fail("R is wider than P-384".into()))?;
        let s = le72_to_be48(&sig[COORD..2 * COORD])
            .ok_or_else(|| fail("S is wider than P-384".into()))?;
        if sig[2 * COORD..].iter().any(|&b| b != 0) {
            return Err(fail("non-zero bytes after S".into()));
        }
        let sig = p384::ecdsa::Signature::from_scalars(r, s)
            .map_err(|_| fail("R or S out of range".into()))?;
        p384::ecdsa::VerifyingKey::from(&issuer.key)
            .verify_prehash(&digest, &sig)
            .map_err(|_| fail("ECDSA P-384 signature is not valid".into()))
    }

    /// Verifies that the AMD ASK signed this certificate (the CEK): RSA-PSS in the slot of
    /// usage 0x13.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] naming the link when no slot has the ASK's usage or the signature does
    /// not verify.
    pub fn verify_signed_by_ask(&self, ask: &AmdCert<'_>) -> Result<()> {
        let link = Link {
            issuer: CertName::Ask,
            subject: self.name,
        };
        let fail = |reason: String| Error::Signature { link, reason };
        let (sig_algo, sig) = self
            .slot_by(USAGE_ASK)
            .ok_or_else(|| fail("no signature slot of usage 0x13 (ASK)".into()))?;
        let hash = match sig_algo {
            algo::RSA_PSS_SHA256 => rsa_pss::Hash::Sha256,
            algo::RSA_PSS_SHA384 => rsa_pss::Hash::Sha384,
            other => {
                return Err(fail(format!(
                    "signature algorithm {other:#x} is not RSA-PSS"
                )))
            }
        };
        rsa_pss::verify_le(ask.public_key(), hash, self.body(), sig).map_err(fail)
    }
}

/// Builds an unsigned SEV certificate: version 1, the given API version, usage and algorithm,
/// the P-384 key as little-endian coordinates, both signature slots empty.
pub(crate) fn unsigned_cert(
    usage_v: u32,
    algo_v: u32,
    key: &p384::PublicKey,
    api: (u8, u8),
) -> Vec<u8> {
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    let mut out = [0u8; SEV_CERT_LEN];
    out[0..4].copy_from_slice(&1u32.to_le_bytes());
    (out[4], out[5]) = api;
    out[0x08..0x0C].copy_from_slice(&usage_v.to_le_bytes());
    out[0x0C..0x10].copy_from_slice(&algo_v.to_le_bytes());
    out[0x10..0x14].copy_from_slice(&CURVE_P384.to_le_bytes());
    let point = key.to_encoded_point(false);
    // An uncompressed point always has both coordinates.
    if let (Some(x), Some(y)) = (point.x(), point.y()) {
        for (d, b) in out[0x14..0x14 + COORD].iter_mut().zip(x.iter().rev()) {
            *d = *b;
        }
        for (d, b) in out[0x14 + COORD..0x14 + 2 * COORD]
            .iter_mut()
            .zip(y.iter().rev())
        {
            *d = *b;
        }
    }
    out[SIG1..SIG1 + 4].copy_from_slice(&usage::INVALID.to_le_bytes());
    out[SIG2..SIG2 + 4].copy_from_slice(&usage::INVALID.to_le_bytes());
    out.to_vec()
}

/// The guest owner's Diffie-Hellman certificate (what QEMU's `dh-cert-file` carries): usage
/// PDH, ECDH SHA-256, API 0.0, unsigned.
pub(crate) fn godh_cert(key: &p384::PublicKey) -> Vec<u8> {
    unsigned_cert(usage::PDH, algo::ECDH_SHA256, key, (0, 0))
}
