//! Init-data: the TOML document a guest is launched with (CoCo `initdata`), whose digest the
//! host binds into the TEE (SNP HOST_DATA, TPM PCR8).

use serde::{Deserialize, Serialize};

use crate::binding::HashAlg;
use crate::Error;

/// Largest init-data body accepted (bytes).
pub const MAX_BODY: usize = 1 << 20;

/// Init-data as carried in a KBS `Attestation` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitData {
    /// Encoding of `body`; only `"toml"` is supported.
    pub format: String,
    /// The init-data document, exactly as launched.
    pub body: String,
}

impl InitData {
    /// The digest of the raw body, under the algorithm the document names in its top-level
    /// `algorithm` key (`sha256`, `sha384` or `sha512`).
    ///
    /// # Errors
    ///
    /// [`Error::InitData`] when the format is not `toml`, the body is too large or not TOML, or its
    /// `algorithm` is missing or unsupported.
    pub fn digest(&self) -> Result<(HashAlg, Vec<u8>), Error> {
        if self.format != "toml" {
            return Err(Error::InitData(format!(
                "format {:?} is not supported (only \"toml\")",
                self.format.chars().take(32).collect::<String>()
            )));
        }
        if self.body.len() > MAX_BODY {
            return Err(Error::InitData(format!(
                "body is {} bytes; at most {MAX_BODY}",
                self.body.len()
            )));
        }
        let doc: toml::Table = toml::from_str(&self.body)
            .map_err(|e| Error::InitData(format!("body is not TOML: {}", e.message())))?;
        let alg = doc
            .get("algorithm")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| Error::InitData("missing string key `algorithm`".into()))?;
        let alg = HashAlg::from_name(alg)
            .ok_or_else(|| Error::InitData(format!("unsupported algorithm {alg:?}")))?;
        Ok((alg, alg.digest(self.body.as_bytes())))
    }

    /// The PCR8 value a TPM shows after init-data was extended once from zero:
    /// `SHA-256(0^32 || digest)`, with the digest fitted to 32 bytes.
    ///
    /// # Errors
    ///
    /// As [`InitData::digest`].
    pub fn expected_pcr8(&self) -> Result<[u8; 32], Error> {
        use sha2::{Digest, Sha256};
        let (_, d) = self.digest()?;
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(crate::binding::fit(&d, 32));
        Ok(h.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\n\"aa.toml\" = '''\n[token_configs]\n'''\n";

    #[test]
    fn digest_follows_the_named_algorithm() {
        let d = InitData {
            format: "toml".into(),
            body: DOC.into(),
        };
        let (alg, digest) = d.digest().unwrap();
        assert_eq!(alg, HashAlg::Sha384);
        assert_eq!(digest, HashAlg::Sha384.digest(DOC.as_bytes()));
        let d256 = InitData {
            format: "toml".into(),
            body: DOC.replace("sha384", "sha256"),
        };
        assert_eq!(d256.digest().unwrap().1.len(), 32);
    }

    #[test]
    fn refuses_bad_documents() {
        for (format, body) in [
            ("json", DOC),
            ("toml", "version = 1"),
            ("toml", "algorithm = \"md5\""),
            ("toml", "not toml ["),
        ] {
            assert!(
                InitData {
                    format: format.into(),
                    body: body.into()
                }
                .digest()
                .is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn pcr8_is_one_extend_from_zero() {
        use sha2::{Digest, Sha256};
        let d = InitData {
            format: "toml".into(),
            body: DOC.into(),
        };
        let (_, digest) = d.digest().unwrap();
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(&digest[..32]);
        assert_eq!(d.expected_pcr8().unwrap(), <[u8; 32]>::from(h.finalize()));
    }
}
