//! KBS sessions as types: a [`Challenged`] session (after `/auth`) becomes an
//! [`Attested`] one (after a successful `/attest`) by consuming it; resource requests
//! accept only an [`Attested`] session.
//!
//! Sessions live in the store (namespace `Session`) so that any replica can serve any
//! step. The challenge is consumed with a compare-and-swap from the exact stored bytes of
//! the `Challenged` record to the `Attested` one, so a nonce is used once even when two
//! replicas race.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A session id: 32 lowercase hex digits (a UUIDv4 in simple form, as trustee uses).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(String);

impl SessionId {
    /// Builds an id from 16 random bytes (UUIDv4 layout).
    pub(crate) fn from_random(bytes: [u8; 16]) -> Self {
        Self(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .simple()
                .to_string(),
        )
    }

    /// Parses a cookie value: exactly 32 lowercase hex digits.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        (s.len() == 32
            && s.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
        .then(|| Self(s.to_owned()))
    }

    /// The id string (the store key and cookie value).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// A short prefix safe for logs (the full id is a bearer capability).
    pub(crate) fn log_prefix(&self) -> &str {
        self.0.get(..8).unwrap_or("")
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// A session after `/auth`: holds the challenge nonce, not yet used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Challenged {
    /// TEE named in the auth request.
    pub(crate) tee: String,
    /// The challenge nonce (std base64 of 32 random bytes).
    pub(crate) nonce: String,
    /// Expiry (Unix seconds).
    pub(crate) expires_at: u64,
}

/// A session after a successful `/attest`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub(crate) struct Attested {
    /// TEE of the session.
    pub(crate) tee: String,
    /// SHA-256 of the EAR token issued (base64url, no padding): a bearer token sent along with
    /// the session cookie is compared with it. The token itself is not kept (it is several KiB,
    /// and the session already holds its verified claims).
    pub(crate) token_sha256: String,
    /// The verified token claims (what resource policy sees).
    pub(crate) claims: Value,
    /// The TEE public key JWK the token is bound to.
    pub(crate) tee_pubkey: Value,
    /// Expiry (Unix seconds): the session expiry capped by the token's `exp`.
    pub(crate) expires_at: u64,
}

/// What is stored under a session id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) enum SessionRecord {
    /// After `/auth`.
    Challenged(Challenged),
    /// After `/attest`.
    Attested(Attested),
}

impl SessionRecord {
    /// Expiry (Unix seconds).
    pub(crate) fn expires_at(&self) -> u64 {
        match self {
            Self::Challenged(c) => c.expires_at,
            Self::Attested(a) => a.expires_at,
        }
    }

    /// Whether the record has expired at `now`.
    pub(crate) fn expired(&self, now: SystemTime) -> bool {
        unix(now) >= self.expires_at()
    }

    /// Serialised form (what the store holds).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a stored record.
    pub(crate) fn from_bytes(b: &[u8]) -> Option<Self> {
        serde_json::from_slice(b).ok()
    }

    /// Expiry as a `SystemTime`.
    pub(crate) fn expiry_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires_at())
    }
}

/// The digest an [`Attested`] session keeps of its token (SHA-256, base64url without padding).
pub(crate) fn token_digest(token: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

impl Attested {
    /// Whether `token` is the token this session was issued (constant-time comparison of the
    /// digests).
    pub(crate) fn is_own_token(&self, token: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        bool::from(
            token_digest(token)
                .as_bytes()
                .ct_eq(self.token_sha256.as_bytes()),
        )
    }
}

impl Challenged {
    /// Consumes the challenge: the session becomes attested with `token`, valid until the
    /// earlier of the session expiry and `token_exp`.
    pub(crate) fn attest(
        self,
        token: &str,
        claims: Value,
        tee_pubkey: Value,
        token_exp: Option<u64>,
    ) -> Attested {
        let expires_at = token_exp.map_or(self.expires_at, |e| e.min(self.expires_at));
        Attested {
            tee: self.tee,
            token_sha256: token_digest(token),
            claims,
            tee_pubkey,
            expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_records() {
        let id = SessionId::from_random([7u8; 16]);
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert!(SessionId::parse("ABCDEF0123456789abcdef0123456789").is_none());
        assert!(SessionId::parse("../../etc/passwd").is_none());
        let c = Challenged {
            tee: "sample".into(),
            nonce: "n".into(),
            expires_at: 100,
        };
        let rec = SessionRecord::Challenged(c.clone());
        assert_eq!(
            SessionRecord::from_bytes(&rec.to_bytes()),
            Some(rec.clone())
        );
        assert!(rec.expired(UNIX_EPOCH + Duration::from_secs(100)));
        assert!(!rec.expired(UNIX_EPOCH + Duration::from_secs(99)));
        let a = c.attest("t.o.k", Value::Null, Value::Null, Some(50));
        assert_eq!(a.expires_at, 50);
        assert!(a.is_own_token("t.o.k"));
        assert!(!a.is_own_token("t.o.K"));
        assert!(!a.is_own_token(""));
        assert!(!a.token_sha256.contains("t.o.k"));
        let rec = SessionRecord::Attested(a);
        assert_eq!(SessionRecord::from_bytes(&rec.to_bytes()), Some(rec));
    }
}
