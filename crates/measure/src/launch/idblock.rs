//! SNP ID block, ID_AUTH and the ID-key / author-key digests (SNP firmware ABI,
//! SNP_LAUNCH_FINISH; sev-snp-measure `id_block.py`).
//!
//! Keys are ECDSA P-384; signatures are over SHA-384. The key digests that appear in the
//! attestation report (ID_KEY_DIGEST, AUTHOR_KEY_DIGEST) are SHA-384 of the 0x404-byte SEV
//! public-key structure, not of any DER form.

use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha384};

use remits_codec::Cursor;

use super::gctx::LD_SIZE;
use super::Error;

/// Size of the ID block.
pub const ID_BLOCK_SIZE: usize = 96;
/// Size of the ID_AUTH structure.
pub const ID_AUTH_SIZE: usize = 4096;
/// Size of the SEV ECDSA public-key structure.
pub const SEV_PUBKEY_SIZE: usize = 0x404;
/// Size of the SEV ECDSA signature structure.
pub const SEV_SIG_SIZE: usize = 512;
/// Curve identifier of P-384 in the SEV public-key structure.
pub const CURVE_P384: u32 = 2;
/// Algorithm identifier of ECDSA P-384 with SHA-384 in ID_AUTH.
pub const ALGO_ECDSA_P384_SHA384: u32 = 1;
/// Default guest policy of sev-snp-measure's ID block (SMT allowed, ABI 0.0, bit 17 set).
pub const DEFAULT_POLICY: u64 = 0x30000;

/// ID_AUTH field offsets.
const AUTH_BLOCK_SIG: usize = 0x40;
const AUTH_ID_KEY: usize = AUTH_BLOCK_SIG + SEV_SIG_SIZE;
const AUTH_ID_KEY_SIG: usize = AUTH_ID_KEY + SEV_PUBKEY_SIZE + 60;
const AUTH_AUTHOR_KEY: usize = AUTH_ID_KEY_SIG + SEV_SIG_SIZE;

/// The ID block the guest owner supplies at launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdBlock {
    /// Expected launch digest.
    pub launch_digest: [u8; LD_SIZE],
    /// Family ID.
    pub family_id: [u8; 16],
    /// Image ID.
    pub image_id: [u8; 16],
    /// Structure version (1).
    pub version: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// Guest policy.
    pub policy: u64,
}

impl IdBlock {
    /// An ID block with sev-snp-measure's defaults: zero IDs, version 1, SVN 0, policy 0x30000.
    pub fn new(launch_digest: [u8; LD_SIZE]) -> Self {
        Self {
            launch_digest,
            family_id: [0; 16],
            image_id: [0; 16],
            version: 1,
            guest_svn: 0,
            policy: DEFAULT_POLICY,
        }
    }

    /// The 96-byte little-endian encoding.
    pub fn to_bytes(&self) -> [u8; ID_BLOCK_SIZE] {
        let mut b = [0u8; ID_BLOCK_SIZE];
        b[..48].copy_from_slice(&self.launch_digest);
        b[48..64].copy_from_slice(&self.family_id);
        b[64..80].copy_from_slice(&self.image_id);
        b[80..84].copy_from_slice(&self.version.to_le_bytes());
        b[84..88].copy_from_slice(&self.guest_svn.to_le_bytes());
        b[88..96].copy_from_slice(&self.policy.to_le_bytes());
        b
    }
}

/// Loads a P-384 private key from PEM (SEC1 `EC PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
///
/// # Errors
///
/// [`Error::Key`] when `pem` is not a P-384 private key in either form.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, Error> {
    let key_err = |reason: String| Error::Key {
        what: "P-384 private key",
        reason,
    };
    if pem.contains("BEGIN EC PRIVATE KEY") {
        let sk = p384::SecretKey::from_sec1_pem(pem).map_err(|e| key_err(e.to_string()))?;
        return Ok(SigningKey::from(sk));
    }
    SigningKey::from_pkcs8_pem(pem).map_err(|e| key_err(e.to_string()))
}

/// Loads a P-384 public key from an SPKI PEM (`PUBLIC KEY`).
///
/// # Errors
///
/// [`Error::Key`] when `pem` is not a P-384 SPKI public key.
pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, Error> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| Error::Key {
        what: "P-384 public key",
        reason: e.to_string(),
    })
}

/// The 0x404-byte SEV public-key structure: curve (2 = P-384), Qx and Qy as 72-byte
/// little-endian values, zero padding.
pub fn sev_public_key(key: &VerifyingKey) -> [u8; SEV_PUBKEY_SIZE] {
    let mut out = [0u8; SEV_PUBKEY_SIZE];
    out[..4].copy_from_slice(&CURVE_P384.to_le_bytes());
    let point = key.to_encoded_point(false);
    if let (Some(x), Some(y)) = (point.x(), point.y()) {
        put_le(&mut out[4..4 + 72], x);
        put_le(&mut out[4 + 72..4 + 144], y);
    }
    out
}

/// Parses a SEV public-key structure back into a key (strict: curve 2, zero padding).
///
/// # Errors
///
/// [`Error::Length`] for another length, [`Error::Key`] for another curve, non-zero padding or a
/// point not on P-384.
pub fn parse_sev_public_key(bytes: &[u8]) -> Result<VerifyingKey, Error> {
    let err = |reason: &str| Error::Key {
        what: "SEV public key",
        reason: reason.to_owned(),
    };
    let Ok(bytes) = <&[u8; SEV_PUBKEY_SIZE]>::try_from(bytes) else {
        return Err(Error::Length {
            what: "SEV public key",
            expected: SEV_PUBKEY_SIZE,
            actual: bytes.len(),
        });
    };
    // Exactly SEV_PUBKEY_SIZE bytes: the reads cannot run out.
    let mut c = Cursor::new(bytes, "SEV public key");
    let cut = layout("SEV public key", SEV_PUBKEY_SIZE, bytes.len());
    let curve = c.u32_le("curve").map_err(cut)?;
    let qx = c.array_ref::<72>("Qx").map_err(cut)?;
    let qy = c.array_ref::<72>("Qy").map_err(cut)?;
    let reserved = c.rest();
    if curve != CURVE_P384 {
        return Err(err("curve is not P-384 (2)"));
    }
    let x = le72_to_be48(qx).ok_or_else(|| err("Qx exceeds 48 bytes"))?;
    let y = le72_to_be48(qy).ok_or_else(|| err("Qy exceeds 48 bytes"))?;
    if reserved.iter().any(|b| *b != 0) {
        return Err(err("reserved bytes are not zero"));
    }
    let point = p384::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    VerifyingKey::from_encoded_point(&point).map_err(|_| err("point is not on the curve"))
}

/// ID_KEY_DIGEST / AUTHOR_KEY_DIGEST: SHA-384 of the SEV public-key structure.
pub fn key_digest(key: &VerifyingKey) -> [u8; LD_SIZE] {
    Sha384::digest(sev_public_key(key)).into()
}

/// Encodes an ECDSA signature as the 512-byte SEV structure (r, s as 72-byte little-endian).
pub fn sev_signature(sig: &Signature) -> [u8; SEV_SIG_SIZE] {
    let mut out = [0u8; SEV_SIG_SIZE];
    let (r, s) = sig.split_bytes();
    put_le(&mut out[..72], &r);
    put_le(&mut out[72..144], &s);
    out
}

/// Decodes a 512-byte SEV signature structure (strict: padding must be zero).
///
/// # Errors
///
/// [`Error::Length`] for another length than 512 bytes, [`Error::SignatureFormat`] for non-zero
/// padding or an out-of-range scalar.
pub fn parse_sev_signature(bytes: &[u8], what: &'static str) -> Result<Signature, Error> {
    let bad = |reason| Error::SignatureFormat { what, reason };
    let Ok(bytes) = <&[u8; SEV_SIG_SIZE]>::try_from(bytes) else {
        return Err(Error::Length {
            what,
            expected: SEV_SIG_SIZE,
            actual: bytes.len(),
        });
    };
    // Exactly SEV_SIG_SIZE bytes: the reads cannot run out.
    let mut c = Cursor::new(bytes, "SEV signature");
    let cut = layout(what, SEV_SIG_SIZE, bytes.len());
    let r = c.array_ref::<72>("R").map_err(cut)?;
    let s = c.array_ref::<72>("S").map_err(cut)?;
    let r = le72_to_be48(r).ok_or_else(|| bad("r exceeds 48 bytes"))?;
    let s = le72_to_be48(s).ok_or_else(|| bad("s exceeds 48 bytes"))?;
    if c.rest().iter().any(|b| *b != 0) {
        return Err(bad("reserved bytes are not zero"));
    }
    Signature::from_scalars(r, s).map_err(|_| bad("r or s is zero or not below the group order"))
}

fn put_le(dst: &mut [u8], be: &[u8]) {
    for (d, s) in dst.iter_mut().zip(be.iter().rev()) {
        *d = *s;
    }
}

fn le72_to_be48(le: &[u8; 72]) -> Option<[u8; 48]> {
    let (low, high) = le.split_at(48);
    if high.iter().any(|b| *b != 0) {
        return None;
    }
    let mut be = [0u8; 48];
    for (d, s) in be.iter_mut().zip(low.iter().rev()) {
        *d = *s;
    }
    Some(be)
}

/// Maps a cursor error over a structure whose length was checked to be exactly `expected`:
/// a read that runs out means the layout does not add up, reported as the length.
fn layout(
    what: &'static str,
    expected: usize,
    actual: usize,
) -> impl Fn(remits_codec::Error) -> Error + Copy {
    move |_| Error::Length {
        what,
        expected,
        actual,
    }
}

/// Assembles the 4096-byte ID_AUTH from its parts (algorithms ECDSA P-384/SHA-384).
pub fn id_auth(
    block_sig: &[u8; SEV_SIG_SIZE],
    id_key: &[u8; SEV_PUBKEY_SIZE],
    id_key_sig: &[u8; SEV_SIG_SIZE],
    author_key: &[u8; SEV_PUBKEY_SIZE],
) -> [u8; ID_AUTH_SIZE] {
    let mut a = [0u8; ID_AUTH_SIZE];
    a[..4].copy_from_slice(&ALGO_ECDSA_P384_SHA384.to_le_bytes());
    a[4..8].copy_from_slice(&ALGO_ECDSA_P384_SHA384.to_le_bytes());
    a[AUTH_BLOCK_SIG..AUTH_BLOCK_SIG + SEV_SIG_SIZE].copy_from_slice(block_sig);
    a[AUTH_ID_KEY..AUTH_ID_KEY + SEV_PUBKEY_SIZE].copy_from_slice(id_key);
    a[AUTH_ID_KEY_SIG..AUTH_ID_KEY_SIG + SEV_SIG_SIZE].copy_from_slice(id_key_sig);
    a[AUTH_AUTHOR_KEY..AUTH_AUTHOR_KEY + SEV_PUBKEY_SIZE].copy_from_slice(author_key);
    a
}

/// The output of [`sign_id_block`].
#[derive(Clone, Debug)]
pub struct SignedIdBlock {
    /// The 96-byte ID block.
    pub id_block: [u8; ID_BLOCK_SIZE],
    /// The 4096-byte ID_AUTH.
    pub id_auth: Box<[u8; ID_AUTH_SIZE]>,
    /// ID_KEY_DIGEST the report will carry.
    pub id_key_digest: [u8; LD_SIZE],
    /// AUTHOR_KEY_DIGEST the report will carry.
    pub author_key_digest: [u8; LD_SIZE],
}

/// Signs an ID block with the ID key and the ID key with the author key (deterministic
/// RFC 6979 ECDSA, so no random source is needed).
pub fn sign_id_block(
    block: &IdBlock,
    id_key: &SigningKey,
    author_key: &SigningKey,
) -> SignedIdBlock {
    let id_block = block.to_bytes();
    let id_pub = sev_public_key(id_key.verifying_key());
    let author_pub = sev_public_key(author_key.verifying_key());
    let block_sig: Signature = id_key.sign(&id_block);
    let id_key_sig: Signature = author_key.sign(&id_pub);
    SignedIdBlock {
        id_block,
        id_auth: Box::new(id_auth(
            &sev_signature(&block_sig),
            &id_pub,
            &sev_signature(&id_key_sig),
            &author_pub,
        )),
        id_key_digest: key_digest(id_key.verifying_key()),
        author_key_digest: key_digest(author_key.verifying_key()),
    }
}

/// Digests of the two keys of a verified ID_AUTH. Only [`verify_id_auth`] builds one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct VerifiedIdAuth {
    id_key_digest: [u8; LD_SIZE],
    author_key_digest: [u8; LD_SIZE],
}

impl VerifiedIdAuth {
    /// SHA-384 of the ID key structure (the report's ID_KEY_DIGEST).
    pub fn id_key_digest(&self) -> &[u8; LD_SIZE] {
        &self.id_key_digest
    }
    /// SHA-384 of the author key structure (the report's AUTHOR_KEY_DIGEST).
    pub fn author_key_digest(&self) -> &[u8; LD_SIZE] {
        &self.author_key_digest
    }
}

/// Checks an ID_AUTH against an ID block as the SNP firmware does: algorithms, the ID block
/// signature by the ID key, and the ID key's signature by the author key. Returns the key
/// digests the attestation report will carry.
///
/// # Errors
///
/// [`Error::Length`] for an ID block or ID_AUTH of the wrong size, [`Error::IdAuthField`] for an
/// algorithm or field the firmware refuses, [`Error::Key`] for a malformed key,
/// [`Error::SignatureInvalid`] naming the signature that does not verify.
#[must_use = "the verified ID authentication is the only trusted view of the block"]
pub fn verify_id_auth(id_block: &[u8], auth: &[u8]) -> Result<VerifiedIdAuth, Error> {
    if id_block.len() != ID_BLOCK_SIZE {
        return Err(Error::Length {
            what: "ID block",
            expected: ID_BLOCK_SIZE,
            actual: id_block.len(),
        });
    }
    let Ok(auth) = <&[u8; ID_AUTH_SIZE]>::try_from(auth) else {
        return Err(Error::Length {
            what: "ID_AUTH",
            expected: ID_AUTH_SIZE,
            actual: auth.len(),
        });
    };
    // Exactly ID_AUTH_SIZE bytes: the reads cannot run out, and `finish` checks that the
    // layout adds up to the whole structure.
    let mut c = Cursor::new(auth, "ID_AUTH");
    let cut = layout("ID_AUTH", ID_AUTH_SIZE, auth.len());
    let id_key_algo = c.u32_le("ID_KEY_ALGO").map_err(cut)?;
    let auth_key_algo = c.u32_le("AUTH_KEY_ALGO").map_err(cut)?;
    c.skip(AUTH_BLOCK_SIG - 8, "reserved").map_err(cut)?;
    let block_sig = c.take(SEV_SIG_SIZE, "ID_BLOCK_SIG").map_err(cut)?;
    let id_key_bytes = c.take(SEV_PUBKEY_SIZE, "ID_KEY").map_err(cut)?;
    c.skip(AUTH_ID_KEY_SIG - AUTH_ID_KEY - SEV_PUBKEY_SIZE, "reserved")
        .map_err(cut)?;
    let id_key_sig = c.take(SEV_SIG_SIZE, "ID_KEY_SIG").map_err(cut)?;
    let author_bytes = c.take(SEV_PUBKEY_SIZE, "AUTHOR_KEY").map_err(cut)?;
    c.skip(ID_AUTH_SIZE - AUTH_AUTHOR_KEY - SEV_PUBKEY_SIZE, "reserved")
        .map_err(cut)?;
    c.finish().map_err(cut)?;
    let algos = [
        ("id_key_algo", id_key_algo),
        ("auth_key_algo", auth_key_algo),
    ];
    for (field, v) in algos {
        if v != ALGO_ECDSA_P384_SHA384 {
            return Err(Error::IdAuthField {
                field,
                expected: ALGO_ECDSA_P384_SHA384,
                actual: v,
            });
        }
    }
    let id_key = parse_sev_public_key(id_key_bytes)?;
    let author = parse_sev_public_key(author_bytes)?;
    let block_sig = parse_sev_signature(block_sig, "ID block signature")?;
    id_key
        .verify(id_block, &block_sig)
        .map_err(|_| Error::SignatureInvalid("ID block signature"))?;
    let key_sig = parse_sev_signature(id_key_sig, "ID key signature")?;
    author
        .verify(id_key_bytes, &key_sig)
        .map_err(|_| Error::SignatureInvalid("ID key signature"))?;
    Ok(VerifiedIdAuth {
        id_key_digest: Sha384::digest(id_key_bytes).into(),
        author_key_digest: Sha384::digest(author_bytes).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_offsets() {
        assert_eq!(AUTH_BLOCK_SIG, 0x40);
        assert_eq!(AUTH_ID_KEY, 0x240);
        assert_eq!(AUTH_ID_KEY_SIG, 0x680);
        assert_eq!(AUTH_AUTHOR_KEY, 0x880);
        assert_eq!(AUTH_AUTHOR_KEY + SEV_PUBKEY_SIZE + 892, ID_AUTH_SIZE);
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let id = SigningKey::from_slice(&[7u8; 48]).unwrap();
        let author = SigningKey::from_slice(&[9u8; 48]).unwrap();
        let s = sign_id_block(&IdBlock::new([1; 48]), &id, &author);
        let v = verify_id_auth(&s.id_block, &s.id_auth[..]).unwrap();
        assert_eq!(v.id_key_digest(), &s.id_key_digest);
        assert_eq!(v.author_key_digest(), &s.author_key_digest);
        let mut block = s.id_block;
        block[0] ^= 1;
        assert!(matches!(
            verify_id_auth(&block, &s.id_auth[..]),
            Err(Error::SignatureInvalid("ID block signature"))
        ));
        let mut auth = s.id_auth.clone();
        auth[AUTH_ID_KEY_SIG + 3] ^= 1;
        assert!(matches!(
            verify_id_auth(&s.id_block, &auth[..]),
            Err(Error::SignatureInvalid("ID key signature"))
        ));
        let mut auth = s.id_auth.clone();
        auth[AUTH_BLOCK_SIG + 200] = 1;
        assert!(matches!(
            verify_id_auth(&s.id_block, &auth[..]),
            Err(Error::SignatureFormat { .. })
        ));
        assert_eq!(
            parse_sev_public_key(&sev_public_key(id.verifying_key())).unwrap(),
            *id.verifying_key()
        );
    }
}
