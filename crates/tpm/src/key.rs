//! The attestation key a quote is verified under: from PEM/DER SubjectPublicKeyInfo, from a
//! TPM2B_PUBLIC, or from an RSA JWK (Azure's HCLAkPub). It knows which schemes it allows.

use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use serde::Serialize;
use sha2::{Sha256, Sha384, Sha512};

use crate::alg::HashAlg;
use crate::error::Error;
use crate::public::{PublicKey, PublicSummary, TpmPublic, ECC_NIST_P256, ECC_NIST_P384};
use crate::signature::{SigScheme, Signature};

#[derive(Debug, Clone)]
enum Material {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// A trusted attestation key. Trust in it must come from elsewhere (a pinned key, an EK
/// certificate chain, or on Azure the SNP report binding); this type only verifies signatures.
#[derive(Debug, Clone)]
pub struct AttestationKey {
    material: Material,
    /// Scheme fixed by the TPM2B_PUBLIC (or by the caller); `None` = any scheme of the key type.
    scheme: Option<(SigScheme, HashAlg)>,
    spki_der: Vec<u8>,
    tpm_public: Option<(Vec<u8>, PublicSummary)>,
}

impl AttestationKey {
    /// From DER SubjectPublicKeyInfo (RSA, EC P-256 or EC P-384).
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `der` is not SubjectPublicKeyInfo, [`Error::UnsupportedAlgorithm`] for
    /// another key type or curve.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let material = if let Ok(k) = RsaPublicKey::from_public_key_der(der) {
            Material::Rsa(k)
        } else if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            Material::P256(k.into())
        } else if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            Material::P384(k.into())
        } else {
            return Err(Error::Key(
                "not an RSA, P-256 or P-384 SubjectPublicKeyInfo".into(),
            ));
        };
        Ok(Self {
            material,
            scheme: None,
            spki_der: der.to_vec(),
            tpm_public: None,
        })
    }

    /// From a PEM "PUBLIC KEY" (SubjectPublicKeyInfo), as `tpm2_readpublic -f pem` writes it.
    ///
    /// # Errors
    ///
    /// As [`AttestationKey::from_spki_der`], and [`Error::Key`] for text that is not such a PEM
    /// block.
    pub fn from_spki_pem(pem: &str) -> Result<Self, Error> {
        let (label, doc) =
            rsa::pkcs8::Document::from_pem(pem).map_err(|e| Error::Key(format!("PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(Error::Key(format!(
                "PEM label {label:?}, expected \"PUBLIC KEY\""
            )));
        }
        Self::from_spki_der(doc.as_bytes())
    }

    /// From a TPM2B_PUBLIC (`tpm2_createak -u`). Enforces quote check 6: the key must be a
    /// restricted signing key. The key's scheme (if not NULL) becomes the only one allowed.
    ///
    /// # Errors
    ///
    /// The parse errors of [`TpmPublic::parse`], [`Error::NotRestrictedSigningKey`] for a key that
    /// is not a restricted signing key, [`Error::UnsupportedAlgorithm`] for another type or scheme.
    pub fn from_tpm2b_public(bytes: &[u8]) -> Result<Self, Error> {
        let p = TpmPublic::parse(bytes)?;
        p.check_restricted_signing()?;
        let scheme = p.signing_scheme()?;
        let material = match p.key() {
            PublicKey::Rsa {
                exponent, modulus, ..
            } => {
                let e = if *exponent == 0 { 65537 } else { *exponent };
                Material::Rsa(rsa_key(modulus, &e.to_be_bytes())?)
            }
            PublicKey::Ecc { curve, x, y, .. } => match *curve {
                ECC_NIST_P256 => Material::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1(x, y, 32)?)
                        .map_err(|_| Error::Key("P-256 point is not on the curve".into()))?,
                ),
                ECC_NIST_P384 => Material::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1(x, y, 48)?)
                        .map_err(|_| Error::Key("P-384 point is not on the curve".into()))?,
                ),
                c => {
                    return Err(Error::UnsupportedAlgorithm {
                        field: "TPMT_PUBLIC.parameters.curveID",
                        alg: c,
                    })
                }
            },
        };
        let spki_der = spki_of(&material)?;
        Ok(Self {
            material,
            scheme,
            spki_der,
            tpm_public: Some((bytes.to_vec(), p.summary())),
        })
    }

    /// From PEM SubjectPublicKeyInfo, DER SubjectPublicKeyInfo or TPM2B_PUBLIC, by content.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `bytes` is none of the three forms, and the errors of the form it is.
    pub fn from_any(bytes: &[u8]) -> Result<Self, Error> {
        if let Some(text) = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN"))
        {
            return Self::from_spki_pem(text);
        }
        if bytes.first() == Some(&0x30) {
            if let Ok(k) = Self::from_spki_der(bytes) {
                return Ok(k);
            }
        }
        Self::from_tpm2b_public(bytes)
    }

    /// From an RSA JWK's base64url `n` and `e` (Azure HCLAkPub), fixed to `scheme`.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `n` or `e` is not base64url or not a valid RSA key.
    pub fn from_rsa_jwk(
        n_b64url: &str,
        e_b64url: &str,
        scheme: Option<(SigScheme, HashAlg)>,
    ) -> Result<Self, Error> {
        let dec = |s: &str, what: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|e| Error::Key(format!("JWK {what}: {e}")))
        };
        let material = Material::Rsa(rsa_key(&dec(n_b64url, "n")?, &dec(e_b64url, "e")?)?);
        let spki_der = spki_of(&material)?;
        Ok(Self {
            material,
            scheme,
            spki_der,
            tpm_public: None,
        })
    }

    /// Restrict the key to one scheme and hash (e.g. Azure's RSASSA/SHA-256).
    pub fn with_scheme(mut self, scheme: SigScheme, hash: HashAlg) -> Self {
        self.scheme = Some((scheme, hash));
        self
    }

    /// The key as DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The TPM2B_PUBLIC the key came from, if any.
    pub fn tpm2b_public(&self) -> Option<&[u8]> {
        self.tpm_public.as_ref().map(|(b, _)| b.as_slice())
    }

    /// Whether two keys have the same public material.
    pub fn same_key(&self, other: &AttestationKey) -> bool {
        self.spki_der == other.spki_der
    }

    /// A serialisable description.
    pub fn describe(&self) -> AkDescription {
        use base64::engine::general_purpose::STANDARD;
        AkDescription {
            key_type: match &self.material {
                Material::Rsa(_) => "rsa",
                Material::P256(_) => "ecc-nist-p256",
                Material::P384(_) => "ecc-nist-p384",
            },
            spki: STANDARD.encode(&self.spki_der),
            scheme: self.scheme.map(|(s, h)| format!("{s}-{h}")),
            tpm_public: self.tpm_public.as_ref().map(|(_, s)| s.clone()),
        }
    }

    /// Quote check 2: the signature's scheme and hash are allowed for this key and on the
    /// allow-list, and it verifies over exactly `message`.
    ///
    /// # Errors
    ///
    /// [`Error::SchemeNotAllowed`] or [`Error::HashNotAllowed`] for a scheme or hash this key or
    /// the allow-list refuses, [`Error::BadSignature`] when it does not verify.
    pub fn verify(&self, message: &[u8], sig: &Signature) -> Result<(), Error> {
        let hash = sig.hash();
        if let Some((scheme, h)) = self.scheme {
            if scheme != sig.scheme() || h != hash {
                return Err(Error::SchemeNotAllowed {
                    allowed: format!("{scheme}-{h}"),
                    actual: sig.describe(),
                });
            }
        }
        if !hash.allowed_for_signing() {
            return Err(Error::HashNotAllowed {
                alg: hash.name().into(),
            });
        }
        let digest = hash.hash(message);
        let bad = || Error::BadSignature {
            what: "TPMS_ATTEST",
        };
        match (&self.material, sig) {
            (Material::Rsa(k), Signature::Rsassa { sig: s, .. }) => {
                let scheme = match hash {
                    HashAlg::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    HashAlg::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    HashAlg::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                    HashAlg::Sha1 => return Err(Error::HashNotAllowed { alg: "sha1".into() }),
                };
                k.verify(scheme, &digest, s).map_err(|_| bad())
            }
            (Material::Rsa(k), Signature::Rsapss { sig: s, .. }) => {
                let n = hash.size();
                let scheme = match hash {
                    HashAlg::Sha256 => Pss::new_with_salt::<Sha256>(n),
                    HashAlg::Sha384 => Pss::new_with_salt::<Sha384>(n),
                    HashAlg::Sha512 => Pss::new_with_salt::<Sha512>(n),
                    HashAlg::Sha1 => return Err(Error::HashNotAllowed { alg: "sha1".into() }),
                };
                k.verify(scheme, &digest, s).map_err(|_| bad())
            }
            (Material::P256(k), Signature::Ecdsa { r, s, .. }) => {
                let sig = p256::ecdsa::Signature::from_scalars(
                    pad::<p256::FieldBytes>(r)?,
                    pad::<p256::FieldBytes>(s)?,
                )
                .map_err(|_| bad())?;
                k.verify_prehash(&digest, &sig).map_err(|_| bad())
            }
            (Material::P384(k), Signature::Ecdsa { r, s, .. }) => {
                let sig = p384::ecdsa::Signature::from_scalars(
                    pad::<p384::FieldBytes>(r)?,
                    pad::<p384::FieldBytes>(s)?,
                )
                .map_err(|_| bad())?;
                k.verify_prehash(&digest, &sig).map_err(|_| bad())
            }
            (m, sig) => Err(Error::SchemeNotAllowed {
                allowed: match m {
                    Material::Rsa(_) => "rsassa or rsapss (RSA key)".into(),
                    _ => "ecdsa (ECC key)".into(),
                },
                actual: sig.describe(),
            }),
        }
    }
}

/// Serialisable description of an attestation key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AkDescription {
    /// "rsa", "ecc-nist-p256" or "ecc-nist-p384".
    pub key_type: &'static str,
    /// Standard base64 of the DER SubjectPublicKeyInfo (trustee's `ak_public`).
    pub spki: String,
    /// The scheme the key is fixed to, if any ("rsassa-sha256").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// TPM2B_PUBLIC summary, if the key came with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm_public: Option<PublicSummary>,
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, Error> {
    if n.len() < 256 {
        return Err(Error::Key(format!(
            "RSA modulus of {} bits is below 2048",
            n.len() * 8
        )));
    }
    RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        .map_err(|e| Error::Key(format!("RSA: {e}")))
}

/// Uncompressed SEC1 point from TPM coordinates, each left-padded to `n` bytes.
fn sec1(x: &[u8], y: &[u8], n: usize) -> Result<Vec<u8>, Error> {
    if x.len() > n || y.len() > n || x.is_empty() || y.is_empty() {
        return Err(Error::Key(format!(
            "ECC coordinates of {} and {} bytes for a {n}-byte field",
            x.len(),
            y.len()
        )));
    }
    let mut out = Vec::with_capacity(1 + 2 * n);
    out.push(0x04);
    out.resize(1 + n - x.len(), 0);
    out.extend_from_slice(x);
    out.resize(1 + 2 * n - y.len(), 0);
    out.extend_from_slice(y);
    Ok(out)
}

fn spki_of(m: &Material) -> Result<Vec<u8>, Error> {
    let doc = match m {
        Material::Rsa(k) => k.to_public_key_der(),
        Material::P256(k) => p256::PublicKey::from(k).to_public_key_der(),
        Material::P384(k) => p384::PublicKey::from(k).to_public_key_der(),
    };
    doc.map(|d| d.as_bytes().to_vec())
        .map_err(|e| Error::Key(format!("SPKI encoding: {e}")))
}

/// Left-pad an ECDSA scalar to the field size (leading zero bytes beyond it are dropped).
fn pad<F: Default + AsMut<[u8]>>(v: &[u8]) -> Result<F, Error> {
    let mut out = F::default();
    let buf = out.as_mut();
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    let v = v.get(start..).unwrap_or(&[]);
    let off = buf.len().checked_sub(v.len()).ok_or(Error::BadSignature {
        what: "TPMS_ATTEST",
    })?;
    buf.get_mut(off..)
        .ok_or(Error::BadSignature {
            what: "TPMS_ATTEST",
        })?
        .copy_from_slice(v);
    Ok(out)
}
