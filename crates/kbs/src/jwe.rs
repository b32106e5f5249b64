//! JWE (flattened JSON serialization) as the KBS uses it for resource responses.
//!
//! Key management: `ECDH-ES+A256KW` on P-256 and P-521, or `RSA-OAEP-256`; content
//! encryption is always `A256GCM`. The protected header is emitted in the canonical
//! compact form trustee and the guest-components client expect (`alg`, `enc`, then the
//! remaining members sorted, no whitespace), because that client re-serialises the
//! header to compute the AAD instead of using the received string. When decrypting,
//! the AAD is the `protected` value exactly as received (standard JWE).

// generic-array 0.14 `from_slice` is deprecated upstream, but it is what the RustCrypto 0.13
// curves and aes-gcm 0.10 take; lengths are checked before each call.
#![allow(deprecated)]

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

mod ecdh;
use ecdh::{Backend, Curve};

/// Key-management algorithm `ECDH-ES+A256KW`.
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// Key-management algorithm `RSA-OAEP-256`.
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
/// Content-encryption algorithm `A256GCM`.
pub const ENC_A256GCM: &str = "A256GCM";

/// Smallest RSA modulus accepted for `RSA-OAEP-256`, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted for `RSA-OAEP-256`, in bits.
pub const RSA_MAX_BITS: usize = 4096;

/// JWE errors; each names what was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JweError {
    /// The TEE public key JWK is missing a member or has a wrong one.
    #[error("TEE public key: {0}")]
    InvalidKey(String),
    /// The key type / curve / algorithm combination is not supported.
    #[error("unsupported TEE key: kty={kty} crv={crv} alg={alg}")]
    UnsupportedKey {
        /// `kty` member.
        kty: String,
        /// `crv` member (empty for RSA).
        crv: String,
        /// `alg` member.
        alg: String,
    },
    /// A JWE member is not valid base64url (no padding).
    #[error("JWE member {0}: not base64url without padding")]
    Base64(&'static str),
    /// The protected header is not the expected JSON object.
    #[error("JWE protected header: {0}")]
    Header(String),
    /// A JWE member has the wrong length.
    #[error("JWE member {field}: expected {expected} bytes, got {actual}")]
    Length {
        /// Member name.
        field: &'static str,
        /// Expected length.
        expected: usize,
        /// Received length.
        actual: usize,
    },
    /// The JWE carries an `aad` member, which the KBS protocol never uses.
    #[error("JWE carries an aad member; refused")]
    UnexpectedAad,
    /// The JWE was made for another key type than the one decrypting it.
    #[error("JWE alg {actual} does not match the key ({expected})")]
    AlgMismatch {
        /// Algorithm of the decrypting key.
        expected: &'static str,
        /// Algorithm in the header.
        actual: String,
    },
    /// Key unwrapping, RSA decryption or the GCM tag check failed.
    #[error("JWE decryption failed ({0})")]
    Decrypt(&'static str),
    /// Encryption failed (RSA or AES error).
    #[error("JWE encryption failed ({0})")]
    Encrypt(&'static str),
}

/// A flattened JWE JSON object as sent by the KBS (`kbs_types::Response` on the wire).
///
/// Members are kept as the received base64url strings so that the AAD is exactly the
/// received `protected` text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JweMessage {
    /// base64url of the protected header JSON.
    pub protected: String,
    /// base64url of the wrapped content-encryption key.
    pub encrypted_key: String,
    /// Optional additional authenticated data (never sent by the KBS; refused on decrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
    /// base64url of the 12-byte GCM IV.
    pub iv: String,
    /// base64url of the ciphertext.
    pub ciphertext: String,
    /// base64url of the 16-byte GCM tag.
    pub tag: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(field: &'static str, s: &str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| JweError::Base64(field))
}

fn member<'a>(jwk: &'a Value, name: &str) -> Result<&'a str, JweError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JweError::InvalidKey(format!("member {name} missing or not a string")))
}

/// Concat KDF (RFC 7518 §4.6.2) for `ECDH-ES+A256KW`: one SHA-256 round, 256-bit output.
fn concat_kdf(z: &[u8]) -> Zeroizing<[u8; 32]> {
    let alg = ALG_ECDH_ES_A256KW.as_bytes();
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    h.update((alg.len() as u32).to_be_bytes());
    h.update(alg);
    h.update(0u32.to_be_bytes()); // PartyUInfo
    h.update(0u32.to_be_bytes()); // PartyVInfo
    h.update(256u32.to_be_bytes()); // SuppPubInfo: key length in bits
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&h.finalize());
    out
}

fn wrap_cek(kek: &[u8; 32], cek: &[u8; 32]) -> Result<Vec<u8>, JweError> {
    let kw = aes_kw::KekAes256::from(*kek);
    kw.wrap_vec(cek)
        .map_err(|_| JweError::Encrypt("AES key wrap"))
}

fn unwrap_cek(kek: &[u8; 32], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
    if wrapped.len() != 40 {
        return Err(JweError::Length {
            field: "encrypted_key",
            expected: 40,
            actual: wrapped.len(),
        });
    }
    let kw = aes_kw::KekAes256::from(*kek);
    kw.unwrap_vec(wrapped)
        .map(Zeroizing::new)
        .map_err(|_| JweError::Decrypt("AES key unwrap"))
}

/// A TEE public key accepted as a JWE recipient, parsed and validated once.
#[derive(Clone, Debug)]
pub enum RecipientKey {
    /// P-256 for `ECDH-ES+A256KW`.
    P256(p256::PublicKey),
    /// P-521 for `ECDH-ES+A256KW`.
    P521(p521::PublicKey),
    /// RSA for `RSA-OAEP-256`.
    Rsa(rsa::RsaPublicKey),
}

macro_rules! ec_point {
    ($curve:ident, $len:expr, $x:expr, $y:expr) => {{
        let x = unb64("x", $x)?;
        let y = unb64("y", $y)?;
        if x.len() != $len || y.len() != $len {
            return Err(JweError::InvalidKey(format!(
                "coordinate length: expected {} bytes, got x={} y={}",
                $len,
                x.len(),
                y.len()
            )));
        }
        let point = $curve::EncodedPoint::from_affine_coordinates(
            $curve::FieldBytes::from_slice(&x),
            $curve::FieldBytes::from_slice(&y),
            false,
        );
        Option::<$curve::PublicKey>::from($curve::PublicKey::from_encoded_point(&point))
            .ok_or_else(|| JweError::InvalidKey("point is not on the curve".into()))?
    }};
}

impl RecipientKey {
    /// Parses a TEE public key JWK (`kbs_types::TeePubKey` JSON form).
    ///
    /// Accepted: `{"kty":"EC","crv":"P-256"|"P-521","alg":"ECDH-ES+A256KW","x","y"}` and
    /// `{"kty":"RSA","alg":"RSA-OAEP-256","n","e"}` with a 2048..=4096-bit modulus.
    ///
    /// # Errors
    ///
    /// [`JweError::UnsupportedKey`] for another key type, curve or algorithm,
    /// [`JweError::InvalidKey`] or [`JweError::Base64`] for malformed members or an RSA modulus
    /// outside 2048..=4096 bits.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JweError> {
        use p256::elliptic_curve::sec1::FromEncodedPoint;
        let kty = member(jwk, "kty")?;
        let alg = member(jwk, "alg")?;
        match kty {
            "EC" => {
                let crv = member(jwk, "crv")?;
                if alg != ALG_ECDH_ES_A256KW {
                    return Err(JweError::UnsupportedKey {
                        kty: kty.into(),
                        crv: crv.into(),
                        alg: alg.into(),
                    });
                }
                let x = member(jwk, "x")?;
                let y = member(jwk, "y")?;
                match crv {
                    "P-256" => Ok(Self::P256(ec_point!(p256, 32, x, y))),
                    "P-521" => Ok(Self::P521(ec_point!(p521, 66, x, y))),
                    _ => Err(JweError::UnsupportedKey {
                        kty: kty.into(),
                        crv: crv.into(),
                        alg: alg.into(),
                    }),
                }
            }
            "RSA" => {
                if alg != ALG_RSA_OAEP_256 {
                    return Err(JweError::UnsupportedKey {
                        kty: kty.into(),
                        crv: String::new(),
                        alg: alg.into(),
                    });
                }
                let n = unb64("n", member(jwk, "n")?)?;
                let e = unb64("e", member(jwk, "e")?)?;
                let bits = n.len() * 8;
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(JweError::InvalidKey(format!(
                        "RSA modulus of {bits} bits outside {RSA_MIN_BITS}..={RSA_MAX_BITS}"
                    )));
                }
                let key = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(&n),
                    rsa::BigUint::from_bytes_be(&e),
                )
                .map_err(|_| {
                    JweError::InvalidKey("RSA key rejected (modulus or exponent)".into())
                })?;
                Ok(Self::Rsa(key))
            }
            other => Err(JweError::UnsupportedKey {
                kty: other.into(),
                crv: String::new(),
                alg: alg.into(),
            }),
        }
    }

    /// Encrypts `plaintext` to this key: fresh CEK and IV from `rng`, `A256GCM` content.
    ///
    /// With the `aws-lc` feature the ECDH ephemeral key comes from aws-lc-rs' system RNG.
    ///
    /// # Errors
    ///
    /// [`JweError::Encrypt`] when key agreement, key wrapping or encryption fails.
    pub fn encrypt<R: RngCore + CryptoRng>(
        &self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<JweMessage, JweError> {
        self.encrypt_with(Backend::preferred(), plaintext, rng)
    }

    fn encrypt_with<R: RngCore + CryptoRng>(
        &self,
        backend: Backend,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<JweMessage, JweError> {
        let mut cek = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(cek.as_mut());
        let ecdh_es = |curve: Curve, crv: &str, peer: &[u8], rng: &mut R| {
            let e = ecdh::ephemeral(backend, curve, peer, rng)?;
            let kek = concat_kdf(&e.z);
            let (x, y) = ecdh::xy(&e.epk);
            if x.is_empty() {
                return Err(JweError::Encrypt("ephemeral point encoding"));
            }
            Ok::<_, JweError>((ec_header(crv, x, y), wrap_cek(&kek, &cek)?))
        };
        let (header, encrypted_key) = match self {
            Self::P256(pk) => ecdh_es(
                Curve::P256,
                "P-256",
                p256::EncodedPoint::from(pk).as_bytes(),
                rng,
            )?,
            Self::P521(pk) => ecdh_es(
                Curve::P521,
                "P-521",
                p521::EncodedPoint::from(pk).as_bytes(),
                rng,
            )?,
            Self::Rsa(pk) => {
                let ek = pk
                    .encrypt(&mut *rng, rsa::Oaep::new::<Sha256>(), cek.as_ref())
                    .map_err(|_| JweError::Encrypt("RSA-OAEP"))?;
                (
                    format!(r#"{{"alg":"{ALG_RSA_OAEP_256}","enc":"{ENC_A256GCM}"}}"#),
                    ek,
                )
            }
        };
        let protected = b64(header.as_bytes());
        let mut iv = [0u8; 12];
        rng.fill_bytes(&mut iv);
        let (buf, tag) = a256gcm_seal(cek.as_ref(), &iv, protected.as_bytes(), plaintext)?;
        Ok(JweMessage {
            protected,
            encrypted_key: b64(&encrypted_key),
            aad: None,
            iv: b64(&iv),
            ciphertext: b64(&buf),
            tag: b64(&tag),
        })
    }
}

/// The canonical compact header: `alg`, `enc`, then `epk` with members sorted.
fn ec_header(crv: &str, x: &[u8], y: &[u8]) -> String {
    format!(
        r#"{{"alg":"{ALG_ECDH_ES_A256KW}","enc":"{ENC_A256GCM}","epk":{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}}}"#,
        b64(x),
        b64(y)
    )
}

/// Which key pair a client generates for a handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TeeKeyAlgorithm {
    /// EC P-256, `ECDH-ES+A256KW` (the guest-components default).
    #[default]
    EcP256,
    /// EC P-521, `ECDH-ES+A256KW`.
    EcP521,
    /// RSA 2048, `RSA-OAEP-256`.
    Rsa2048,
}

/// An ephemeral TEE key pair: the private half decrypts the broker's JWE.
pub enum TeeKeyPair {
    /// P-256.
    P256(p256::SecretKey),
    /// P-521.
    P521(p521::SecretKey),
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl std::fmt::Debug for TeeKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::P256(_) => "P-256",
            Self::P521(_) => "P-521",
            Self::Rsa(_) => "RSA",
        };
        write!(f, "TeeKeyPair({kind}, private key redacted)")
    }
}

impl TeeKeyPair {
    /// Generates a fresh key pair with `rng`.
    ///
    /// # Errors
    ///
    /// [`JweError::Encrypt`] when key generation fails.
    pub fn generate<R: RngCore + CryptoRng>(
        alg: TeeKeyAlgorithm,
        rng: &mut R,
    ) -> Result<Self, JweError> {
        Ok(match alg {
            TeeKeyAlgorithm::EcP256 => Self::P256(p256::SecretKey::random(rng)),
            TeeKeyAlgorithm::EcP521 => Self::P521(p521::SecretKey::random(rng)),
            TeeKeyAlgorithm::Rsa2048 => Self::Rsa(Box::new(
                rsa::RsaPrivateKey::new(rng, 2048).map_err(|_| JweError::Encrypt("RSA keygen"))?,
            )),
        })
    }

    /// The public key as the JWK sent in `runtime-data.tee-pubkey`: exactly the members
    /// trustee keeps (`kty`, `crv`, `alg`, `x`, `y` / `kty`, `alg`, `n`, `e`).
    pub fn public_jwk(&self) -> Value {
        use rsa::traits::PublicKeyParts;
        match self {
            Self::P256(sk) => {
                ec_public_jwk(Curve::P256, "P-256", &Zeroizing::new(sk.to_bytes()), || {
                    p256::EncodedPoint::from(sk.public_key())
                        .as_bytes()
                        .to_vec()
                })
            }
            Self::P521(sk) => {
                ec_public_jwk(Curve::P521, "P-521", &Zeroizing::new(sk.to_bytes()), || {
                    p521::EncodedPoint::from(sk.public_key())
                        .as_bytes()
                        .to_vec()
                })
            }
            Self::Rsa(sk) => serde_json::json!({
                "kty": "RSA",
                "alg": ALG_RSA_OAEP_256,
                "n": b64(&sk.n().to_bytes_be()),
                "e": b64(&sk.e().to_bytes_be()),
            }),
        }
    }

    /// The private key as a JWK (for handing to another JOSE implementation, e.g. in
    /// interoperability tests). Zeroized on drop.
    pub fn private_jwk(&self) -> Zeroizing<String> {
        use rsa::traits::PrivateKeyParts;
        let mut jwk = self.public_jwk();
        let extra: Vec<(&str, String)> = match self {
            Self::P256(sk) => vec![("d", b64(&sk.to_bytes()))],
            Self::P521(sk) => vec![("d", b64(&sk.to_bytes()))],
            Self::Rsa(sk) => {
                let p = sk.primes();
                let (Some(p0), Some(p1)) = (p.first(), p.get(1)) else {
                    return Zeroizing::new(String::new());
                };
                let mut v = vec![
                    ("d", b64(&sk.d().to_bytes_be())),
                    ("p", b64(&p0.to_bytes_be())),
                    ("q", b64(&p1.to_bytes_be())),
                ];
                if let (Some(dp), Some(dq)) = (sk.dp(), sk.dq()) {
                    v.push(("dp", b64(&dp.to_bytes_be())));
                    v.push(("dq", b64(&dq.to_bytes_be())));
                }
                if let Some(qi) = sk.crt_coefficient() {
                    v.push(("qi", b64(&qi.to_bytes_be())));
                }
                v
            }
        };
        if let Some(o) = jwk.as_object_mut() {
            for (k, v) in extra {
                o.insert(k.into(), Value::String(v));
            }
        }
        Zeroizing::new(jwk.to_string())
    }

    /// The private key in PEM as guest-components' `TeeKeyPair::to_pem` writes it (what the
    /// attestation agent returns as `tee_keypair` from `/aa/token`): PKCS#8 for EC keys,
    /// PKCS#1 (`RSA PRIVATE KEY`) for RSA. Zeroized on drop.
    ///
    /// # Errors
    ///
    /// [`JweError::Encrypt`] when the encoding fails.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, JweError> {
        use p256::pkcs8::EncodePrivateKey;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let lf = p256::pkcs8::LineEnding::LF;
        match self {
            Self::P256(sk) => sk
                .to_pkcs8_pem(lf)
                .map_err(|_| JweError::Encrypt("PKCS#8 encoding of the P-256 key")),
            Self::P521(sk) => sk
                .to_pkcs8_pem(lf)
                .map_err(|_| JweError::Encrypt("PKCS#8 encoding of the P-521 key")),
            Self::Rsa(sk) => sk
                .to_pkcs1_pem(lf)
                .map_err(|_| JweError::Encrypt("PKCS#1 encoding of the RSA key")),
        }
    }

    /// Parses a key written by [`TeeKeyPair::to_pem`] (or by guest-components): RSA in
    /// PKCS#1, or P-256 / P-521 in PKCS#8.
    ///
    /// # Errors
    ///
    /// [`JweError::InvalidKey`] when `pem` is none of these forms.
    pub fn from_pem(pem: &str) -> Result<Self, JweError> {
        use p256::pkcs8::DecodePrivateKey;
        use rsa::pkcs1::DecodeRsaPrivateKey;
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs1_pem(pem) {
            return Ok(Self::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_pem(pem) {
            return Ok(Self::P256(k));
        }
        if let Ok(k) = p521::SecretKey::from_pkcs8_pem(pem) {
            return Ok(Self::P521(k));
        }
        Err(JweError::InvalidKey(
            "not an RSA (PKCS#1) or EC P-256/P-521 (PKCS#8) private key in PEM".into(),
        ))
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) | Self::P521(_) => ALG_ECDH_ES_A256KW,
            Self::Rsa(_) => ALG_RSA_OAEP_256,
        }
    }

    /// Decrypts a KBS JWE addressed to this key. Checks, in order: no `aad`; header is
    /// JSON with `enc` = `A256GCM` and the `alg` of this key; `epk` on the right curve;
    /// key unwrap; IV/tag lengths; the GCM tag over the received `protected` text.
    ///
    /// # Errors
    ///
    /// [`JweError::UnexpectedAad`], [`JweError::Header`], [`JweError::AlgMismatch`],
    /// [`JweError::Base64`], [`JweError::Length`] or [`JweError::Decrypt`] for the first check that
    /// fails.
    pub fn decrypt(&self, jwe: &JweMessage) -> Result<Zeroizing<Vec<u8>>, JweError> {
        self.decrypt_with(Backend::preferred(), jwe)
    }

    fn decrypt_with(
        &self,
        backend: Backend,
        jwe: &JweMessage,
    ) -> Result<Zeroizing<Vec<u8>>, JweError> {
        if jwe.aad.is_some() {
            return Err(JweError::UnexpectedAad);
        }
        let header_bytes = unb64("protected", &jwe.protected)?;
        let header: Value = serde_json::from_slice(&header_bytes)
            .map_err(|e| JweError::Header(format!("not JSON: {e}")))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| JweError::Header("alg missing".into()))?;
        let enc = header
            .get("enc")
            .and_then(Value::as_str)
            .ok_or_else(|| JweError::Header("enc missing".into()))?;
        if enc != ENC_A256GCM {
            return Err(JweError::Header(format!("enc {enc} is not A256GCM")));
        }
        if alg != self.alg() {
            return Err(JweError::AlgMismatch {
                expected: self.alg(),
                actual: alg.into(),
            });
        }
        let ek = unb64("encrypted_key", &jwe.encrypted_key)?;
        let cek = match self {
            Self::P256(sk) => {
                let epk = header_epk(&header, "P-256")?;
                let secret = Zeroizing::new(sk.to_bytes());
                let z = ecdh_es_z(backend, Curve::P256, &secret[..], &epk)?;
                unwrap_cek(&concat_kdf(&z), &ek)?
            }
            Self::P521(sk) => {
                let epk = header_epk(&header, "P-521")?;
                let secret = Zeroizing::new(sk.to_bytes());
                let z = ecdh_es_z(backend, Curve::P521, &secret[..], &epk)?;
                unwrap_cek(&concat_kdf(&z), &ek)?
            }
            Self::Rsa(sk) => rsa_oaep_256_decrypt(sk, &ek)?,
        };
        let iv = unb64("iv", &jwe.iv)?;
        let tag = unb64("tag", &jwe.tag)?;
        let ciphertext = Zeroizing::new(unb64("ciphertext", &jwe.ciphertext)?);
        a256gcm_open(&cek, &iv, jwe.protected.as_bytes(), ciphertext, &tag)
    }
}

/// The ECDH-ES shared secret `Z` of a private scalar (big-endian) with the sender's `epk`
/// (the header's JWK, validated here by [`RecipientKey::from_jwk`]: exact coordinate lengths,
/// point on the curve).
fn ecdh_es_z(
    backend: Backend,
    curve: Curve,
    secret: &[u8],
    epk: &Value,
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let peer = match (curve, RecipientKey::from_jwk(epk)?) {
        (Curve::P256, RecipientKey::P256(pk)) => p256::EncodedPoint::from(pk).as_bytes().to_vec(),
        (Curve::P521, RecipientKey::P521(pk)) => p521::EncodedPoint::from(pk).as_bytes().to_vec(),
        (Curve::P256, _) => return Err(JweError::Header("epk is not P-256".into())),
        (Curve::P521, _) => return Err(JweError::Header("epk is not P-521".into())),
    };
    ecdh::agree(backend, curve, secret, &peer)
}

/// `RSA-OAEP-256` (SHA-256, MGF1-SHA-256, empty label) decryption of the wrapped CEK, blinded.
fn rsa_oaep_256_decrypt(
    sk: &rsa::RsaPrivateKey,
    ek: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    sk.decrypt_blinded(&mut rand_core::OsRng, rsa::Oaep::new::<Sha256>(), ek)
        .map(Zeroizing::new)
        .map_err(|_| JweError::Decrypt("RSA-OAEP"))
}

/// `A256GCM` content encryption: 256-bit `cek`, 96-bit `iv`, 128-bit tag (RFC 7518 §5.3).
/// Returns the ciphertext and the tag.
fn a256gcm_seal(
    cek: &[u8],
    iv: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; 16]), JweError> {
    let mut buf = plaintext.to_vec();
    let cipher = Aes256Gcm::new_from_slice(cek).map_err(|_| JweError::Encrypt("AES-GCM key"))?;
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(iv), aad, &mut buf)
        .map_err(|_| JweError::Encrypt("AES-GCM"))?;
    Ok((buf, tag.into()))
}

/// `A256GCM` content decryption; the lengths of `cek` (32), `iv` (12) and `tag` (16) are
/// checked first, then the tag over `aad` and the ciphertext.
fn a256gcm_open(
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: Zeroizing<Vec<u8>>,
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    for (field, expected, actual) in [
        ("cek", 32, cek.len()),
        ("iv", 12, iv.len()),
        ("tag", 16, tag.len()),
    ] {
        if actual != expected {
            return Err(JweError::Length {
                field,
                expected,
                actual,
            });
        }
    }
    let mut buf = ciphertext;
    let cipher = Aes256Gcm::new_from_slice(cek).map_err(|_| JweError::Decrypt("AES-GCM key"))?;
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(iv),
            aad,
            &mut buf,
            aes_gcm::Tag::from_slice(tag),
        )
        .map_err(|_| JweError::Decrypt("AES-GCM tag"))?;
    Ok(buf)
}

/// The public JWK of an EC private scalar: its point from the preferred ECDH backend, or from
/// `fallback` (the RustCrypto computation) should that backend refuse the scalar.
fn ec_public_jwk(
    curve: Curve,
    crv: &str,
    secret: &[u8],
    fallback: impl FnOnce() -> Vec<u8>,
) -> Value {
    let p = ecdh::public_point(Backend::preferred(), curve, secret).unwrap_or_else(|_| fallback());
    let (x, y) = ecdh::xy(&p);
    ec_jwk(crv, Some(x), Some(y))
}

fn ec_jwk(crv: &str, x: Option<&[u8]>, y: Option<&[u8]>) -> Value {
    serde_json::json!({
        "kty": "EC",
        "crv": crv,
        "alg": ALG_ECDH_ES_A256KW,
        "x": b64(x.unwrap_or_default()),
        "y": b64(y.unwrap_or_default()),
    })
}

/// The header's `epk` as a recipient-style JWK (adds `alg` so [`RecipientKey::from_jwk`] applies).
fn header_epk(header: &Value, crv: &str) -> Result<Value, JweError> {
    let epk = header
        .get("epk")
        .and_then(Value::as_object)
        .ok_or_else(|| JweError::Header("epk missing".into()))?;
    if epk.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(JweError::Header("epk kty is not EC".into()));
    }
    if epk.get("crv").and_then(Value::as_str) != Some(crv) {
        return Err(JweError::Header(format!("epk crv is not {crv}")));
    }
    let mut v = Value::Object(epk.clone());
    if let Some(o) = v.as_object_mut() {
        o.insert("alg".into(), Value::String(ALG_ECDH_ES_A256KW.into()));
    }
    Ok(v)
}

#[cfg(test)]
mod wycheproof_vectors;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn roundtrip(alg: TeeKeyAlgorithm) {
        let kp = TeeKeyPair::generate(alg, &mut OsRng).unwrap();
        let rk = RecipientKey::from_jwk(&kp.public_jwk()).unwrap();
        let msg = rk.encrypt(b"top secret", &mut OsRng).unwrap();
        assert_eq!(&kp.decrypt(&msg).unwrap()[..], b"top secret");
        // Tampered ciphertext fails the tag.
        let mut bad = msg.clone();
        let mut ct = unb64("ciphertext", &bad.ciphertext).unwrap();
        ct[0] ^= 1;
        bad.ciphertext = b64(&ct);
        assert_eq!(kp.decrypt(&bad), Err(JweError::Decrypt("AES-GCM tag")));
        // Another key cannot decrypt.
        let other = TeeKeyPair::generate(alg, &mut OsRng).unwrap();
        assert!(other.decrypt(&msg).is_err());
        // The PEM form (what `/aa/token` hands out as `tee_keypair`) is the same key.
        let pem = kp.to_pem().unwrap();
        let header = if alg == TeeKeyAlgorithm::Rsa2048 {
            "-----BEGIN RSA PRIVATE KEY-----"
        } else {
            "-----BEGIN PRIVATE KEY-----"
        };
        assert!(pem.starts_with(header), "{alg:?}");
        let again = TeeKeyPair::from_pem(&pem).unwrap();
        assert_eq!(again.public_jwk(), kp.public_jwk());
        assert_eq!(&again.decrypt(&msg).unwrap()[..], b"top secret");
        assert!(TeeKeyPair::from_pem("-----BEGIN PRIVATE KEY-----\n").is_err());
    }

    /// Every backend decrypts what every backend encrypted (the same bytes either way).
    #[test]
    fn backends_interoperate() {
        let backends = [
            Backend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc,
        ];
        for alg in [TeeKeyAlgorithm::EcP256, TeeKeyAlgorithm::EcP521] {
            let kp = TeeKeyPair::generate(alg, &mut OsRng).unwrap();
            let rk = RecipientKey::from_jwk(&kp.public_jwk()).unwrap();
            for enc in backends {
                let msg = rk.encrypt_with(enc, b"cross", &mut OsRng).unwrap();
                for dec in backends {
                    assert_eq!(
                        &kp.decrypt_with(dec, &msg).unwrap()[..],
                        b"cross",
                        "{alg:?}: {enc:?} -> {dec:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn p256_roundtrip() {
        roundtrip(TeeKeyAlgorithm::EcP256);
    }
    #[test]
    fn p521_roundtrip() {
        roundtrip(TeeKeyAlgorithm::EcP521);
    }
    #[test]
    fn rsa_roundtrip() {
        roundtrip(TeeKeyAlgorithm::Rsa2048);
    }

    #[test]
    fn header_is_canonical() {
        let kp = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256, &mut OsRng).unwrap();
        let rk = RecipientKey::from_jwk(&kp.public_jwk()).unwrap();
        let msg = rk.encrypt(b"x", &mut OsRng).unwrap();
        let h = String::from_utf8(unb64("protected", &msg.protected).unwrap()).unwrap();
        assert!(h.starts_with(
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":""#
        ));
        // kbs-types re-serialises the same header to the same string (guest-components AAD).
        let parsed: kbs_types::ProtectedHeader = serde_json::from_str(&h).unwrap();
        assert_eq!(
            parsed.generate_aad().unwrap(),
            msg.protected.as_bytes().to_vec()
        );
        assert_eq!(
            unb64("encrypted_key", &msg.encrypted_key).unwrap().len(),
            40
        );
    }

    #[test]
    fn concat_kdf_rfc7518_appendix_c_shape() {
        // Deterministic: same Z gives same KEK, different Z different KEK.
        assert_eq!(*concat_kdf(&[1u8; 32]), *concat_kdf(&[1u8; 32]));
        assert_ne!(*concat_kdf(&[1u8; 32]), *concat_kdf(&[2u8; 32]));
    }

    #[test]
    fn rejects_bad_keys() {
        let off_curve = serde_json::json!({"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW",
            "x": b64(&[1u8;32]), "y": b64(&[1u8;32])});
        assert!(matches!(
            RecipientKey::from_jwk(&off_curve),
            Err(JweError::InvalidKey(_))
        ));
        let wrong_alg = serde_json::json!({"kty":"EC","crv":"P-256","alg":"ECDH-ES","x":"","y":""});
        assert!(matches!(
            RecipientKey::from_jwk(&wrong_alg),
            Err(JweError::UnsupportedKey { .. })
        ));
        let small_rsa = serde_json::json!({"kty":"RSA","alg":"RSA-OAEP-256","n": b64(&[0xffu8; 128]), "e":"AQAB"});
        assert!(matches!(
            RecipientKey::from_jwk(&small_rsa),
            Err(JweError::InvalidKey(_))
        ));
        let aad = JweMessage {
            protected: String::new(),
            encrypted_key: String::new(),
            aad: Some("x".into()),
            iv: String::new(),
            ciphertext: String::new(),
            tag: String::new(),
        };
        let kp = TeeKeyPair::generate(TeeKeyAlgorithm::EcP256, &mut OsRng).unwrap();
        assert_eq!(kp.decrypt(&aad), Err(JweError::UnexpectedAad));
    }
}
