//! TPM2B_PUBLIC (RSA and ECC keys), its Name, and the restricted-signing-key attribute check.

use serde::Serialize;

use crate::alg::{alg_name, HashAlg, ALG_NULL};
use crate::cursor::Cursor;
use crate::error::{hx, Error};
use crate::signature::SigScheme;

/// TPM_ALG_RSA.
pub(crate) const ALG_RSA: u16 = 0x0001;
/// TPM_ALG_ECC.
pub(crate) const ALG_ECC: u16 = 0x0023;
/// TPM_ECC_NIST_P256.
pub(crate) const ECC_NIST_P256: u16 = 0x0003;
/// TPM_ECC_NIST_P384.
pub(crate) const ECC_NIST_P384: u16 = 0x0004;

/// TPMA_OBJECT bits (the whole table, for reading the attribute checks; not every bit is tested).
#[allow(dead_code)]
pub(crate) mod attr {
    /// fixedTPM.
    pub(crate) const FIXED_TPM: u32 = 1 << 1;
    /// stClear.
    pub(crate) const ST_CLEAR: u32 = 1 << 2;
    /// fixedParent.
    pub(crate) const FIXED_PARENT: u32 = 1 << 4;
    /// sensitiveDataOrigin.
    pub(crate) const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// userWithAuth.
    pub(crate) const USER_WITH_AUTH: u32 = 1 << 6;
    /// adminWithPolicy.
    pub(crate) const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// noDA.
    pub(crate) const NO_DA: u32 = 1 << 10;
    /// encryptedDuplication.
    pub(crate) const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    /// restricted.
    pub(crate) const RESTRICTED: u32 = 1 << 16;
    /// decrypt.
    pub(crate) const DECRYPT: u32 = 1 << 17;
    /// sign / encrypt.
    pub(crate) const SIGN: u32 = 1 << 18;
}

/// A key's scheme as TPMT_{RSA,ECC}_SCHEME: algorithm and (for hash-based schemes) hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyScheme {
    /// TPM_ALG_ID of the scheme (TPM_ALG_NULL = any).
    pub scheme: u16,
    /// TPM_ALG_ID of its hash, if the scheme has one.
    pub hash: Option<u16>,
}

/// The key-type specific part of a TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey<'a> {
    /// An RSA key.
    Rsa {
        /// Scheme.
        scheme: KeyScheme,
        /// keyBits.
        key_bits: u16,
        /// exponent (0 means 65537).
        exponent: u32,
        /// The modulus, big-endian.
        modulus: &'a [u8],
    },
    /// An ECC key.
    Ecc {
        /// Scheme.
        scheme: KeyScheme,
        /// TPM_ECC_CURVE.
        curve: u16,
        /// x, big-endian.
        x: &'a [u8],
        /// y, big-endian.
        y: &'a [u8],
    },
}

/// A parsed TPM2B_PUBLIC.
#[derive(Debug, Clone)]
pub struct TpmPublic<'a> {
    tpmt: &'a [u8],
    name_alg: HashAlg,
    attributes: u32,
    auth_policy: &'a [u8],
    key: PublicKey<'a>,
}

impl<'a> TpmPublic<'a> {
    /// Parse a TPM2B_PUBLIC (u16 size + TPMT_PUBLIC), as `tpm2_createak -u` writes it.
    /// The size must cover the TPMT_PUBLIC exactly and nothing may follow it.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] (truncated, trailing bytes) or [`Error::Invalid`] for a malformed
    /// structure, [`Error::UnsupportedAlgorithm`] for an unknown type or algorithm.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut outer = Cursor::new(bytes, "TPM2B_PUBLIC");
        let tpmt = outer.tpm2b("size", 0xFFFF)?;
        outer.finish()?;
        Self::parse_tpmt(tpmt)
    }

    /// Parse a bare TPMT_PUBLIC.
    ///
    /// # Errors
    ///
    /// As [`TpmPublic::parse`].
    pub fn parse_tpmt(tpmt: &'a [u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(tpmt, "TPMT_PUBLIC");
        let ty = c.u16_be("type")?;
        let name_alg = HashAlg::from_id_for(c.u16_be("nameAlg")?, "TPMT_PUBLIC.nameAlg")?;
        let attributes = c.u32_be("objectAttributes")?;
        let auth_policy = c.tpm2b("authPolicy", 64)?;
        let key = match ty {
            ALG_RSA => {
                read_symmetric(&mut c)?;
                let scheme = read_scheme(&mut c, "parameters.scheme")?;
                let key_bits = c.u16_be("parameters.keyBits")?;
                let exponent = c.u32_be("parameters.exponent")?;
                let modulus = c.tpm2b("unique.rsa", 512)?;
                if modulus.len() * 8 != usize::from(key_bits) {
                    return Err(c.invalid(
                        "unique.rsa",
                        format!("{}-byte modulus for keyBits {key_bits}", modulus.len()),
                    ));
                }
                PublicKey::Rsa {
                    scheme,
                    key_bits,
                    exponent,
                    modulus,
                }
            }
            ALG_ECC => {
                read_symmetric(&mut c)?;
                let scheme = read_scheme(&mut c, "parameters.scheme")?;
                let curve = c.u16_be("parameters.curveID")?;
                let kdf = c.u16_be("parameters.kdf.scheme")?;
                if kdf != ALG_NULL {
                    c.u16_be("parameters.kdf.hash")?;
                }
                let x = c.tpm2b("unique.ecc.x", 66)?;
                let y = c.tpm2b("unique.ecc.y", 66)?;
                PublicKey::Ecc {
                    scheme,
                    curve,
                    x,
                    y,
                }
            }
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    field: "TPMT_PUBLIC.type",
                    alg: other,
                })
            }
        };
        c.finish()?;
        Ok(Self {
            tpmt,
            name_alg,
            attributes,
            auth_policy,
            key,
        })
    }

    /// The TPMT_PUBLIC bytes.
    pub fn tpmt_bytes(&self) -> &'a [u8] {
        self.tpmt
    }
    /// nameAlg.
    pub fn name_alg(&self) -> HashAlg {
        self.name_alg
    }
    /// objectAttributes.
    pub fn attributes(&self) -> u32 {
        self.attributes
    }
    /// authPolicy.
    pub fn auth_policy(&self) -> &'a [u8] {
        self.auth_policy
    }
    /// The key material and parameters.
    pub fn key(&self) -> &PublicKey<'a> {
        &self.key
    }

    /// The object's Name: nameAlg (u16 BE) ‖ H_nameAlg(TPMT_PUBLIC).
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.name_alg.id().to_be_bytes().to_vec();
        n.extend_from_slice(&self.name_alg.hash(self.tpmt));
        n
    }

    /// The signing scheme and hash the key fixes, if any (`None` = TPM_ALG_NULL).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] for an unknown scheme or hash, [`Error::Key`] for a scheme
    /// that does not fit the key type.
    pub fn signing_scheme(&self) -> Result<Option<(SigScheme, HashAlg)>, Error> {
        let s = match &self.key {
            PublicKey::Rsa { scheme, .. } | PublicKey::Ecc { scheme, .. } => *scheme,
        };
        if s.scheme == ALG_NULL {
            return Ok(None);
        }
        let sig = SigScheme::from_id(s.scheme).ok_or(Error::UnsupportedAlgorithm {
            field: "TPMT_PUBLIC.parameters.scheme",
            alg: s.scheme,
        })?;
        let hid = s.hash.unwrap_or(ALG_NULL);
        let hash = HashAlg::from_id_for(hid, "TPMT_PUBLIC.parameters.scheme.hash")?;
        let ok = matches!(
            (&self.key, sig),
            (PublicKey::Rsa { .. }, SigScheme::Rsassa | SigScheme::Rsapss)
                | (PublicKey::Ecc { .. }, SigScheme::Ecdsa)
        );
        if !ok {
            return Err(Error::Key(format!(
                "scheme {sig} does not fit the key type"
            )));
        }
        Ok(Some((sig, hash)))
    }

    /// Quote check 6: a restricted signing key — fixedTPM, fixedParent, sensitiveDataOrigin,
    /// restricted and sign set; decrypt clear.
    ///
    /// # Errors
    ///
    /// [`Error::NotRestrictedSigningKey`] naming the attribute that is wrong.
    pub fn check_restricted_signing(&self) -> Result<(), Error> {
        check_restricted_signing(self.attributes)
    }

    /// A serialisable summary.
    pub fn summary(&self) -> PublicSummary {
        let (ty, detail) = match &self.key {
            PublicKey::Rsa { key_bits, .. } => ("rsa", format!("{key_bits} bits")),
            PublicKey::Ecc { curve, .. } => (
                "ecc",
                match *curve {
                    ECC_NIST_P256 => "nist-p256".to_string(),
                    ECC_NIST_P384 => "nist-p384".to_string(),
                    c => format!("curve 0x{c:04x}"),
                },
            ),
        };
        PublicSummary {
            key_type: ty,
            detail,
            name_alg: self.name_alg,
            attributes: format!("0x{:08x}", self.attributes),
            name: hx(&self.name()),
        }
    }
}

/// Summary of a TPM2B_PUBLIC for claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicSummary {
    /// "rsa" or "ecc".
    pub key_type: &'static str,
    /// Key size or curve.
    pub detail: String,
    /// nameAlg.
    pub name_alg: HashAlg,
    /// objectAttributes ("0x…").
    pub attributes: String,
    /// Name (hex).
    pub name: String,
}

/// Quote check 6 on raw objectAttributes.
///
/// # Errors
///
/// [`Error::NotRestrictedSigningKey`] naming the attribute that is wrong.
pub(crate) fn check_restricted_signing(a: u32) -> Result<(), Error> {
    let need = [
        (attr::FIXED_TPM, "fixedTPM"),
        (attr::FIXED_PARENT, "fixedParent"),
        (attr::SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
        (attr::RESTRICTED, "restricted"),
        (attr::SIGN, "sign"),
    ];
    let missing: Vec<&str> = need
        .iter()
        .filter(|(b, _)| a & b == 0)
        .map(|(_, n)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotRestrictedSigningKey {
            attributes: a,
            reason: format!("lacks {}", missing.join(", ")),
        });
    }
    if a & attr::DECRYPT != 0 {
        return Err(Error::NotRestrictedSigningKey {
            attributes: a,
            reason: "has decrypt set".into(),
        });
    }
    Ok(())
}

fn read_symmetric(c: &mut Cursor<'_>) -> Result<(), Error> {
    let alg = c.u16_be("parameters.symmetric.algorithm")?;
    if alg != ALG_NULL {
        c.u16_be("parameters.symmetric.keyBits")?;
        c.u16_be("parameters.symmetric.mode")?;
    }
    Ok(())
}

fn read_scheme(c: &mut Cursor<'_>, field: &'static str) -> Result<KeyScheme, Error> {
    let at = c.pos();
    let scheme = c.u16_be(field)?;
    let hash = match scheme {
        ALG_NULL | 0x0015 /* RSAES */ => None,
        0x0014 | 0x0016 | 0x0017 /* OAEP */ | 0x0018 | 0x0019 /* ECDH */ | 0x001B | 0x001C | 0x0020 /* ECMQV */ => {
            Some(c.u16_be("parameters.scheme.hash")?)
        }
        0x001A => {
            let h = c.u16_be("parameters.scheme.hash")?;
            c.u16_be("parameters.scheme.count")?;
            Some(h)
        }
        other => {
            return Err(Error::Invalid {
                structure: "TPMT_PUBLIC",
                field,
                offset: at,
                reason: format!("unknown scheme {}", alg_name(other)),
            })
        }
    };
    Ok(KeyScheme { scheme, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        assert!(check_restricted_signing(0x0005_0072).is_ok());
        assert!(check_restricted_signing(0x0006_0072).is_err()); // decrypt, no sign
        assert!(check_restricted_signing(0x0007_0072).is_err()); // sign + decrypt
        assert!(check_restricted_signing(0x0004_0072).is_err()); // not restricted
        assert!(check_restricted_signing(0x0005_0070).is_err()); // not fixedTPM
    }

    #[test]
    fn parse_ecc_template() {
        let mut b =
            hex::decode("00230 00b 00050072 0000 0010 0018 000b 0003 0010 0020".replace(' ', ""))
                .unwrap();
        b.extend([1u8; 32]);
        b.extend([0, 32]);
        b.extend([2u8; 32]);
        let mut full = (b.len() as u16).to_be_bytes().to_vec();
        full.extend(&b);
        let p = TpmPublic::parse(&full).unwrap();
        assert_eq!(
            p.signing_scheme().unwrap(),
            Some((SigScheme::Ecdsa, HashAlg::Sha256))
        );
        assert_eq!(p.name().len(), 34);
        p.check_restricted_signing().unwrap();
        full.push(0);
        assert!(TpmPublic::parse(&full).is_err());
    }
}
