//! AMD's own certificate format for the SEV ARK and ASK (SEV API, "AMD Certificates"):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 4 | version (1) |
//! | 0x04 | 16 | KEY_ID |
//! | 0x14 | 16 | CERTIFYING_ID (the signer's KEY_ID; the ARK's own for the ARK) |
//! | 0x24 | 4 | KEY_USAGE (ARK 0x0000, ASK 0x0013) |
//! | 0x28 | 16 | reserved |
//! | 0x38 | 4 | PUBEXP_SIZE (bits) |
//! | 0x3C | 4 | MODULUS_SIZE (bits: 2048 or 4096) |
//! | 0x40 | PUBEXP_SIZE/8 | PUBEXP, little-endian |
//! | … | MODULUS_SIZE/8 | MODULUS, little-endian |
//! | … | MODULUS_SIZE/8 of the signer | SIGNATURE, RSASSA-PSS, little-endian |
//!
//! The signature covers every byte before it. Its hash is SHA-256 for 2048-bit keys (Naples)
//! and SHA-384 for 4096-bit keys, with a salt as long as the hash.

use remits_codec::Cursor;
use rsa::{BigUint, RsaPublicKey};

use crate::error::{malformed, CertName, Error, Link, Result};
use crate::rsa_pss;

/// Usage of the ARK.
pub(crate) const USAGE_ARK: u32 = 0x0000;
/// Usage of the ASK (and of the signature slot the ASK fills in a CEK).
pub(crate) const USAGE_ASK: u32 = 0x0013;

const HEADER_LEN: usize = 0x40;

/// A parsed AMD-format certificate, borrowing the received bytes.
#[derive(Debug, Clone)]
pub struct AmdCert<'a> {
    raw: &'a [u8],
    name: CertName,
    key_id: [u8; 16],
    certifying_id: [u8; 16],
    usage: u32,
    key: RsaPublicKey,
    modulus_bits: u32,
    /// Every byte before the signature, as received: what the signature covers.
    signed: &'a [u8],
    /// SIGNATURE, little-endian.
    signature: &'a [u8],
}

fn le_uint(b: &[u8]) -> BigUint {
    BigUint::from_bytes_le(b)
}

impl<'a> AmdCert<'a> {
    /// Parses `raw` as the certificate `name` (ARK or ASK). The whole input must be one
    /// certificate: trailing bytes are refused.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for a short input, wrong lengths or an RSA key that does not parse,
    /// [`Error::WrongField`] for a version or key size AMD does not use.
    pub fn parse(raw: &'a [u8], name: CertName) -> Result<Self> {
        let m = |r: &str| malformed(name, r.to_string());
        if raw.len() < HEADER_LEN {
            return Err(m(&format!(
                "{} bytes, shorter than its 64-byte header",
                raw.len()
            )));
        }
        // The 64-byte header is there: its reads cannot run out (a failure names the field).
        let cut = |e: remits_codec::Error| malformed(name, e.to_string());
        let mut c = Cursor::new(raw, "AMD certificate");
        let version = c.u32_le("version").map_err(cut)?;
        let key_id: [u8; 16] = c.array("KEY_ID").map_err(cut)?;
        let certifying_id: [u8; 16] = c.array("CERTIFYING_ID").map_err(cut)?;
        let usage = c.u32_le("KEY_USAGE").map_err(cut)?;
        c.skip(16, "reserved").map_err(cut)?;
        let pubexp_bits = c.u32_le("PUBEXP_SIZE").map_err(cut)?;
        let modulus_bits = c.u32_le("MODULUS_SIZE").map_err(cut)?;
        if version != 1 {
            return Err(Error::WrongField {
                cert: name,
                field: "version",
                found: version,
                expected: "1",
            });
        }
        if modulus_bits != 2048 && modulus_bits != 4096 {
            return Err(Error::WrongField {
                cert: name,
                field: "modulus size",
                found: modulus_bits,
                expected: "2048 or 4096 bits",
            });
        }
        if pubexp_bits != modulus_bits {
            return Err(Error::WrongField {
                cert: name,
                field: "public exponent size",
                found: pubexp_bits,
                expected: "the modulus size",
            });
        }
        let n = (modulus_bits / 8) as usize;
        // The signature is as long as the signer's modulus; AMD's ARKs sign with keys of the
        // same size as their own, so the certificate is 64 + 3 × n bytes.
        if raw.len() != HEADER_LEN + 3 * n {
            return Err(m(&format!(
                "{} bytes, expected {} for a {modulus_bits}-bit key",
                raw.len(),
                HEADER_LEN + 3 * n
            )));
        }
        let pubexp = c.take(n, "PUBEXP").map_err(cut)?;
        let modulus = c.take(n, "MODULUS").map_err(cut)?;
        let signed = c.consumed();
        let signature = c.take(n, "SIGNATURE").map_err(cut)?;
        c.finish().map_err(cut)?;
        let (pubexp, modulus) = (le_uint(pubexp), le_uint(modulus));
        let key =
            RsaPublicKey::new(modulus, pubexp).map_err(|e| m(&format!("RSA public key: {e}")))?;
        Ok(Self {
            raw,
            name,
            key_id,
            certifying_id,
            usage,
            key,
            modulus_bits,
            signed,
            signature,
        })
    }

    /// The exact bytes parsed.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// KEY_ID.
    pub fn key_id(&self) -> [u8; 16] {
        self.key_id
    }

    /// CERTIFYING_ID: the signer's KEY_ID.
    pub fn certifying_id(&self) -> [u8; 16] {
        self.certifying_id
    }

    /// KEY_USAGE.
    pub fn usage(&self) -> u32 {
        self.usage
    }

    /// Modulus size in bits.
    pub fn modulus_bits(&self) -> u32 {
        self.modulus_bits
    }

    pub(crate) fn public_key(&self) -> &RsaPublicKey {
        &self.key
    }

    /// Checks this certificate's usage against its expected role.
    pub(crate) fn expect_usage(&self, usage: u32, expected: &'static str) -> Result<()> {
        if self.usage != usage {
            return Err(Error::WrongField {
                cert: self.name,
                field: "key usage",
                found: self.usage,
                expected,
            });
        }
        Ok(())
    }

    /// Verifies that `issuer` signed this certificate: CERTIFYING_ID equals the issuer's
    /// KEY_ID and the RSA-PSS signature over the received bytes verifies.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] naming the link when the ids differ or the signature does not verify.
    pub fn verify_signed_by(&self, issuer: &AmdCert<'_>) -> Result<()> {
        let link = Link {
            issuer: issuer.name,
            subject: self.name,
        };
        if self.certifying_id != issuer.key_id {
            return Err(Error::Signature {
                link,
                reason: format!(
                    "CERTIFYING_ID {} is not the issuer's KEY_ID {}",
                    hex::encode(self.certifying_id),
                    hex::encode(issuer.key_id)
                ),
            });
        }
        let hash = if issuer.modulus_bits == 2048 {
            rsa_pss::Hash::Sha256
        } else {
            rsa_pss::Hash::Sha384
        };
        rsa_pss::verify_le(&issuer.key, hash, self.signed, self.signature)
            .map_err(|reason| Error::Signature { link, reason })
    }
}
