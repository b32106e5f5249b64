//! ES256 (ECDSA on P-256 with SHA-256, signature `r || s`) for EAR tokens.
//!
//! Two implementations of the same two operations, fed the same bytes: RustCrypto `p256`
//! (always built, the default) and aws-lc-rs (feature `aws-lc`, several times faster; the
//! broker signs a token per handshake and checks one per resource request). With the feature
//! on, the keys are prepared once for aws-lc-rs and the `p256` path stays available so tests
//! can check each implementation against the other.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// Which implementation performs the ECDSA operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// RustCrypto `p256`.
    RustCrypto,
    /// aws-lc-rs.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl Backend {
    /// aws-lc-rs when the feature is on, RustCrypto otherwise.
    pub(crate) fn preferred() -> Self {
        #[cfg(feature = "aws-lc")]
        {
            Backend::AwsLc
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            Backend::RustCrypto
        }
    }
}

/// A P-256 signing key prepared for the chosen backend.
#[derive(Clone)]
pub(crate) struct Es256Signer {
    key: SigningKey,
    #[cfg(feature = "aws-lc")]
    aws: Option<std::sync::Arc<aws_lc_rs::signature::EcdsaKeyPair>>,
}

impl Es256Signer {
    /// Prepare `key` for `backend`. Should aws-lc-rs ever refuse a key `p256` accepted, the
    /// signer uses `p256` (same signatures, slower); [`Es256Signer::backend`] tells.
    pub(crate) fn new(key: SigningKey, backend: Backend) -> Self {
        match backend {
            Backend::RustCrypto => Es256Signer {
                key,
                #[cfg(feature = "aws-lc")]
                aws: None,
            },
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
                let public = key.verifying_key().to_encoded_point(false);
                let secret = zeroize::Zeroizing::new(key.to_bytes());
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &secret[..],
                    public.as_bytes(),
                )
                .ok()
                .map(std::sync::Arc::new);
                Es256Signer { key, aws: pair }
            }
        }
    }

    /// The backend actually in use.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn backend(&self) -> Backend {
        #[cfg(feature = "aws-lc")]
        if self.aws.is_some() {
            return Backend::AwsLc;
        }
        Backend::RustCrypto
    }

    /// The public half.
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// Sign `msg`; returns the 64-byte `r || s`.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<[u8; 64], String> {
        #[cfg(feature = "aws-lc")]
        if let Some(pair) = &self.aws {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let sig = pair
                .sign(&rng, msg)
                .map_err(|e| format!("aws-lc-rs ES256 signing failed: {e}"))?;
            return <[u8; 64]>::try_from(sig.as_ref()).map_err(|_| {
                format!(
                    "aws-lc-rs returned a {}-byte ES256 signature",
                    sig.as_ref().len()
                )
            });
        }
        let sig: Signature = self.key.sign(msg);
        Ok(sig.to_bytes().into())
    }
}

/// A P-256 public key prepared for the chosen backend.
#[derive(Clone)]
pub(crate) struct Es256Verifier {
    key: VerifyingKey,
    #[cfg(feature = "aws-lc")]
    aws: Option<std::sync::Arc<aws_lc_rs::signature::ParsedPublicKey>>,
}

impl Es256Verifier {
    /// Prepare `key` for `backend`. Should aws-lc-rs ever refuse a point `p256` accepted, the
    /// verifier uses `p256`; [`Es256Verifier::backend`] tells.
    pub(crate) fn new(key: VerifyingKey, backend: Backend) -> Self {
        match backend {
            Backend::RustCrypto => Es256Verifier {
                key,
                #[cfg(feature = "aws-lc")]
                aws: None,
            },
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED};
                let point = key.to_encoded_point(false);
                let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_bytes())
                    .ok()
                    .map(std::sync::Arc::new);
                Es256Verifier { key, aws: parsed }
            }
        }
    }

    /// The backend actually in use.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn backend(&self) -> Backend {
        #[cfg(feature = "aws-lc")]
        if self.aws.is_some() {
            return Backend::AwsLc;
        }
        Backend::RustCrypto
    }

    /// The key.
    pub(crate) fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `sig` (64-byte `r || s`) is a valid signature of `msg`.
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 64 {
            return false;
        }
        #[cfg(feature = "aws-lc")]
        if let Some(parsed) = &self.aws {
            return parsed.verify_sig(msg, sig).is_ok();
        }
        match Signature::from_slice(sig) {
            Ok(sig) => self.key.verify(msg, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod wycheproof_vectors;

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> Vec<Backend> {
        #[cfg(feature = "aws-lc")]
        {
            vec![Backend::RustCrypto, Backend::AwsLc]
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            vec![Backend::RustCrypto]
        }
    }

    fn key(seed: u8) -> SigningKey {
        let mut d = [0u8; 32];
        d[31] = seed;
        d[0] = 0x42;
        SigningKey::from_slice(&d).expect("a valid test scalar")
    }

    #[test]
    fn every_backend_verifies_every_backends_signatures() {
        let msg = b"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJyZW1pdHMifQ";
        for s in backends() {
            let signer = Es256Signer::new(key(7), s);
            assert_eq!(signer.backend(), s);
            let sig = signer.sign(msg).expect("sign");
            for v in backends() {
                let verifier = Es256Verifier::new(*signer.verifying_key(), v);
                assert_eq!(verifier.backend(), v);
                assert!(verifier.verify(msg, &sig), "{s:?} signature under {v:?}");
                let mut bad = sig;
                bad[10] ^= 1;
                assert!(
                    !verifier.verify(msg, &bad),
                    "{s:?} flipped signature under {v:?}"
                );
                assert!(
                    !verifier.verify(b"other", &sig),
                    "{s:?} other message under {v:?}"
                );
                assert!(
                    !verifier.verify(msg, &sig[..63]),
                    "short signature under {v:?}"
                );
                let other = Es256Verifier::new(*key(8).verifying_key(), v);
                assert!(
                    !other.verify(msg, &sig),
                    "{s:?} signature under another key ({v:?})"
                );
            }
        }
    }

    #[test]
    fn rfc6979_signature_from_p256_verifies_on_every_backend() {
        // A signature produced independently of `Es256Signer` (p256's deterministic RFC 6979).
        let k = key(9);
        let sig: Signature = k.sign(b"independent");
        for v in backends() {
            let verifier = Es256Verifier::new(*k.verifying_key(), v);
            assert!(verifier.verify(b"independent", &sig.to_bytes()), "{v:?}");
        }
    }
}
