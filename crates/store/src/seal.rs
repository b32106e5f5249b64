//! Encryption at rest: the sealed-value envelope.
//!
//! Envelope v1 (all values written by a store that has a KEK):
//!
//! ```text
//! "rmse" (4 bytes) | version 0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext | tag (16)
//! AAD = "rmse" | 0x01 | namespace name | 0x00 | key
//! ```
//!
//! The AAD binds a value to its namespace and key: a value copied to another key (or namespace)
//! fails authentication instead of being served. Namespace names and keys never contain NUL, so
//! the AAD encoding is unambiguous. Unknown versions are rejected.
//!
//! A store also keeps one *key check* record, sealed under the KEK with a fixed AAD, so that a
//! wrong KEK is reported when the store is opened, before any value is read.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::{Kek, Namespace, StoreError, StoreOptions};

/// Magic bytes at the start of every sealed value.
pub const MAGIC: [u8; 4] = *b"rmse";
/// The envelope version written.
pub const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a sealed value adds to its plaintext.
pub const OVERHEAD: usize = MAGIC.len() + 1 + NONCE_LEN + TAG_LEN;
const KEY_CHECK_AAD: &[u8] = b"remits-store key check v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"remits-store";

/// Seals and opens values for one store: AES-256-GCM when a KEK is configured, otherwise the
/// identity (refusing secret namespaces unless plaintext is allowed).
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Option<std::sync::Arc<Aes256Gcm>>,
    allow_plaintext: bool,
}

fn aad(ns: Namespace, key: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(MAGIC.len() + 2 + ns.as_str().len() + key.len());
    a.extend_from_slice(&MAGIC);
    a.push(VERSION);
    a.extend_from_slice(ns.as_str().as_bytes());
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
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

    fn seal_raw(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, &'static str> {
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
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_raw(
        cipher: &Aes256Gcm,
        aad: &[u8],
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, &'static str> {
        let (magic, rest) = stored
            .split_at_checked(MAGIC.len())
            .ok_or("shorter than the envelope header")?;
        if magic != MAGIC {
            return Err("not a sealed value (bad magic)");
        }
        let (version, rest) = rest
            .split_first()
            .ok_or("shorter than the envelope header")?;
        if *version != VERSION {
            return Err("unknown envelope version");
        }
        let (nonce, ct) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or("shorter than the envelope header")?;
        if ct.len() < TAG_LEN {
            return Err("shorter than the authentication tag");
        }
        cipher
            .decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| "authentication failed (wrong KEK, tampered, or moved to another key)")
    }

    /// The bytes to store for `value` at `ns`/`key`.
    pub(crate) fn seal(
        &self,
        ns: Namespace,
        key: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        match &self.cipher {
            Some(c) => {
                Self::seal_raw(c, &aad(ns, key), value).map_err(|r| StoreError::crypto(ns, key, r))
            }
            None if ns.is_secret() && !self.allow_plaintext => Err(StoreError::KekRequired { ns }),
            None => Ok(value.to_vec()),
        }
    }

    /// The value stored as `stored` at `ns`/`key`.
    pub(crate) fn open(
        &self,
        ns: Namespace,
        key: &str,
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        match &self.cipher {
            Some(c) => {
                Self::open_raw(c, &aad(ns, key), stored).map_err(|r| StoreError::crypto(ns, key, r))
            }
            None if ns.is_secret() && !self.allow_plaintext => Err(StoreError::KekRequired { ns }),
            None => Ok(Zeroizing::new(stored.to_vec())),
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
            Some(c) => Self::seal_raw(c, KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)
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
            (Some(c), false) => match Self::open_raw(c, KEY_CHECK_AAD, stored) {
                Ok(p) if p.as_slice() == KEY_CHECK_PLAINTEXT => Ok(()),
                _ => Err(StoreError::KekMismatch {
                    reason: "the given KEK is not the one the store was created with",
                }),
            },
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
        let sealed = s.seal(ns, "a/b/c", b"secret").unwrap();
        assert_eq!(sealed.len(), OVERHEAD + 6);
        assert_eq!(s.open(ns, "a/b/c", &sealed).unwrap().as_slice(), b"secret");
        assert_ne!(
            s.seal(ns, "a/b/c", b"secret").unwrap(),
            sealed,
            "fresh nonce each time"
        );
        // Moved to another key or namespace: rejected.
        assert!(matches!(
            s.open(ns, "a/b/d", &sealed),
            Err(StoreError::Crypto { .. })
        ));
        assert!(s.open(Namespace::Config, "a/b/c", &sealed).is_err());
        // Wrong KEK.
        assert!(sealer(2).open(ns, "a/b/c", &sealed).is_err());
        // Every single-byte change and every truncation is rejected.
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(s.open(ns, "a/b/c", &t).is_err(), "flip at {i}");
            assert!(
                s.open(ns, "a/b/c", &sealed[..i]).is_err(),
                "truncated to {i}"
            );
        }
    }

    #[test]
    fn plaintext_policy() {
        let plain = Sealer::new(None, &StoreOptions::default());
        assert!(matches!(
            plain.seal(Namespace::Resource, "k", b"v"),
            Err(StoreError::KekRequired { .. })
        ));
        assert_eq!(plain.seal(Namespace::Session, "k", b"v").unwrap(), b"v");
        let allowed = Sealer::new(
            None,
            &StoreOptions {
                allow_plaintext: true,
                ..StoreOptions::default()
            },
        );
        assert_eq!(allowed.seal(Namespace::Resource, "k", b"v").unwrap(), b"v");
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
