//! Manifest signing keys: Ed25519 or ECDSA P-384 (SHA-384), PEM encoded.
//!
//! Private keys: PKCS#8 `PRIVATE KEY` (either algorithm) or SEC1 `EC PRIVATE KEY` (P-384).
//! Public keys: SPKI `PUBLIC KEY`. Signatures are deterministic (Ed25519; RFC 6979 for ECDSA),
//! so a signed manifest is reproducible byte for byte.

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use p384::ecdsa::signature::{Signer as _, Verifier as _};
use zeroize::Zeroizing;

use crate::events::{sha256, types, Event};
use crate::Error;

/// A private signing key.
pub enum SigningKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA over P-384 with SHA-384.
    P384(p384::ecdsa::SigningKey),
}

/// A public verification key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA over P-384 with SHA-384.
    P384(p384::ecdsa::VerifyingKey),
}

/// Signature algorithm name for Ed25519 in manifests.
pub const ALG_ED25519: &str = "ed25519";
/// Signature algorithm name for ECDSA P-384 / SHA-384 (96-byte r||s) in manifests.
pub const ALG_ES384: &str = "ecdsa-p384-sha384";

impl SigningKey {
    /// Parses a PEM private key.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `pem` is not an Ed25519 or P-384 SPKI public key.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            use p384::elliptic_curve::SecretKey;
            let sk: SecretKey<p384::NistP384> = SecretKey::from_sec1_pem(pem)
                .map_err(|_| Error::Key("EC PRIVATE KEY: not a P-384 SEC1 key".into()))?;
            return Ok(SigningKey::P384(sk.into()));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::Ed25519(k));
        }
        use p384::pkcs8::DecodePrivateKey as _;
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::P384(k));
        }
        Err(Error::Key(
            "expected an Ed25519 or P-384 private key (PKCS#8 PEM, or SEC1 for P-384)".into(),
        ))
    }

    /// Reads a PEM private key file (the file contents are zeroized after parsing).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and as `PublicKey::from_pem`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = Zeroizing::new(read_key_file(path)?);
        Self::from_pem(&text)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            SigningKey::P384(k) => PublicKey::P384(*k.verifying_key()),
        }
    }

    /// Signs `msg` deterministically.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            SigningKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(msg);
                s.to_bytes().to_vec()
            }
        }
    }
}

impl PublicKey {
    /// Parses a PEM SPKI public key.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `pem` is not an Ed25519 or P-384 SPKI public key.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        // One strict RFC 7468 decode, then the DER parser (not one PEM decode per key type).
        remits_codec::pem::decode(pem, "PUBLIC KEY")
            .ok()
            .and_then(|der| Self::from_spki_der(&der).ok())
            .ok_or_else(|| Error::Key("expected an Ed25519 or P-384 public key (SPKI PEM)".into()))
    }

    /// Parses a DER SPKI public key.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when `der` is not an Ed25519 or P-384 SPKI public key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Ed25519(k));
        }
        use p384::pkcs8::DecodePublicKey as _;
        if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(k));
        }
        Err(Error::Key(
            "expected an Ed25519 or P-384 public key (SPKI DER)".into(),
        ))
    }

    /// Reads a PEM public key file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and as `PublicKey::from_pem`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = read_key_file(path)?;
        Self::from_pem(&text)
    }

    /// The DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// [`Error::Key`] when encoding fails.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        let doc = match self {
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::P384(k) => {
                use p384::pkcs8::EncodePublicKey as _;
                k.to_public_key_der()
            }
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::Key(format!("SPKI encoding: {e}")))
    }

    /// Algorithm name used in manifests.
    pub fn alg(&self) -> &'static str {
        match self {
            PublicKey::Ed25519(_) => ALG_ED25519,
            PublicKey::P384(_) => ALG_ES384,
        }
    }

    /// Verifies `sig` over `msg`.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] when `sig` is malformed or does not verify.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let bad = || {
            Error::Signature(format!(
                "{} signature does not verify with the given key",
                self.alg()
            ))
        };
        match self {
            PublicKey::Ed25519(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
                k.verify_strict(msg, &s).map_err(|_| bad())
            }
            PublicKey::P384(k) => {
                let s = p384::ecdsa::Signature::from_slice(sig).map_err(|_| bad())?;
                k.verify(msg, &s).map_err(|_| bad())
            }
        }
    }

    /// The PCR16 event: SHA-256 of the DER SPKI.
    ///
    /// # Errors
    ///
    /// As `PublicKey::spki_der`.
    pub fn pcr16_event(&self) -> Result<Event, Error> {
        Ok(Event::new(
            types::REMITS_EVENT,
            format!("remits.manifest.signer ({})", self.alg()),
            sha256(&self.spki_der()?),
        ))
    }
}

/// Reads a PEM key file, refusing anything larger than a key file can be (64 KiB) while
/// reading, so a device or a huge file cannot exhaust memory.
fn read_key_file(path: &std::path::Path) -> Result<String, Error> {
    remits_evidence::input::read_capped_string(path, 64 << 10, "key file").map_err(|e| {
        Error::io(
            path.display().to_string(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        )
    })
}
