//! The signature-verification seam: a tiny trait with a pure-Rust RustCrypto implementation
//! (default) and an aws-lc-rs one (feature `aws-lc`). Both are fed the same bytes: the exact
//! received TBS or report bytes; each backend hashes them itself.

use std::fmt::Debug;
use std::sync::Arc;

/// A verification failure. Deliberately opaque: the caller's error says *what* was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

/// A P-384 public key prepared once (parsed, validated) and reused for every report it signs.
pub trait P384Key: Send + Sync + Debug {
    /// Verify ECDSA P-384 with SHA-384 over `msg`; `sig` is big-endian `r || s`.
    ///
    /// # Errors
    ///
    /// [`BadSignature`] when the signature does not verify.
    fn verify(&self, msg: &[u8], sig: &[u8; 96]) -> Result<(), BadSignature>;
}

/// Signature algorithms needed for AMD SEV-SNP.
pub trait SignatureBackend: Send + Sync + Debug {
    /// Short name, for benchmarks and logs.
    fn name(&self) -> &'static str;
    /// Parse and validate a SEC1 uncompressed P-384 point.
    ///
    /// # Errors
    ///
    /// [`BadSignature`] when `sec1` is not a valid uncompressed P-384 point.
    fn p384_key(&self, sec1: &[u8]) -> Result<Box<dyn P384Key>, BadSignature>;
    /// Verify RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt over `msg`, under the
    /// PKCS#1 `RSAPublicKey` DER `key` (2048 to 8192 bits).
    ///
    /// # Errors
    ///
    /// [`BadSignature`] when the key does not parse or the signature does not verify.
    fn verify_rsa_pss_sha384(&self, key: &[u8], msg: &[u8], sig: &[u8])
        -> Result<(), BadSignature>;
}

/// The default backend: aws-lc-rs when the `aws-lc` feature is on, RustCrypto otherwise.
pub fn default_backend() -> Arc<dyn SignatureBackend> {
    #[cfg(feature = "aws-lc")]
    {
        Arc::new(AwsLc)
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        Arc::new(RustCrypto)
    }
}

/// Pure-Rust backend: `p384` and `rsa`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

#[derive(Debug)]
struct RcP384(p384::ecdsa::VerifyingKey);

impl P384Key for RcP384 {
    fn verify(&self, msg: &[u8], sig: &[u8; 96]) -> Result<(), BadSignature> {
        use p384::ecdsa::signature::Verifier as _;
        let sig = p384::ecdsa::Signature::from_slice(sig).map_err(|_| BadSignature)?;
        self.0.verify(msg, &sig).map_err(|_| BadSignature)
    }
}

impl SignatureBackend for RustCrypto {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn p384_key(&self, sec1: &[u8]) -> Result<Box<dyn P384Key>, BadSignature> {
        let k = p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(|_| BadSignature)?;
        Ok(Box::new(RcP384(k)))
    }

    fn verify_rsa_pss_sha384(
        &self,
        key: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), BadSignature> {
        use rsa::pkcs1::DecodeRsaPublicKey as _;
        use rsa::signature::Verifier as _;
        let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|_| BadSignature)?;
        let bits = rsa::traits::PublicKeyParts::size(&pk) * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(BadSignature);
        }
        // `new` sets the salt length to the digest size: 48 for SHA-384.
        let vk = rsa::pss::VerifyingKey::<sha2::Sha384>::new(pk);
        let sig = rsa::pss::Signature::try_from(sig).map_err(|_| BadSignature)?;
        vk.verify(msg, &sig).map_err(|_| BadSignature)
    }
}

/// aws-lc-rs backend (feature `aws-lc`).
#[cfg(feature = "aws-lc")]
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLc;

#[cfg(feature = "aws-lc")]
struct AwsP384(aws_lc_rs::signature::ParsedPublicKey);

#[cfg(feature = "aws-lc")]
impl Debug for AwsP384 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsP384")
    }
}

#[cfg(feature = "aws-lc")]
impl P384Key for AwsP384 {
    fn verify(&self, msg: &[u8], sig: &[u8; 96]) -> Result<(), BadSignature> {
        self.0.verify_sig(msg, sig).map_err(|_| BadSignature)
    }
}

#[cfg(feature = "aws-lc")]
impl SignatureBackend for AwsLc {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn p384_key(&self, sec1: &[u8]) -> Result<Box<dyn P384Key>, BadSignature> {
        let k = aws_lc_rs::signature::ParsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED,
            sec1,
        )
        .map_err(|_| BadSignature)?;
        Ok(Box::new(AwsP384(k)))
    }

    fn verify_rsa_pss_sha384(
        &self,
        key: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), BadSignature> {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA384,
            key,
        )
        .verify(msg, sig)
        .map_err(|_| BadSignature)
    }
}
