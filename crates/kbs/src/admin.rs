//! Admin authentication: compact JWTs signed with Ed25519 (`EdDSA`) or P-256 (`ES256`)
//! by a key whose public half is in the broker configuration.
//!
//! Verification, in order: three base64url parts; header JSON with `alg` `EdDSA` or
//! `ES256` (nothing else, never `none`); a configured key of that algorithm (the one named
//! by `kid` if present) verifies the signature over the received `header.payload` bytes;
//! payload JSON with `role` = `"admin"`, numeric `exp` in the future, `iat` not in the
//! future (60 s leeway), `exp - iat` within the configured maximum lifetime, and — when
//! configured — `iss` equal to the expected issuer and `aud` (a string or an array) containing
//! the expected audience.
//!
//! Minted tokens carry `iss` (default [`DEFAULT_ADMIN_ISSUER`]) and, when asked, `aud`, so a
//! trustee KBS whose `[admin]` identity provider names an `issuer` / `audience` accepts them
//! too (trustee's `bearer_jwt` checks both after the signature).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer as _;
use ed25519_dalek::Verifier as _;
use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

/// Leeway for clock skew on `iat`/`exp`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// The `iss` of admin JWTs minted without an explicit issuer.
pub const DEFAULT_ADMIN_ISSUER: &str = "remits-admin";

/// The registered claims an admin JWT carries besides `role`, `iat` and `exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct AdminClaims {
    /// `iss`.
    pub issuer: String,
    /// `aud` (omitted when `None`).
    pub audience: Option<String>,
}

impl Default for AdminClaims {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ADMIN_ISSUER.into(),
            audience: None,
        }
    }
}

/// Admin-auth errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminError {
    /// A key file is not an Ed25519 or P-256 key in PEM.
    #[error("admin key {name}: {reason}")]
    Key {
        /// Key name or path.
        name: String,
        /// Why.
        reason: String,
    },
    /// No admin keys are configured: the admin API is disabled.
    #[error("admin API disabled: no admin public keys configured")]
    Disabled,
    /// No `Authorization: Bearer` header.
    #[error("missing Authorization: Bearer <admin JWT>")]
    Missing,
    /// The JWT is malformed.
    #[error("malformed admin JWT: {0}")]
    Malformed(&'static str),
    /// The algorithm is not EdDSA or ES256, or no configured key has it.
    #[error("admin JWT alg {0:?} not accepted")]
    Alg(String),
    /// No configured key verifies the signature.
    #[error("admin JWT signature not valid for any configured key")]
    Signature,
    /// A claim check failed.
    #[error("admin JWT claim {claim}: {reason}")]
    Claim {
        /// Claim name.
        claim: &'static str,
        /// Why.
        reason: String,
    },
}

/// A configured admin public key, parsed once at start-up.
#[derive(Clone, Debug)]
pub enum AdminPublicKey {
    /// Ed25519 (JWT alg `EdDSA`).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// P-256 (JWT alg `ES256`).
    Es256(p256::ecdsa::VerifyingKey),
}

impl AdminPublicKey {
    /// Parses a PEM SubjectPublicKeyInfo (Ed25519 or P-256).
    ///
    /// # Errors
    ///
    /// [`AdminError::Key`] when `pem` is not an Ed25519 or P-256 SubjectPublicKeyInfo.
    pub fn from_pem(name: &str, pem: &str) -> Result<Self, AdminError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Ok(Self::Ed25519(k));
        }
        if let Ok(k) = p256::PublicKey::from_public_key_pem(pem) {
            return Ok(Self::Es256(k.into()));
        }
        Err(AdminError::Key {
            name: name.into(),
            reason: "not an Ed25519 or P-256 public key in PEM (SubjectPublicKeyInfo)".into(),
        })
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "EdDSA",
            Self::Es256(_) => "ES256",
        }
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .map(|s| k.verify_strict(msg, &s).is_ok())
                .unwrap_or(false),
            Self::Es256(k) => p256::ecdsa::Signature::from_slice(sig)
                .map(|s| k.verify(msg, &s).is_ok())
                .unwrap_or(false),
        }
    }
}

/// A named admin key.
#[derive(Clone, Debug)]
pub struct NamedKey {
    /// Name (matched against the JWT `kid` when present; used in audit logs).
    pub name: String,
    /// The key.
    pub key: AdminPublicKey,
}

/// Verifies admin JWTs against the configured keys.
#[derive(Clone, Debug)]
pub struct AdminVerifier {
    keys: Vec<NamedKey>,
    max_lifetime: Duration,
    issuer: Option<String>,
    audience: Option<String>,
}

impl AdminVerifier {
    /// A verifier over `keys`; an empty list disables the admin API.
    pub fn new(keys: Vec<NamedKey>, max_lifetime: Duration) -> Self {
        Self {
            keys,
            max_lifetime,
            issuer: None,
            audience: None,
        }
    }

    /// Also require `iss` = `issuer` and/or an `aud` containing `audience` (each when given).
    pub fn with_expected(mut self, issuer: Option<String>, audience: Option<String>) -> Self {
        self.issuer = issuer;
        self.audience = audience;
        self
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Verifies `Authorization` header value (`Bearer <jwt>`); returns the key name.
    ///
    /// # Errors
    ///
    /// [`AdminError::Disabled`] when no admin key is configured, [`AdminError::Missing`] without
    /// bearer credentials, [`AdminError::Malformed`] or [`AdminError::Alg`] for a token that is not
    /// a compact EdDSA/ES256 JWT, [`AdminError::Signature`] when no configured key verifies it,
    /// [`AdminError::Claim`] when `exp`, `iat` or `nbf` refuse it at `now`.
    #[must_use = "the verified admin identity"]
    pub fn verify(&self, authorization: Option<&str>, now: SystemTime) -> Result<&str, AdminError> {
        if self.keys.is_empty() {
            return Err(AdminError::Disabled);
        }
        let jwt = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(AdminError::Missing)?
            .trim();
        let mut parts = jwt.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AdminError::Malformed("expected header.payload.signature"));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(h64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AdminError::Malformed("header is not base64url JSON"))?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "EdDSA" && alg != "ES256" {
            return Err(AdminError::Alg(alg.chars().take(16).collect()));
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let sig = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| AdminError::Malformed("signature is not base64url"))?;
        let signed = jwt
            .as_bytes()
            .get(..h64.len() + 1 + p64.len())
            .ok_or(AdminError::Malformed("not three dot-separated parts"))?;
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.key.alg() == alg && kid.is_none_or(|kid| kid == k.name))
            .peekable();
        if candidates.peek().is_none() {
            return Err(AdminError::Alg(alg.into()));
        }
        let key = candidates
            .find(|k| k.key.verify(signed, &sig))
            .ok_or(AdminError::Signature)?;
        let payload: Value = URL_SAFE_NO_PAD
            .decode(p64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(AdminError::Malformed("payload is not base64url JSON"))?;
        if payload.get("role").and_then(Value::as_str) != Some("admin") {
            return Err(AdminError::Claim {
                claim: "role",
                reason: "must be \"admin\"".into(),
            });
        }
        let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let exp = payload
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(AdminError::Claim {
                claim: "exp",
                reason: "missing or not an integer".into(),
            })?;
        if exp + LEEWAY.as_secs() <= now_s {
            return Err(AdminError::Claim {
                claim: "exp",
                reason: format!("expired at {exp}, now {now_s}"),
            });
        }
        let iat = payload.get("iat").and_then(Value::as_u64).unwrap_or(now_s);
        if iat > now_s + LEEWAY.as_secs() {
            return Err(AdminError::Claim {
                claim: "iat",
                reason: format!("issued in the future ({iat} > {now_s})"),
            });
        }
        if let Some(want) = &self.issuer {
            if payload.get("iss").and_then(Value::as_str) != Some(want.as_str()) {
                return Err(AdminError::Claim {
                    claim: "iss",
                    reason: format!("must be {want:?}"),
                });
            }
        }
        if let Some(want) = &self.audience {
            if !audiences(&payload).contains(&want.as_str()) {
                return Err(AdminError::Claim {
                    claim: "aud",
                    reason: format!("must contain {want:?}"),
                });
            }
        }
        if exp.saturating_sub(iat.min(now_s)) > self.max_lifetime.as_secs() {
            return Err(AdminError::Claim {
                claim: "exp",
                reason: format!(
                    "lifetime exceeds the configured maximum of {} s",
                    self.max_lifetime.as_secs()
                ),
            });
        }
        Ok(&key.name)
    }
}

/// The `aud` claim as a list (a string is one audience), as trustee reads it.
fn audiences(payload: &Value) -> Vec<&str> {
    match payload.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// An admin private key used by the CLI to mint admin JWTs.
pub enum AdminSigningKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// P-256.
    Es256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for AdminSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSigningKey(redacted)")
    }
}

impl AdminSigningKey {
    /// Generates an Ed25519 key.
    pub fn generate_ed25519<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::Ed25519(ed25519_dalek::SigningKey::generate(rng))
    }

    /// Generates a P-256 key (JWT alg `ES256`): what `remits-broker keygen admin` writes.
    pub fn generate_p256<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::Es256(p256::ecdsa::SigningKey::random(rng))
    }

    /// Parses a PKCS#8 PEM private key (Ed25519 or P-256).
    ///
    /// # Errors
    ///
    /// [`AdminError::Key`] when `pem` is not an Ed25519 or P-256 PKCS#8 key.
    pub fn from_pem(pem: &str) -> Result<Self, AdminError> {
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Ed25519(k));
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::Es256(k));
        }
        Err(AdminError::Key {
            name: "private key".into(),
            reason: "not an Ed25519 or P-256 PKCS#8 PEM private key".into(),
        })
    }

    /// PKCS#8 PEM of the private key (zeroized on drop). Ed25519 keys are written as
    /// PKCS#8 v1 (RFC 8410 `OneAsymmetricKey` version 0, without the optional public key),
    /// the form OpenSSL 3.0 and Python's `cryptography` load; ed25519-dalek's own encoder
    /// writes v2.
    ///
    /// # Errors
    ///
    /// [`AdminError::Key`] when the encoding fails.
    pub fn to_pem(&self) -> Result<zeroize::Zeroizing<String>, AdminError> {
        let r = match self {
            Self::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: k.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(Default::default()),
            Self::Es256(k) => k.to_pkcs8_pem(Default::default()),
        };
        r.map_err(|e| AdminError::Key {
            name: "private key".into(),
            reason: e.to_string(),
        })
    }

    /// SPKI PEM of the public key (what goes into the broker configuration).
    ///
    /// # Errors
    ///
    /// [`AdminError::Key`] when the encoding fails.
    pub fn public_pem(&self) -> Result<String, AdminError> {
        let r = match self {
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(Default::default()),
            Self::Es256(k) => k.verifying_key().to_public_key_pem(Default::default()),
        };
        r.map_err(|e| AdminError::Key {
            name: "public key".into(),
            reason: e.to_string(),
        })
    }

    /// The public half.
    pub fn public_key(&self) -> AdminPublicKey {
        match self {
            Self::Ed25519(k) => AdminPublicKey::Ed25519(k.verifying_key()),
            Self::Es256(k) => AdminPublicKey::Es256(*k.verifying_key()),
        }
    }

    /// Mints an admin JWT (`role: admin`, `iss` [`DEFAULT_ADMIN_ISSUER`]) valid from `now`
    /// for `ttl`.
    pub fn mint(&self, now: SystemTime, ttl: Duration) -> String {
        self.mint_with(now, ttl, &AdminClaims::default())
    }

    /// Mints an admin JWT (`role: admin`, `iss` and `aud` from `claims`) valid from `now` for
    /// `ttl`.
    pub fn mint_with(&self, now: SystemTime, ttl: Duration, claims: &AdminClaims) -> String {
        let alg = match self {
            Self::Ed25519(_) => "EdDSA",
            Self::Es256(_) => "ES256",
        };
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let mut body = serde_json::json!({
            "role": "admin",
            "iss": claims.issuer,
            "iat": iat,
            "exp": iat + ttl.as_secs(),
        });
        if let (Some(aud), Some(o)) = (&claims.audience, body.as_object_mut()) {
            o.insert("aud".into(), Value::String(aud.clone()));
        }
        let payload = URL_SAFE_NO_PAD.encode(body.to_string());
        let signing_input = format!("{header}.{payload}");
        let sig = match self {
            Self::Ed25519(k) => k.sign(signing_input.as_bytes()).to_bytes().to_vec(),
            Self::Es256(k) => {
                let s: p256::ecdsa::Signature = k.sign(signing_input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn ed25519_and_es256() {
        for key in [
            AdminSigningKey::generate_ed25519(&mut OsRng),
            AdminSigningKey::generate_p256(&mut OsRng),
        ] {
            let pem = key.public_pem().unwrap();
            let v = AdminVerifier::new(
                vec![NamedKey {
                    name: "ops".into(),
                    key: AdminPublicKey::from_pem("ops", &pem).unwrap(),
                }],
                Duration::from_secs(3600),
            );
            let jwt = key.mint(now(), Duration::from_secs(300));
            assert_eq!(v.verify(Some(&format!("Bearer {jwt}")), now()), Ok("ops"));
            // Expired.
            let late = now() + Duration::from_secs(1000);
            assert!(matches!(
                v.verify(Some(&format!("Bearer {jwt}")), late),
                Err(AdminError::Claim { claim: "exp", .. })
            ));
            // Too long-lived.
            let long = key.mint(now(), Duration::from_secs(7200));
            assert!(v.verify(Some(&format!("Bearer {long}")), now()).is_err());
            // Tampered payload.
            let mut parts: Vec<&str> = jwt.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(r#"{"role":"admin","exp":99999999999}"#);
            parts[1] = &forged;
            assert_eq!(
                v.verify(Some(&format!("Bearer {}", parts.join("."))), now()),
                Err(AdminError::Signature)
            );
            // Round trip of the private key.
            let again = AdminSigningKey::from_pem(&key.to_pem().unwrap()).unwrap();
            assert!(v
                .verify(
                    Some(&format!(
                        "Bearer {}",
                        again.mint(now(), Duration::from_secs(60))
                    )),
                    now()
                )
                .is_ok());
        }
    }

    /// trustee's admin check (kbs `admin/authentication/bearer_jwt.rs` over `crypto/jwt.rs`),
    /// re-implemented independently of [`AdminVerifier`] with jsonwebtoken's rules:
    /// `Validation::new(header.alg)` (the key decides the algorithm, `exp` required and
    /// checked with 60 s leeway, `aud` not validated by jsonwebtoken), then the identity
    /// provider's `issuer` must equal `iss`, its `audience` must be among `aud` (string or
    /// array), and a string `role` must be present.
    fn trustee_accepts(
        jwt: &str,
        key: &AdminPublicKey,
        issuer: Option<&str>,
        audience: Option<&str>,
        now: SystemTime,
    ) -> Result<(), String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 {
            return Err("InvalidToken".into());
        }
        let dec = |p: &str| -> Result<Value, String> {
            let b = URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string())?;
            serde_json::from_slice(&b).map_err(|e| e.to_string())
        };
        let header = dec(parts[0])?;
        let alg = header["alg"].as_str().unwrap_or_default();
        let signed = format!("{}.{}", parts[0], parts[1]);
        let sig = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|e| e.to_string())?;
        let ok = match (alg, key) {
            ("EdDSA", AdminPublicKey::Ed25519(k)) => ed25519_dalek::Signature::from_slice(&sig)
                .is_ok_and(|s| k.verify(signed.as_bytes(), &s).is_ok()),
            ("ES256", AdminPublicKey::Es256(k)) => p256::ecdsa::Signature::from_slice(&sig)
                .is_ok_and(|s| k.verify(signed.as_bytes(), &s).is_ok()),
            _ => return Err(format!("InvalidAlgorithm {alg}")),
        };
        if !ok {
            return Err("InvalidSignature".into());
        }
        let claims = dec(parts[1])?;
        let now_s = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        match claims.get("exp").and_then(Value::as_u64) {
            Some(exp) if exp + 60 >= now_s => {}
            Some(_) => return Err("ExpiredSignature".into()),
            None => return Err("MissingRequiredClaim exp".into()),
        }
        if let Some(want) = issuer {
            if claims
                .get("iss")
                .and_then(Value::as_str)
                .unwrap_or_default()
                != want
            {
                return Err("issuer mismatch".into());
            }
        }
        if let Some(want) = audience {
            let auds: Vec<&str> = match claims.get("aud") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(v)) => v.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !auds.contains(&want) {
                return Err("audience mismatch".into());
            }
        }
        claims
            .get("role")
            .and_then(Value::as_str)
            .map(drop)
            .ok_or_else(|| "Missing required `role` claim in JWT".into())
    }

    #[test]
    fn remits_admin_jwts_pass_a_trustee_issuer_check() {
        for key in [
            AdminSigningKey::generate_ed25519(&mut OsRng),
            AdminSigningKey::generate_p256(&mut OsRng),
        ] {
            let pk = key.public_key();
            let ttl = Duration::from_secs(300);
            // Default claims: iss = remits-admin, no aud.
            let jwt = key.mint(now(), ttl);
            assert_eq!(
                trustee_accepts(&jwt, &pk, Some(DEFAULT_ADMIN_ISSUER), None, now()),
                Ok(())
            );
            assert_eq!(
                trustee_accepts(&jwt, &pk, Some("someone-else"), None, now()),
                Err("issuer mismatch".into())
            );
            assert_eq!(
                trustee_accepts(&jwt, &pk, None, Some("kbs"), now()),
                Err("audience mismatch".into())
            );
            // Configured issuer and audience, as trustee's identity provider names them.
            let claims = AdminClaims {
                issuer: "ops-idp".into(),
                audience: Some("trustee-kbs".into()),
            };
            let jwt = key.mint_with(now(), ttl, &claims);
            assert_eq!(
                trustee_accepts(&jwt, &pk, Some("ops-idp"), Some("trustee-kbs"), now()),
                Ok(())
            );
            let late = now() + Duration::from_secs(300 + 61);
            assert_eq!(
                trustee_accepts(&jwt, &pk, Some("ops-idp"), Some("trustee-kbs"), late),
                Err("ExpiredSignature".into())
            );
            // remits' own verifier applies the same checks when configured.
            let v = AdminVerifier::new(
                vec![NamedKey {
                    name: "ops".into(),
                    key: pk.clone(),
                }],
                Duration::from_secs(3600),
            )
            .with_expected(Some("ops-idp".into()), Some("trustee-kbs".into()));
            assert_eq!(v.verify(Some(&format!("Bearer {jwt}")), now()), Ok("ops"));
            let plain = key.mint(now(), ttl);
            assert!(matches!(
                v.verify(Some(&format!("Bearer {plain}")), now()),
                Err(AdminError::Claim { claim: "iss", .. })
            ));
            let other_aud = key.mint_with(
                now(),
                ttl,
                &AdminClaims {
                    issuer: "ops-idp".into(),
                    audience: Some("elsewhere".into()),
                },
            );
            assert!(matches!(
                v.verify(Some(&format!("Bearer {other_aud}")), now()),
                Err(AdminError::Claim { claim: "aud", .. })
            ));
        }
    }

    /// The Ed25519 key is written as PKCS#8 v1 (version 0, no public key): OpenSSL 3.0 and
    /// Python's `cryptography` load it (checked with both when they are installed).
    #[test]
    fn ed25519_key_is_pkcs8_v1_and_loads_in_openssl_and_python() {
        use base64::engine::general_purpose::STANDARD;
        let key = AdminSigningKey::generate_ed25519(&mut OsRng);
        let pem = key.to_pem().unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64).unwrap();
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
        assert_eq!(der.len(), 48, "v1 Ed25519 PKCS#8 is 48 bytes");
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00]);
        let again = AdminSigningKey::from_pem(&pem).unwrap();
        assert_eq!(again.public_pem().unwrap(), key.public_pem().unwrap());

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("admin-key.pem");
        std::fs::write(&f, pem.as_bytes()).unwrap();
        match std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&f)
            .output()
        {
            Ok(out) => {
                assert!(out.status.success(), "openssl pkey: {out:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim(),
                    key.public_pem().unwrap().trim()
                );
            }
            Err(e) => println!("SKIPPED openssl: {e}"),
        }
        let py = "import sys\nfrom cryptography.hazmat.primitives import serialization as s\n\
                  k = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n\
                  print(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode())";
        match std::process::Command::new("python3")
            .args(["-c", py])
            .arg(&f)
            .output()
        {
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
                println!("SKIPPED python cryptography: not installed")
            }
            Ok(out) => {
                assert!(out.status.success(), "python cryptography: {out:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout).trim(),
                    key.public_pem().unwrap().trim()
                );
            }
            Err(e) => println!("SKIPPED python3: {e}"),
        }
    }

    #[test]
    fn disabled_and_none() {
        let v = AdminVerifier::new(vec![], Duration::from_secs(60));
        assert_eq!(
            v.verify(Some("Bearer x.y.z"), now()),
            Err(AdminError::Disabled)
        );
        let key = AdminSigningKey::generate_ed25519(&mut OsRng);
        let v = AdminVerifier::new(
            vec![NamedKey {
                name: "k".into(),
                key: key.public_key(),
            }],
            Duration::from_secs(60),
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"role":"admin","exp":99999999999}"#)
        );
        assert!(matches!(
            v.verify(Some(&format!("Bearer {none}")), now()),
            Err(AdminError::Alg(_))
        ));
        assert_eq!(v.verify(None, now()), Err(AdminError::Missing));
    }
}
