//! ECDH on P-256 and P-521 for `ECDH-ES+A256KW`: RustCrypto (`p256`, `p521`; always built, the
//! default) or aws-lc-rs (feature `aws-lc`, several times faster; the broker performs one
//! ephemeral-static agreement per resource it releases, a client one per resource it reads).
//!
//! Both implementations take and return the same bytes: SEC1 uncompressed points, big-endian
//! private scalars, and the shared secret `Z` (the x-coordinate, 32 or 66 bytes). With the
//! feature on, RustCrypto stays available so tests can check one against the other.

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::JweError;

/// The curves `ECDH-ES+A256KW` is offered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P521,
}

/// Which implementation performs the agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    /// RustCrypto `p256` / `p521` (with the feature on: only for cross-checks in tests).
    #[cfg_attr(feature = "aws-lc", allow(dead_code))]
    RustCrypto,
    /// aws-lc-rs.
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl Backend {
    /// aws-lc-rs when the feature is on, RustCrypto otherwise.
    pub(super) fn preferred() -> Self {
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

/// The result of an ephemeral-static agreement: the shared secret and the ephemeral public
/// point (SEC1 uncompressed) to publish as `epk`.
pub(super) struct Ephemeral {
    pub(super) z: Zeroizing<Vec<u8>>,
    pub(super) epk: Vec<u8>,
}

fn agree_failed(_: impl Sized) -> JweError {
    JweError::Encrypt("ECDH key agreement")
}

/// A fresh ephemeral key agreed with `peer` (SEC1 uncompressed, already validated).
///
/// RustCrypto draws the ephemeral scalar from `rng`; aws-lc-rs from its own system RNG.
pub(super) fn ephemeral<R: RngCore + CryptoRng>(
    backend: Backend,
    curve: Curve,
    peer: &[u8],
    rng: &mut R,
) -> Result<Ephemeral, JweError> {
    match backend {
        Backend::RustCrypto => match curve {
            Curve::P256 => {
                let peer = p256::PublicKey::from_sec1_bytes(peer).map_err(agree_failed)?;
                let eph = p256::ecdh::EphemeralSecret::random(rng);
                let z = eph.diffie_hellman(&peer);
                Ok(Ephemeral {
                    z: Zeroizing::new(z.raw_secret_bytes().to_vec()),
                    epk: p256::EncodedPoint::from(eph.public_key())
                        .as_bytes()
                        .to_vec(),
                })
            }
            Curve::P521 => {
                let peer = p521::PublicKey::from_sec1_bytes(peer).map_err(agree_failed)?;
                let eph = p521::ecdh::EphemeralSecret::random(rng);
                let z = eph.diffie_hellman(&peer);
                Ok(Ephemeral {
                    z: Zeroizing::new(z.raw_secret_bytes().to_vec()),
                    epk: p521::EncodedPoint::from(eph.public_key())
                        .as_bytes()
                        .to_vec(),
                })
            }
        },
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => {
            use aws_lc_rs::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey};
            let alg = aws_alg(curve);
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let eph = EphemeralPrivateKey::generate(alg, &rng).map_err(agree_failed)?;
            let epk = eph
                .compute_public_key()
                .map_err(agree_failed)?
                .as_ref()
                .to_vec();
            let z = agree_ephemeral(
                eph,
                UnparsedPublicKey::new(alg, peer),
                JweError::Encrypt("ECDH key agreement"),
                |z| Ok(Zeroizing::new(z.to_vec())),
            )?;
            Ok(Ephemeral { z, epk })
        }
    }
}

fn decrypt_failed(_: impl Sized) -> JweError {
    JweError::Decrypt("ECDH key agreement")
}

/// Agreement of a static private scalar (big-endian) with `peer` (SEC1 uncompressed).
pub(super) fn agree(
    backend: Backend,
    curve: Curve,
    secret: &[u8],
    peer: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    match backend {
        Backend::RustCrypto => match curve {
            Curve::P256 => {
                let sk = p256::SecretKey::from_slice(secret).map_err(decrypt_failed)?;
                let pk = p256::PublicKey::from_sec1_bytes(peer).map_err(decrypt_failed)?;
                let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(z.raw_secret_bytes().to_vec()))
            }
            Curve::P521 => {
                let sk = p521::SecretKey::from_slice(secret).map_err(decrypt_failed)?;
                let pk = p521::PublicKey::from_sec1_bytes(peer).map_err(decrypt_failed)?;
                let z = p521::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(z.raw_secret_bytes().to_vec()))
            }
        },
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => {
            use aws_lc_rs::agreement::{agree as aws_agree, PrivateKey, UnparsedPublicKey};
            let alg = aws_alg(curve);
            let sk = PrivateKey::from_private_key(alg, secret).map_err(decrypt_failed)?;
            aws_agree(
                &sk,
                UnparsedPublicKey::new(alg, peer),
                JweError::Decrypt("ECDH key agreement"),
                |z| Ok(Zeroizing::new(z.to_vec())),
            )
        }
    }
}

/// The public point (SEC1 uncompressed) of a private scalar (big-endian).
pub(super) fn public_point(
    backend: Backend,
    curve: Curve,
    secret: &[u8],
) -> Result<Vec<u8>, JweError> {
    let bad = |_| JweError::InvalidKey("private scalar out of range".into());
    match backend {
        Backend::RustCrypto => match curve {
            Curve::P256 => {
                let sk = p256::SecretKey::from_slice(secret).map_err(bad)?;
                Ok(p256::EncodedPoint::from(sk.public_key())
                    .as_bytes()
                    .to_vec())
            }
            Curve::P521 => {
                let sk = p521::SecretKey::from_slice(secret).map_err(bad)?;
                Ok(p521::EncodedPoint::from(sk.public_key())
                    .as_bytes()
                    .to_vec())
            }
        },
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => {
            use aws_lc_rs::agreement::PrivateKey;
            let sk = PrivateKey::from_private_key(aws_alg(curve), secret)
                .map_err(|_| JweError::InvalidKey("private scalar out of range".into()))?;
            let pk = sk
                .compute_public_key()
                .map_err(|_| JweError::InvalidKey("private scalar out of range".into()))?;
            Ok(pk.as_ref().to_vec())
        }
    }
}

/// The x and y coordinates of a SEC1 uncompressed point; two empty halves if it is not one.
pub(super) fn xy(sec1: &[u8]) -> (&[u8], &[u8]) {
    match sec1.split_first() {
        Some((4, xy)) if !xy.is_empty() && xy.len() % 2 == 0 => xy.split_at(xy.len() / 2),
        _ => (&[], &[]),
    }
}

#[cfg(feature = "aws-lc")]
fn aws_alg(curve: Curve) -> &'static aws_lc_rs::agreement::Algorithm {
    match curve {
        Curve::P256 => &aws_lc_rs::agreement::ECDH_P256,
        Curve::P521 => &aws_lc_rs::agreement::ECDH_P521,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

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

    fn secret(curve: Curve, fill: u8) -> Vec<u8> {
        match curve {
            Curve::P256 => vec![fill; 32],
            // The top byte of a P-521 scalar holds one bit.
            Curve::P521 => {
                let mut s = vec![fill; 66];
                s[0] = 1;
                s
            }
        }
    }

    #[test]
    fn backends_agree_with_each_other() {
        for curve in [Curve::P256, Curve::P521] {
            let recipient = secret(curve, 0x5a);
            for b in backends() {
                let public = public_point(b, curve, &recipient).expect("public point");
                assert_eq!(
                    public,
                    public_point(Backend::RustCrypto, curve, &recipient).expect("reference"),
                    "{curve:?} public point from {b:?}"
                );
                for sender in backends() {
                    let e = ephemeral(sender, curve, &public, &mut OsRng).expect("ephemeral");
                    let len = if curve == Curve::P256 { 32 } else { 66 };
                    assert_eq!(e.z.len(), len);
                    assert_eq!(e.epk.len(), 2 * len + 1);
                    for receiver in backends() {
                        let z = agree(receiver, curve, &recipient, &e.epk).expect("agree");
                        assert_eq!(*z, *e.z, "{curve:?}: {sender:?} -> {receiver:?}");
                    }
                    // Another recipient gets another secret.
                    let other = agree(b, curve, &secret(curve, 0x33), &e.epk).expect("agree");
                    assert_ne!(*other, *e.z);
                }
            }
        }
    }

    #[test]
    fn backends_refuse_bad_points_and_scalars() {
        for b in backends() {
            let mut off_curve = vec![4u8];
            off_curve.extend([1u8; 64]);
            assert!(
                ephemeral(b, Curve::P256, &off_curve, &mut OsRng).is_err(),
                "{b:?}"
            );
            assert!(
                agree(b, Curve::P256, &[7u8; 32], &off_curve).is_err(),
                "{b:?}"
            );
            assert!(
                agree(b, Curve::P256, &[0u8; 32], &off_curve).is_err(),
                "{b:?}"
            );
            assert!(
                public_point(b, Curve::P256, &[0u8; 32]).is_err(),
                "{b:?}: zero scalar"
            );
            assert!(
                public_point(b, Curve::P256, &[0xffu8; 32]).is_err(),
                "{b:?}: >= n"
            );
        }
    }
}
