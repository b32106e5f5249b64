//! TPM hash algorithm identifiers (TPM_ALG_ID) and hashing.

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::error::Error;

/// A TPM hash algorithm this crate can compute. SM3 and others are recognised by id only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// TPM_ALG_SHA1 (0x0004). Allowed for PCR banks and event logs, never for quote signatures.
    Sha1,
    /// TPM_ALG_SHA256 (0x000B).
    Sha256,
    /// TPM_ALG_SHA384 (0x000C).
    Sha384,
    /// TPM_ALG_SHA512 (0x000D).
    Sha512,
}

/// TPM_ALG_NULL.
pub(crate) const ALG_NULL: u16 = 0x0010;

impl HashAlg {
    /// Every supported algorithm, in TPM_ALG_ID order.
    pub const ALL: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// From a TPM_ALG_ID; `None` if it is not a hash this crate computes.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0004 => Some(Self::Sha1),
            0x000B => Some(Self::Sha256),
            0x000C => Some(Self::Sha384),
            0x000D => Some(Self::Sha512),
            _ => None,
        }
    }

    /// From a TPM_ALG_ID, or an error naming `field`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] naming `field` for an algorithm this crate does not handle.
    pub fn from_id_for(id: u16, field: &'static str) -> Result<Self, Error> {
        Self::from_id(id).ok_or(Error::UnsupportedAlgorithm { field, alg: id })
    }

    /// The TPM_ALG_ID.
    pub fn id(self) -> u16 {
        match self {
            Self::Sha1 => 0x0004,
            Self::Sha256 => 0x000B,
            Self::Sha384 => 0x000C,
            Self::Sha512 => 0x000D,
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The bank name used in JSON and tpm2-tools selections ("sha256").
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// From a bank name ("sha1", "sha256", "sha384", "sha512").
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Whether quotes may be signed with this hash (go-tpm-tools' allow-list: SHA-256/384/512).
    pub fn allowed_for_signing(self) -> bool {
        !matches!(self, Self::Sha1)
    }

    /// Hash the concatenation of `parts`.
    pub fn hash_parts<'p>(self, parts: impl IntoIterator<Item = &'p [u8]>) -> Vec<u8> {
        fn run<D: Digest>(parts: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p.as_ref());
            }
            h.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// Hash `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        self.hash_parts([data])
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A printable name for any TPM_ALG_ID (for error messages).
pub(crate) fn alg_name(id: u16) -> String {
    match id {
        0x0001 => "rsa".into(),
        0x0005 => "hmac".into(),
        0x0010 => "null".into(),
        0x0012 => "sm3_256".into(),
        0x0014 => "rsassa".into(),
        0x0016 => "rsapss".into(),
        0x0018 => "ecdsa".into(),
        0x001A => "ecdaa".into(),
        0x001B => "sm2".into(),
        0x001C => "ecschnorr".into(),
        0x0023 => "ecc".into(),
        _ => match HashAlg::from_id(id) {
            Some(h) => h.name().into(),
            None => format!("0x{id:04x}"),
        },
    }
}
