//! TPMT_SIGNATURE: RSASSA, RSAPSS and ECDSA.

use serde::Serialize;

use crate::alg::HashAlg;
use crate::cursor::Cursor;
use crate::error::Error;

/// TPM_ALG_RSASSA.
pub(crate) const ALG_RSASSA: u16 = 0x0014;
/// TPM_ALG_RSAPSS.
pub(crate) const ALG_RSAPSS: u16 = 0x0016;
/// TPM_ALG_ECDSA.
pub(crate) const ALG_ECDSA: u16 = 0x0018;

/// The signing schemes a quote can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SigScheme {
    /// RSASSA-PKCS1-v1_5.
    Rsassa,
    /// RSASSA-PSS, MGF1 with the same hash, salt length = digest length.
    Rsapss,
    /// ECDSA.
    Ecdsa,
}

impl SigScheme {
    /// The TPM_ALG_ID.
    pub fn id(self) -> u16 {
        match self {
            Self::Rsassa => ALG_RSASSA,
            Self::Rsapss => ALG_RSAPSS,
            Self::Ecdsa => ALG_ECDSA,
        }
    }
    /// From a TPM_ALG_ID.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            ALG_RSASSA => Some(Self::Rsassa),
            ALG_RSAPSS => Some(Self::Rsapss),
            ALG_ECDSA => Some(Self::Ecdsa),
            _ => None,
        }
    }
}

impl std::fmt::Display for SigScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rsassa => "rsassa",
            Self::Rsapss => "rsapss",
            Self::Ecdsa => "ecdsa",
        })
    }
}

/// Largest RSA signature accepted (4096-bit keys).
const MAX_RSA_SIG: usize = 512;
/// Largest ECC scalar accepted (P-521 would be 66; P-256/P-384 are supported for verification).
const MAX_ECC_SCALAR: usize = 66;

/// A parsed TPMT_SIGNATURE (or a raw signature wrapped with its scheme).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// RSASSA-PKCS1-v1_5 over H(message).
    Rsassa {
        /// Hash the TPM used.
        hash: HashAlg,
        /// Signature bytes (modulus-sized).
        sig: Vec<u8>,
    },
    /// RSASSA-PSS over H(message).
    Rsapss {
        /// Hash the TPM used (also MGF1's hash; salt length = its size).
        hash: HashAlg,
        /// Signature bytes.
        sig: Vec<u8>,
    },
    /// ECDSA over H(message).
    Ecdsa {
        /// Hash the TPM used.
        hash: HashAlg,
        /// r, big-endian.
        r: Vec<u8>,
        /// s, big-endian.
        s: Vec<u8>,
    },
}

impl Signature {
    /// Parse a TPMT_SIGNATURE (as `tpm2_quote -s` writes it); no trailing bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] (truncated, trailing bytes) or [`Error::Invalid`] for a malformed
    /// structure, [`Error::UnsupportedAlgorithm`] for an unknown scheme or hash.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "TPMT_SIGNATURE");
        let alg = c.u16_be("sigAlg")?;
        let scheme = SigScheme::from_id(alg).ok_or(Error::UnsupportedAlgorithm {
            field: "TPMT_SIGNATURE.sigAlg",
            alg,
        })?;
        let hid = c.u16_be("hash")?;
        let hash = HashAlg::from_id_for(hid, "TPMT_SIGNATURE.hash")?;
        let sig = match scheme {
            SigScheme::Rsassa | SigScheme::Rsapss => {
                let sig = c.tpm2b("signature.sig", MAX_RSA_SIG)?;
                if sig.is_empty() {
                    return Err(c.invalid("signature.sig", "empty RSA signature"));
                }
                let sig = sig.to_vec();
                if scheme == SigScheme::Rsassa {
                    Self::Rsassa { hash, sig }
                } else {
                    Self::Rsapss { hash, sig }
                }
            }
            SigScheme::Ecdsa => {
                let r = c.tpm2b("signatureR", MAX_ECC_SCALAR)?.to_vec();
                let s = c.tpm2b("signatureS", MAX_ECC_SCALAR)?.to_vec();
                Self::Ecdsa { hash, r, s }
            }
        };
        c.finish()?;
        Ok(sig)
    }

    /// A raw RSASSA-PKCS1-v1_5 signature (Azure's vTPM evidence carries the bare signature).
    pub fn rsassa_raw(hash: HashAlg, sig: &[u8]) -> Self {
        Self::Rsassa {
            hash,
            sig: sig.to_vec(),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> SigScheme {
        match self {
            Self::Rsassa { .. } => SigScheme::Rsassa,
            Self::Rsapss { .. } => SigScheme::Rsapss,
            Self::Ecdsa { .. } => SigScheme::Ecdsa,
        }
    }

    /// The hash the TPM used to sign.
    pub fn hash(&self) -> HashAlg {
        match self {
            Self::Rsassa { hash, .. } | Self::Rsapss { hash, .. } | Self::Ecdsa { hash, .. } => {
                *hash
            }
        }
    }

    /// "rsassa-sha256" etc.
    pub fn describe(&self) -> String {
        format!("{}-{}", self.scheme(), self.hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ecdsa_and_reject_junk() {
        let mut b = vec![0x00, 0x18, 0x00, 0x0B, 0x00, 0x02, 1, 2, 0x00, 0x01, 3];
        let s = Signature::parse(&b).unwrap();
        assert_eq!(
            s,
            Signature::Ecdsa {
                hash: HashAlg::Sha256,
                r: vec![1, 2],
                s: vec![3]
            }
        );
        b.push(0);
        assert!(matches!(
            Signature::parse(&b),
            Err(Error::Layout(remits_codec::Error::Trailing { .. }))
        ));
        assert!(matches!(
            Signature::parse(&[0x00, 0x05, 0x00, 0x0B]),
            Err(Error::UnsupportedAlgorithm { alg: 5, .. })
        ));
        assert!(Signature::parse(&[0x00, 0x14, 0x00, 0x0B, 0x00, 0x00]).is_err());
        assert!(Signature::parse(&[0x00, 0x14, 0x00, 0x0B, 0x01, 0x00, 0xAA]).is_err());
    }
}
