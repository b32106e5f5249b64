//! Encryption at rest: the sealed-value envelope.
//!
//! Envelope v2 (every value written by a store that has a KEK):
//!
//! ```text
//! "rmse" (4 bytes) | 0x02 | version (u64, big-endian) | nonce (12 random bytes)
//!     | AES-256-GCM ciphertext | tag (16)
//! AAD = "rmse" | 0x02 | namespace name | 0x00 | key | 0x00 | version (u64 BE)
//!     | expiry (u64 BE: microseconds since the Unix epoch, u64::MAX = never)
//! ```
//!
//! The AAD binds a value to its namespace, key, **version** and expiry: a value copied to
//! another key (or namespace), or whose expiry was edited, fails authentication instead of being
//! served, and the version a reader sees is the one the writer sealed. Versions grow with every
//! write of a key (see the backends), so a reader that remembers the highest version it has seen
//! of a key ([`crate::RollbackMarks`]) detects a row swapped for an older sealed row of the same
//! key ([`StoreError::Rollback`]). Namespace names and keys never contain NUL and the last two
//! fields have a fixed size, so the AAD encoding is unambiguous.
//!
//! Envelope v1 (written by earlier releases) is still read, as version 0:
//!
//! ```text
//! "rmse" | 0x01 | nonce (12) | ciphertext | tag (16)       AAD = "rmse" | 0x01 | namespace | 0x00 | key
//! ```
//!
//! A v1 value is bound to its namespace and key only: its expiry is not authenticated and any
//! older v1 value of the same key is indistinguishable from it. Once a reader has seen a v2 value
//! of a key (mark ≥ 1), every v1 value of that key is refused as a rollback; rewriting a value
//! (any `put`) migrates it to v2. Unknown envelope versions are rejected.
//!
//! A store also keeps one *key check* record, sealed under the KEK with a fixed AAD, so that a
//! wrong KEK is reported when the store is opened, before any value is read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::{Kek, Namespace, StoreError, StoreOptions};

/// Magic bytes at the start of every sealed value.
pub const MAGIC: [u8; 4] = *b"rmse";
/// The envelope version written.
pub const VERSION: u8 = 2;
/// The previous envelope version, still read (as value version 0).
pub const VERSION_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a sealed (v2) value adds to its plaintext.
pub const OVERHEAD: usize = MAGIC.len() + 1 + 8 + NONCE_LEN + TAG_LEN;
const KEY_CHECK_AAD: &[u8] = b"remits-store key check v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"remits-store";

/// Seals and opens values for one store: AES-256-GCM when a KEK is configured, otherwise the
/// identity (refusing secret namespaces unless plaintext is allowed).
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Option<std::sync::Arc<Aes256Gcm>>,
    allow_plaintext: bool,
}

/// An expiry truncated to whole microseconds (what PostgreSQL keeps), so that the instant sealed
/// into the AAD is the instant read back from either backend. Instants before the Unix epoch
/// become the epoch (they are all in the past).
pub(crate) fn normalize_expiry(t: Option<SystemTime>) -> Option<SystemTime> {
    t.map(|t| UNIX_EPOCH + Duration::from_micros(expiry_micros(Some(t))))
}

fn expiry_micros(t: Option<SystemTime>) -> u64 {
    match t {
        None => u64::MAX,
        Some(t) => t
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1))
            .unwrap_or(0)
            .min(u64::MAX - 1),
    }
}

fn aad_v1(ns: Namespace, key: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(MAGIC.len() + 2 + ns.as_str().len() + key.len());
    a.extend_from_slice(&MAGIC);
    a.push(VERSION_V1);
    a.extend_from_slice(ns.as_str().as_bytes());
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
}

fn aad_v2(ns: Namespace, key: &str, version: u64, expires_at: Option<SystemTime>) -> Vec<u8> {
    let mut a = Vec::with_capacity(MAGIC.len() + 19 + ns.as_str().len() + key.len());
    a.extend_from_slice(&MAGIC);
    a.push(VERSION);
    a.extend_from_slice(ns.as_str().as_bytes());
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_be_bytes());
    a.extend_from_slice(&expiry_micros(expires_at).to_be_bytes());
    a
}

/// The version recorded in a stored envelope header, without authenticating it (`None`: not a
/// sealed value). v1 envelopes are version 0. Used only to pick the next version to write.
#[cfg(feature = "redb")]
pub(crate) fn peek_version(stored: &[u8]) -> Option<u64> {
    let rest = stored.strip_prefix(&MAGIC)?;
    match rest.split_first()? {
        (&VERSION_V1, _) => Some(0),
        (&VERSION, rest) => rest.first_chunk::<8>().map(|v| u64::from_be_bytes(*v)),
        _ => None,
    }
}

impl Sealer {
    pub(crate) fn new(kek: Option<&Kek>, opts: &StoreOptions) -> Self {
        Sealer {
            cipher: kek.map(|k| std::sync::Arc::new(Aes256Gcm::new(k.bytes().into()))),
            allow_plaintext: opts.allow_plaintext,
        }
    }

    pub(crate) fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// AES-256-GCM under a fresh nonce; `header` goes before the nonce.
    fn seal_raw(
        cipher: &Aes256Gcm,
        header: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| "encryption failed")?;
        let mut out = Vec::with_capacity(header.len() + NONCE_LEN + ct.len());
        out.extend_from_slice(header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn decrypt(
        cipher: &Aes256Gcm,
        aad: &[u8],
        rest: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, &'static str> {
        let (nonce, ct) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or("shorter than the envelope header")?;
        if ct.len() < TAG_LEN {
            return Err("shorter than the authentication tag");
        }
        cipher
            .decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| {
                "authentication failed (wrong KEK, tampered, moved to another key, or expiry edited)"
            })
    }

    /// Opens a v1 or v2 envelope; returns the plaintext and the value version (0 for v1).
    fn open_raw(
        cipher: &Aes256Gcm,
        ns: Namespace,
        key: &str,
        expires_at: Option<SystemTime>,
        stored: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, u64), &'static str> {
        let (magic, rest) = stored
            .split_at_checked(MAGIC.len())
            .ok_or("shorter than the envelope header")?;
        if magic != MAGIC {
            return Err("not a sealed value (bad magic)");
        }
        let (env, rest) = rest
            .split_first()
            .ok_or("shorter than the envelope header")?;
        match *env {
            VERSION => {
                let (v, rest) = rest
                    .split_first_chunk::<8>()
                    .ok_or("shorter than the envelope header")?;
                let version = u64::from_be_bytes(*v);
                let aad = aad_v2(ns, key, version, expires_at);
                Ok((Self::decrypt(cipher, &aad, rest)?, version))
            }
            VERSION_V1 => Ok((Self::decrypt(cipher, &aad_v1(ns, key), rest)?, 0)),
            _ => Err("unknown envelope version"),
        }
    }

    /// The bytes to store for `value` at `ns`/`key`, sealed as `version` with expiry
    /// `expires_at` (already [`normalize_expiry`]'d).
    pub(crate) fn seal(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
        version: u64,
        expires_at: Option<SystemTime>,
    ) -> Result<Vec<u8>, StoreError> {
        match &self.cipher {
            Some(c) => {
                let mut header = [0u8; MAGIC.len() + 1 + 8];
                header[..4].copy_from_slice(&MAGIC);
                header[4] = VERSION;
                header[5..].copy_from_slice(&version.to_be_bytes());
                Self::seal_raw(c, &header, &aad_v2(ns, key, version, expires_at), value)
                    .map_err(|r| StoreError::crypto(ns, key, r))
            }
            None if ns.is_secret() && !self.allow_plaintext => Err(StoreError::KekRequired { ns }),
            None => Ok(value.to_vec()),
        }
    }

    /// The value stored as `stored` at `ns`/`key` with expiry `expires_at`, and its
    /// authenticated version (`None` for a plaintext store: nothing is authenticated).
    pub(crate) fn open(
        &self,
        ns: Namespace,
        key: &str,
        expires_at: Option<SystemTime>,
        stored: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Option<u64>), StoreError> {
        match &self.cipher {
            Some(c) => Self::open_raw(c, ns, key, expires_at, stored)
                .map(|(v, version)| (v, Some(version)))
                .map_err(|r| StoreError::crypto(ns, key, r)),
            None if ns.is_secret() && !self.allow_plaintext => Err(StoreError::KekRequired { ns }),
            None => Ok((Zeroizing::new(stored.to_vec()), None)),
        }
    }

    /// Refuses operations on secret namespaces when there is no KEK and plaintext is not allowed.
    pub(crate) fn check_ns(&self, ns: Namespace) -> Result<(), StoreError> {
        if self.cipher.is_none() && ns.is_secret() && !self.allow_plaintext {
            return Err(StoreError::KekRequired { ns });
        }
        Ok(())
    }

    /// The key-check record to store for a new store (`None` without a KEK: the marker is then
    /// the empty record, meaning "plaintext store").
    pub(crate) fn key_check(&self) -> Result<Vec<u8>, StoreError> {
        match &self.cipher {
            Some(c) => Self::seal_raw(
                c,
                &[MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION_V1],
                KEY_CHECK_AAD,
                KEY_CHECK_PLAINTEXT,
            )
            .map_err(|reason| StoreError::KekMismatch { reason }),
            None => Ok(Vec::new()),
        }
    }

    /// Checks a stored key-check record against this sealer's KEK.
    pub(crate) fn verify_key_check(&self, stored: &[u8]) -> Result<(), StoreError> {
        match (&self.cipher, stored.is_empty()) {
            (None, true) => Ok(()),
            (None, false) => Err(StoreError::KekMismatch {
                reason: "the store was created with a KEK and none was given",
            }),
            (Some(_), true) => Err(StoreError::KekMismatch {
                reason:
                    "the store was created without a KEK (plaintext); it cannot be opened with one",
            }),
            (Some(c), false) => {
                let opened = stored
                    .strip_prefix(&[MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION_V1])
                    .ok_or("bad header")
                    .and_then(|rest| Self::decrypt(c, KEY_CHECK_AAD, rest));
                match opened {
                    Ok(p) if p.as_slice() == KEY_CHECK_PLAINTEXT => Ok(()),
                    _ => Err(StoreError::KekMismatch {
                        reason: "the given KEK is not the one the store was created with",
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(k: u8) -> Sealer {
        Sealer::new(Some(&Kek::from_bytes([k; 32])), &StoreOptions::default())
    }

    #[test]
    fn round_trip_and_binding() {
        let s = sealer(1);
        let ns = Namespace::Resource;
        let exp = normalize_expiry(Some(SystemTime::now()));
        let sealed = s.seal(ns, "a/b/c", b"secret", 7, exp).unwrap();
        assert_eq!(sealed.len(), OVERHEAD + 6);
        assert_eq!(peek_version(&sealed), Some(7));
        let (v, version) = s.open(ns, "a/b/c", exp, &sealed).unwrap();
        assert_eq!((v.as_slice(), version), (&b"secret"[..], Some(7)));
        assert_ne!(
            s.seal(ns, "a/b/c", b"secret", 7, exp).unwrap(),
            sealed,
            "fresh nonce each time"
        );
        // Moved to another key or namespace, expiry edited: rejected.
        assert!(matches!(
            s.open(ns, "a/b/d", exp, &sealed),
            Err(StoreError::Crypto { .. })
        ));
        assert!(s.open(Namespace::Config, "a/b/c", exp, &sealed).is_err());
        assert!(s.open(ns, "a/b/c", None, &sealed).is_err());
        let later = exp.map(|t| t + Duration::from_secs(3600));
        assert!(s.open(ns, "a/b/c", later, &sealed).is_err());
        // Version in the header changed: rejected.
        let mut other = sealed.clone();
        other[12] ^= 1;
        assert!(s.open(ns, "a/b/c", exp, &other).is_err());
        // Wrong KEK.
        assert!(sealer(2).open(ns, "a/b/c", exp, &sealed).is_err());
        // Every single-byte change and every truncation is rejected.
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(s.open(ns, "a/b/c", exp, &t).is_err(), "flip at {i}");
            assert!(
                s.open(ns, "a/b/c", exp, &sealed[..i]).is_err(),
                "truncated to {i}"
            );
        }
    }

    #[test]
    fn v1_envelopes_are_read_as_version_0() {
        let s = sealer(1);
        let ns = Namespace::Resource;
        let Some(c) = &s.cipher else { unreachable!() };
        let v1 = Sealer::seal_raw(
            c,
            &[MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION_V1],
            &aad_v1(ns, "k"),
            b"old",
        )
        .unwrap();
        assert_eq!(peek_version(&v1), Some(0));
        let (v, version) = s.open(ns, "k", None, &v1).unwrap();
        assert_eq!((v.as_slice(), version), (&b"old"[..], Some(0)));
        assert!(s.open(ns, "other", None, &v1).is_err());
        let mut unknown = v1.clone();
        unknown[4] = 3;
        assert!(s.open(ns, "k", None, &unknown).is_err());
    }

    #[test]
    fn expiry_is_normalized_to_microseconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(
            normalize_expiry(Some(t)),
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000))
        );
        assert_eq!(normalize_expiry(None), None);
    }

    #[test]
    fn plaintext_policy() {
        let plain = Sealer::new(None, &StoreOptions::default());
        assert!(matches!(
            plain.seal(Namespace::Resource, "k", b"v", 1, None),
            Err(StoreError::KekRequired { .. })
        ));
        assert_eq!(
            plain.seal(Namespace::Session, "k", b"v", 1, None).unwrap(),
            b"v"
        );
        let allowed = Sealer::new(
            None,
            &StoreOptions {
                allow_plaintext: true,
                ..StoreOptions::default()
            },
        );
        assert_eq!(
            allowed
                .seal(Namespace::Resource, "k", b"v", 1, None)
                .unwrap(),
            b"v"
        );
    }

    #[test]
    fn key_check() {
        let a = sealer(1);
        let rec = a.key_check().unwrap();
        a.verify_key_check(&rec).unwrap();
        assert!(sealer(2).verify_key_check(&rec).is_err());
        let plain = Sealer::new(None, &StoreOptions::default());
        assert!(plain.verify_key_check(&rec).is_err());
        assert!(a.verify_key_check(&plain.key_check().unwrap()).is_err());
        plain.verify_key_check(&[]).unwrap();
    }
}
