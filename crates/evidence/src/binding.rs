//! Binding runtime data to evidence, exactly as the CoCo KBS protocol does it.
//!
//! Both sides build the JSON object
//! `{"additional-evidence": <string>, "nonce": <challenge nonce>, "tee-pubkey": <JWK>}`,
//! serialise it with RFC 8785 (JCS) canonicalisation and hash it (SHA-384 for every TEE remits
//! supports). The TEE places the digest in its report-data field, each TEE fitting it to its own
//! field size with [`fit`]: SNP pads to 64 bytes, the TPM path truncates to 32, Azure vTPM and
//! the sample TEE take the 48 bytes as they are.
//!
//! The JWK is reduced to the members trustee keeps before hashing ([`sanitize_tee_pubkey`]), so
//! a client that sends extra members (`use`, `kid`) binds the same digest on either server.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::Error;

/// A hash algorithm used for runtime-data and init-data digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-384 (48 bytes), the KBS default.
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl HashAlg {
    /// Hash `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Digest length in bytes.
    // A digest length is never zero, so an `is_empty` would only ever say `false`.
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The lowercase name (`sha256`, `sha384`, `sha512`).
    pub const fn as_str(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
        }
    }

    /// Parse a lowercase name as used in init-data TOML and KBS extra-params.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(HashAlg::Sha256),
            "sha384" => Some(HashAlg::Sha384),
            "sha512" => Some(HashAlg::Sha512),
            _ => None,
        }
    }
}

/// The runtime data a KBS client binds into its evidence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeData {
    /// The challenge nonce exactly as the server sent it (standard base64 text).
    pub nonce: String,
    /// The TEE public key (JWK) that resources will be encrypted to.
    #[serde(rename = "tee-pubkey")]
    pub tee_pubkey: Value,
    /// The additional-evidence JSON string (`""` when there is none).
    #[serde(rename = "additional-evidence", default)]
    pub additional_evidence: String,
}

impl RuntimeData {
    /// The RFC 8785 canonical JSON that is hashed.
    ///
    /// # Errors
    ///
    /// [`Error::TeePubKey`] when `tee-pubkey` is not a supported JWK ([`sanitize_tee_pubkey`]),
    /// [`Error::Canonical`] when canonicalization fails.
    pub fn canonical_json(&self) -> Result<String, Error> {
        let mut obj = Map::new();
        obj.insert(
            "additional-evidence".into(),
            Value::String(self.additional_evidence.clone()),
        );
        obj.insert("nonce".into(), Value::String(self.nonce.clone()));
        obj.insert("tee-pubkey".into(), sanitize_tee_pubkey(&self.tee_pubkey)?);
        serde_json_canonicalizer::to_string(&Value::Object(obj)).map_err(|e| Error::Canonical {
            what: "runtime data",
            reason: e.to_string(),
        })
    }

    /// The binding digest: `alg(canonical_json)`.
    ///
    /// # Errors
    ///
    /// As [`RuntimeData::canonical_json`].
    pub fn digest(&self, alg: HashAlg) -> Result<Vec<u8>, Error> {
        Ok(alg.digest(self.canonical_json()?.as_bytes()))
    }
}

/// Reduce a TEE public key JWK to the members the KBS protocol keeps: `kty`, `crv`, `alg`, `x`,
/// `y` for EC keys and `kty`, `alg`, `n`, `e` for RSA keys. Other key types are refused.
///
/// # Errors
///
/// [`Error::TeePubKey`] when `jwk` is not an object, has no string `kty`, or its key type is
/// neither `EC` nor `RSA`.
pub fn sanitize_tee_pubkey(jwk: &Value) -> Result<Value, Error> {
    let obj = jwk
        .as_object()
        .ok_or_else(|| Error::TeePubKey("not a JSON object".into()))?;
    let kty = obj
        .get("kty")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::TeePubKey("missing string member kty".into()))?;
    let keep: &[&str] = match kty {
        "EC" => &["kty", "crv", "alg", "x", "y"],
        "RSA" => &["kty", "alg", "n", "e"],
        other => {
            return Err(Error::TeePubKey(format!(
                "unsupported kty {:?}",
                other.chars().take(16).collect::<String>()
            )))
        }
    };
    let mut out = Map::new();
    for &k in keep {
        match obj.get(k) {
            Some(v @ Value::String(_)) => {
                out.insert(k.to_owned(), v.clone());
            }
            Some(_) => return Err(Error::TeePubKey(format!("member {k} is not a string"))),
            None if k == "alg" => {}
            None => return Err(Error::TeePubKey(format!("missing member {k}"))),
        }
    }
    Ok(Value::Object(out))
}

/// Fit a digest to a TEE field of `len` bytes: zero-padded when shorter, truncated when longer
/// (trustee's `regularize_data`).
pub fn fit(digest: &[u8], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = digest.iter().copied().take(len).collect();
    out.resize(len, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn generator_key() -> Value {
        json!({"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW",
               "x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
               "y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"})
    }

    /// The worked example of `notes/kbs.md` section 4.
    #[test]
    fn worked_vector() {
        let rd = RuntimeData {
            nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
            tee_pubkey: generator_key(),
            additional_evidence: String::new(),
        };
        assert_eq!(
            rd.canonical_json().unwrap(),
            r#"{"additional-evidence":"","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}}"#
        );
        let d = rd.digest(HashAlg::Sha384).unwrap();
        assert_eq!(
            hex::encode(&d),
            "bc18735746472713c97d2b881e0a178e1b09bb652fd2a3d5e7945e756c7f14496d7cc1a29bf74a6b3bfe248691e5f3b4"
        );
        let snp = fit(&d, 64);
        assert_eq!(&snp[..48], &d[..]);
        assert_eq!(&snp[48..], &[0u8; 16]);
        assert_eq!(fit(&d, 32), d[..32].to_vec());
    }

    #[test]
    fn extra_jwk_members_do_not_change_the_digest() {
        let mut k = generator_key();
        k["use"] = json!("enc");
        k["kid"] = json!("x");
        let a = RuntimeData {
            nonce: "n".into(),
            tee_pubkey: generator_key(),
            additional_evidence: String::new(),
        };
        let b = RuntimeData {
            tee_pubkey: k,
            ..a.clone()
        };
        assert_eq!(
            a.digest(HashAlg::Sha384).unwrap(),
            b.digest(HashAlg::Sha384).unwrap()
        );
    }

    #[test]
    fn changing_any_input_changes_the_digest() {
        let a = RuntimeData {
            nonce: "n".into(),
            tee_pubkey: generator_key(),
            additional_evidence: String::new(),
        };
        let d = a.digest(HashAlg::Sha384).unwrap();
        let mut b = a.clone();
        b.nonce = "m".into();
        assert_ne!(b.digest(HashAlg::Sha384).unwrap(), d);
        let mut c = a.clone();
        c.additional_evidence = "{}".into();
        assert_ne!(c.digest(HashAlg::Sha384).unwrap(), d);
        let mut e = a.clone();
        e.tee_pubkey["x"] = json!("AAAA");
        assert_ne!(e.digest(HashAlg::Sha384).unwrap(), d);
    }

    #[test]
    fn bad_keys_are_refused() {
        for k in [
            json!("x"),
            json!({}),
            json!({"kty":"oct","k":"AA"}),
            json!({"kty":"EC","crv":"P-256","x":"a"}),
            json!({"kty":"RSA","n":1,"e":"AQAB"}),
        ] {
            assert!(sanitize_tee_pubkey(&k).is_err(), "{k}");
        }
    }

    #[test]
    fn trustee_canonicalisation_vector() {
        let v = json!({"b":1,"a":"test","c":{"d":"e"}});
        let s = serde_json_canonicalizer::to_string(&v).unwrap();
        assert_eq!(s, r#"{"a":"test","b":1,"c":{"d":"e"}}"#);
        assert_eq!(
            hex::encode(HashAlg::Sha384.digest(s.as_bytes())),
            "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3"
        );
    }
}
