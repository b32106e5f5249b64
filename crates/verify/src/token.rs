//! EAR attestation-result tokens (draft-ietf-rats-ear, trustee's profile): ES256 JWTs.
//!
//! Signing and verification are written directly on ECDSA P-256 (RustCrypto `p256`, or
//! aws-lc-rs with the crate feature `aws-lc`; see the private `es256` module): the token format
//! is fixed (one algorithm, one key), so a general JOSE library would only add ways to accept
//! something else. The verifier pins the algorithm (`ES256` only; `none`, `HS256`, ... are
//! refused before any other work), the issuer key (the header's `jwk` is never trusted), the
//! issuer name, and expiry (`exp` required, `iat` not in the future beyond a small skew).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};

use crate::Error;

mod es256;
use es256::{Backend, Es256Signer, Es256Verifier};

/// `eat_profile` of trustee's EAR tokens (kept so trustee-compatible consumers accept them).
pub const EAT_PROFILE: &str = "tag:github.com,2024:confidential-containers/Trustee";
/// Largest token accepted by the verifier (bytes).
pub const MAX_TOKEN_LEN: usize = 256 * 1024;
/// Allowed clock skew for `iat` (seconds).
pub const IAT_SKEW_SECS: u64 = 60;

fn tok(msg: impl Into<String>) -> Error {
    Error::Token(msg.into())
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The public key as a JWK (`{"kty":"EC","crv":"P-256","x","y"}`).
pub fn public_jwk(key: &VerifyingKey) -> Value {
    let p = key.to_encoded_point(false);
    let x = p.x().map(|x| B64.encode(x)).unwrap_or_default();
    let y = p.y().map(|y| B64.encode(y)).unwrap_or_default();
    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "alg": "ES256"})
}

/// The P-256 public key of a JWK as [`public_jwk`] writes it (`kty` EC, `crv` P-256, `x`, `y`
/// base64url). Token consumers use it with [`TokenVerifier::new`].
///
/// # Errors
///
/// [`Error::Token`] when the JWK is not a P-256 EC key with base64url `x` and `y`.
pub fn verifying_key_from_jwk(jwk: &Value) -> Result<VerifyingKey, Error> {
    let field = |name: &str| -> Result<Vec<u8>, Error> {
        let s = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| tok(format!("jwk.{name}: missing or not a string")))?;
        B64.decode(s)
            .map_err(|_| tok(format!("jwk.{name}: not base64url")))
            .and_then(|b| {
                if b.len() == 32 {
                    Ok(b)
                } else {
                    Err(tok(format!("jwk.{name}: {} bytes, expected 32", b.len())))
                }
            })
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("EC")
        || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
    {
        return Err(tok("jwk: not an EC P-256 key"));
    }
    let (x, y) = (field("x")?, field("y")?);
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(4u8);
    sec1.extend(x);
    sec1.extend(y);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| tok("jwk: not a point on P-256"))
}

/// Signs EAR tokens.
#[derive(Clone)]
pub struct TokenSigner {
    key: Es256Signer,
    /// The base64url protected header, the same for every token of this key.
    header_b64: String,
    issuer: String,
    ttl: Duration,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer with a P-256 key, issuer name and token lifetime.
    ///
    /// With the `aws-lc` feature the key is prepared for aws-lc-rs here.
    pub fn new(key: SigningKey, issuer: impl Into<String>, ttl: Duration) -> Self {
        let header = json!({"alg": "ES256", "typ": "JWT", "jwk": public_jwk(key.verifying_key())});
        let header_b64 = B64.encode(header.to_string());
        let key = Es256Signer::new(key, Backend::preferred());
        TokenSigner {
            key,
            header_b64,
            issuer: issuer.into(),
            ttl,
        }
    }

    /// The public half, for [`TokenVerifier`].
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }

    /// Issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Sign `claims` (the caller's `submods` etc.) after adding `iat`, `exp`, `iss`,
    /// `eat_profile`. Header: `{"alg":"ES256","typ":"JWT","jwk":<public key>}`.
    ///
    /// # Errors
    ///
    /// [`Error::Internal`] when the claims cannot be encoded or signing fails.
    pub fn sign(&self, claims: Map<String, Value>, now: SystemTime) -> Result<String, Error> {
        self.sign_with_claims(claims, now).map(|(token, _)| token)
    }

    /// Like [`TokenSigner::sign`], also returning the exact claims that were signed (with
    /// `iat`, `exp`, `iss`, `eat_profile`), so an in-process caller needs no verify round trip
    /// to learn them.
    ///
    /// # Errors
    ///
    /// As [`TokenSigner::sign`].
    pub fn sign_with_claims(
        &self,
        mut claims: Map<String, Value>,
        now: SystemTime,
    ) -> Result<(String, Value), Error> {
        let iat = unix(now);
        claims.insert("eat_profile".into(), json!(EAT_PROFILE));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(iat.saturating_add(self.ttl.as_secs())));
        claims.insert("iss".into(), json!(self.issuer));
        let claims = Value::Object(claims);
        let p = serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.to_string()))?;
        let mut token = String::with_capacity(self.header_b64.len() + p.len() * 4 / 3 + 100);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(p, &mut token);
        let sig = self.key.sign(token.as_bytes()).map_err(Error::Internal)?;
        token.push('.');
        B64.encode_string(sig, &mut token);
        Ok((token, claims))
    }
}

/// Verifies EAR tokens against one pinned key and issuer.
#[derive(Clone)]
pub struct TokenVerifier {
    key: Es256Verifier,
    issuer: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("key", self.key.key())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenVerifier {
    /// Trust exactly this key and issuer.
    pub fn new(key: VerifyingKey, issuer: impl Into<String>) -> Self {
        let key = Es256Verifier::new(key, Backend::preferred());
        TokenVerifier {
            key,
            issuer: issuer.into(),
        }
    }

    /// Verify `token` at `now`; returns the claims.
    ///
    /// Checks, in order: size; three base64url parts; header is JSON with `alg == "ES256"` and no
    /// `crit`; the signature (64-byte r||s) verifies under the pinned key over the received
    /// `header.payload` text; payload is a JSON object; `iss` equals the pinned issuer; `exp` is a
    /// number after `now`; `iat` is a number not after `now + 60 s`; `eat_profile` is trustee's.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] naming the first check that failed.
    #[must_use = "the verified claims are the only trusted view of the token"]
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Value, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(tok(format!("longer than {MAX_TOKEN_LEN} bytes")));
        }
        let mut parts = token.split('.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s), None) => (h, p, s),
            _ => return Err(tok("not a compact JWS (three dot-separated parts)")),
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| tok("header is not base64url JSON"))?;
        match header.get("alg").and_then(Value::as_str) {
            Some("ES256") => {}
            other => return Err(tok(format!("alg {other:?} refused (only ES256)"))),
        }
        if header.get("crit").is_some() {
            return Err(tok("crit header refused"));
        }
        let sig_bytes = B64
            .decode(s)
            .map_err(|_| tok("signature is not base64url"))?;
        if sig_bytes.len() != 64 {
            return Err(tok("signature is not a 64-byte ES256 signature"));
        }
        let signing_input = token
            .get(..h.len() + 1 + p.len())
            .ok_or_else(|| tok("not three dot-separated parts"))?;
        if !self.key.verify(signing_input.as_bytes(), &sig_bytes) {
            return Err(tok("signature does not verify under the pinned issuer key"));
        }
        let claims: Value = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(Value::is_object)
            .ok_or_else(|| tok("payload is not a base64url JSON object"))?;
        match claims.get("iss").and_then(Value::as_str) {
            Some(i) if i == self.issuer => {}
            other => return Err(tok(format!("iss {other:?}, expected {:?}", self.issuer))),
        }
        let n = unix(now);
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| tok("exp missing"))?;
        if exp <= n {
            return Err(tok(format!("expired at {exp} (now {n})")));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| tok("iat missing"))?;
        if iat > n.saturating_add(IAT_SKEW_SECS) {
            return Err(tok(format!("issued in the future ({iat}, now {n})")));
        }
        if claims.get("eat_profile").and_then(Value::as_str) != Some(EAT_PROFILE) {
            return Err(tok("eat_profile is not the trustee EAR profile"));
        }
        Ok(claims)
    }
}

/// The TEE public key (JWK) from a token's annotated evidence
/// (`submods.cpu0."ear.veraison.annotated-evidence".runtime_data_claims.tee-pubkey`), where the
/// KBS finds the key to encrypt resources to.
///
/// Only a key whose binding the token records as checked is returned
/// (`remits_binding.kind == "runtime-data"` and `report_data_checked == true`): a token that
/// carries a key it did not bind names nobody.
pub fn tee_pubkey(claims: &Value) -> Option<Value> {
    let annotated = claims.pointer("/submods/cpu0/ear.veraison.annotated-evidence")?;
    let bound = annotated.pointer("/remits_binding/kind") == Some(&Value::from("runtime-data"))
        && annotated.pointer("/remits_binding/report_data_checked") == Some(&Value::Bool(true));
    if !bound {
        return None;
    }
    annotated
        .pointer("/runtime_data_claims/tee-pubkey")
        .filter(|v| v.is_object())
        .cloned()
}
