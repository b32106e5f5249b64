//! The ocicrypt **key provider protocol** (command form) with CoCo's annotation packet.
//!
//! ocicrypt (skopeo, buildah, containerd's imgcrypt, CoCo's image-rs) encrypts each layer with a
//! fresh symmetric key and hands the layer's *private options* (`optsdata`: a JSON object carrying
//! that key) to a key provider, which wraps it and returns an *annotation* stored in the image as
//! `org.opencontainers.image.enc.keys.provider.<name>`. To decrypt, ocicrypt sends the annotation
//! back and expects the `optsdata` in return.
//!
//! Messages (checked against `containers/ocicrypt` `keywrap/keyprovider/keyprovider.go`):
//!
//! ```text
//! stdin  {"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"<name>":["<b64 params>"]},
//!                                              "DecryptConfig":{"Parameters":{}}},
//!                                        "optsdata":"<b64>"}, "keyunwrapparams":{...}}
//! stdout {"keywrapresults":{"annotation":"<b64 annotation packet JSON>"}}
//! stdin  {"op":"keyunwrap","keyunwrapparams":{"dc":{"Parameters":{...}},"annotation":"<b64>"}, ...}
//! stdout {"keyunwrapresults":{"optsdata":"<b64>"}}
//! ```
//!
//! Byte fields are Go `[]byte`, i.e. standard padded base64 in JSON. The annotation is CoCo's
//! `AnnotationPacket` (`guest-components` `coco_keyprovider` / `confidential-data-hub` `image`):
//! `{"kid":"kbs:///<repo>/<type>/<tag>","wrapped_data":"<b64>","iv":"<b64>","wrap_type":"A256GCM"}`
//! where `wrapped_data` is AES-256-GCM(KEK, iv, optsdata) with the 16-byte tag appended and the
//! KEK is the 32-byte KBS resource named by `kid`.

use std::collections::BTreeMap;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::protocol::ResourcePath;

/// Largest request read from stdin (an `optsdata` is a few hundred bytes).
pub const MAX_REQUEST_BYTES: u64 = 1 << 20;
/// The only wrap type produced and accepted: AES-256-GCM.
pub const WRAP_TYPE_A256GCM: &str = "A256GCM";
/// Annotation packet version CoCo's v2 packet writes (accepted when present).
pub const PACKET_VERSION: &str = "0.1.0";
/// Size of a key-encryption key (AES-256).
pub const KEK_LEN: usize = 32;
/// Size of the AES-GCM IV.
pub const IV_LEN: usize = 12;
/// Annotation-key prefix ocicrypt uses for key providers.
pub const ANNOTATION_PREFIX: &str = "org.opencontainers.image.enc.keys.provider.";

/// Why a key-provider request failed. Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProviderError {
    /// The request is larger than [`MAX_REQUEST_BYTES`].
    #[error("request larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    /// The request is not the protocol JSON.
    #[error("request is not a key-provider message: {0}")]
    Request(String),
    /// `op` is neither `keywrap` nor `keyunwrap`.
    #[error("op: unsupported operation {0:?} (expected keywrap or keyunwrap)")]
    Operation(String),
    /// A required field is absent.
    #[error("{0}: missing")]
    Missing(&'static str),
    /// A field is not valid base64.
    #[error("{0}: not base64")]
    Base64(&'static str),
    /// The wrap parameters (`provider:<name>:<params>`) are malformed.
    #[error("parameters: {0}")]
    Parameters(String),
    /// `kid` does not name a KBS resource.
    #[error("kid {kid:?}: {reason}")]
    KeyId {
        /// The key id given.
        kid: String,
        /// Why it was refused.
        reason: String,
    },
    /// The annotation is not an annotation packet.
    #[error("annotation: not a CoCo annotation packet: {0}")]
    Annotation(String),
    /// An algorithm other than A256GCM.
    #[error("wrap_type {0:?}: only A256GCM is accepted (A256CTR has no integrity)")]
    WrapType(String),
    /// A v2 packet for another provider (a KMS) or version.
    #[error("annotation {field}: {value:?} is not supported (expected {expected:?})")]
    Unsupported {
        /// Field.
        field: &'static str,
        /// Value found.
        value: String,
        /// Value accepted.
        expected: &'static str,
    },
    /// The KEK is not 32 bytes.
    #[error("key-encryption key: {0} bytes, expected 32")]
    KekLength(usize),
    /// The IV is not 12 bytes.
    #[error("iv: {0} bytes, expected 12")]
    IvLength(usize),
    /// AES-GCM authentication failed: wrong KEK or a modified annotation.
    #[error(
        "wrapped_data: authentication failed (wrong key-encryption key or modified annotation)"
    )]
    Unwrap,
    /// AES-GCM encryption failed.
    #[error("wrapping failed")]
    Wrap,
}

/// Go `[]byte` in JSON: standard padded base64 or `null`.
#[derive(Default)]
struct GoBytes(Option<Zeroizing<Vec<u8>>>);

impl<'de> Deserialize<'de> for GoBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Option<Zeroizing<String>> = Option::deserialize(d)?.map(Zeroizing::new);
        match s {
            None => Ok(GoBytes(None)),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map(|v| GoBytes(Some(Zeroizing::new(v))))
                .map_err(|_| serde::de::Error::custom("not base64")),
        }
    }
}

/// ocicrypt's `Parameters` map (`map[string][][]byte`).
#[derive(Deserialize, Default)]
struct Params {
    #[serde(rename = "Parameters", alias = "parameters", default)]
    parameters: Option<BTreeMap<String, Option<Vec<GoBytes>>>>,
}

#[derive(Deserialize, Default)]
struct WrapParams {
    #[serde(default)]
    ec: Option<Params>,
    #[serde(default)]
    optsdata: GoBytes,
}

#[derive(Deserialize, Default)]
struct UnwrapParams {
    #[serde(default)]
    annotation: GoBytes,
}

#[derive(Deserialize)]
struct Input {
    op: String,
    #[serde(default)]
    keywrapparams: Option<WrapParams>,
    #[serde(default)]
    keyunwrapparams: Option<UnwrapParams>,
}

/// A parsed key-provider request.
pub enum Request {
    /// Wrap `optsdata` with the parameters given for this provider.
    Wrap {
        /// The provider's parameter string (`provider:<name>:<params>` after the name).
        params: String,
        /// ocicrypt's private layer options (contains the layer key).
        optsdata: Zeroizing<Vec<u8>>,
    },
    /// Unwrap this annotation.
    Unwrap {
        /// The decoded annotation packet.
        packet: AnnotationPacket,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Wrap { params, .. } => f
                .debug_struct("Wrap")
                .field("params", params)
                .finish_non_exhaustive(),
            Request::Unwrap { packet } => {
                f.debug_struct("Unwrap").field("kid", &packet.kid).finish()
            }
        }
    }
}

impl Request {
    /// Parses the JSON ocicrypt writes to the command's stdin. `provider` is the name this
    /// command is registered under in `OCICRYPT_KEYPROVIDER_CONFIG` (its parameters are taken
    /// from `ec.Parameters[provider]`).
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::TooLarge`] for oversized input, [`KeyProviderError::Request`] when it is
    /// not the JSON ocicrypt writes, [`KeyProviderError::Operation`] for an unknown operation,
    /// [`KeyProviderError::Missing`] or [`KeyProviderError::Parameters`] when the parameters for
    /// `provider` are missing or malformed.
    pub fn parse(input: &[u8], provider: &str) -> Result<Self, KeyProviderError> {
        if input.len() as u64 > MAX_REQUEST_BYTES {
            return Err(KeyProviderError::TooLarge);
        }
        let input: Input =
            serde_json::from_slice(input).map_err(|e| KeyProviderError::Request(e.to_string()))?;
        match input.op.as_str() {
            "keywrap" => {
                let p = input
                    .keywrapparams
                    .ok_or(KeyProviderError::Missing("keywrapparams"))?;
                let optsdata = p
                    .optsdata
                    .0
                    .ok_or(KeyProviderError::Missing("keywrapparams.optsdata"))?;
                let list =
                    p.ec.and_then(|ec| ec.parameters)
                        .and_then(|mut m| m.remove(provider))
                        .flatten()
                        .ok_or(KeyProviderError::Missing(
                            "keywrapparams.ec.Parameters[provider]",
                        ))?;
                let first =
                    list.into_iter()
                        .next()
                        .and_then(|b| b.0)
                        .ok_or(KeyProviderError::Missing(
                            "keywrapparams.ec.Parameters[provider][0]",
                        ))?;
                let params = String::from_utf8(first.to_vec())
                    .map_err(|_| KeyProviderError::Parameters("not UTF-8".into()))?;
                Ok(Request::Wrap { params, optsdata })
            }
            "keyunwrap" => {
                let p = input
                    .keyunwrapparams
                    .ok_or(KeyProviderError::Missing("keyunwrapparams"))?;
                let annotation = p
                    .annotation
                    .0
                    .ok_or(KeyProviderError::Missing("keyunwrapparams.annotation"))?;
                Ok(Request::Unwrap {
                    packet: AnnotationPacket::parse(&annotation)?,
                })
            }
            other => Err(KeyProviderError::Operation(
                other.chars().take(64).collect(),
            )),
        }
    }
}

/// The `keywrap` answer: `{"keywrapresults":{"annotation":"<b64>"}}`.
pub fn wrap_response(annotation: &[u8]) -> Vec<u8> {
    let v = serde_json::json!({"keywrapresults": {"annotation": STANDARD.encode(annotation)}});
    v.to_string().into_bytes()
}

/// The `keyunwrap` answer: `{"keyunwrapresults":{"optsdata":"<b64>"}}` (zeroized on drop).
pub fn unwrap_response(optsdata: &[u8]) -> Zeroizing<Vec<u8>> {
    let b64 = Zeroizing::new(STANDARD.encode(optsdata));
    let mut out = Zeroizing::new(Vec::with_capacity(b64.len() + 40));
    out.extend_from_slice(br#"{"keyunwrapresults":{"optsdata":""#);
    out.extend_from_slice(b64.as_bytes());
    out.extend_from_slice(br#""}}"#);
    out
}

/// A key id: the KBS resource holding the KEK. Written as `kbs:///<repo>/<type>/<tag>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId {
    path: ResourcePath,
}

impl KeyId {
    /// Parses the forms CoCo accepts: `kbs:///<r>/<t>/<g>`, `kbs://<addr>/<r>/<t>/<g>`,
    /// `kbs+<plugin>:///…`, `/<r>/<t>/<g>` and `<addr>/<r>/<t>/<g>`. The address part is
    /// ignored (the broker is the one the key provider is configured with), as CoCo does.
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::KeyId`] when `kid` is none of these forms or its path is not
    /// `repo/type/tag`.
    pub fn parse(kid: &str) -> Result<Self, KeyProviderError> {
        let err = |reason: &str| KeyProviderError::KeyId {
            kid: kid.chars().take(256).collect(),
            reason: reason.into(),
        };
        let rest = if let Some(r) = kid.strip_prefix("kbs://") {
            r
        } else if let Some((scheme, r)) = kid.split_once("://") {
            if scheme.starts_with("kbs+") {
                r
            } else {
                return Err(err("scheme must be kbs://"));
            }
        } else {
            kid
        };
        let (_addr, path) = rest
            .split_once('/')
            .ok_or_else(|| err("expected kbs:///<repo>/<type>/<tag>"))?;
        let path = ResourcePath::parse(path).map_err(|e| err(&e.0))?;
        Ok(Self { path })
    }

    /// The resource path `<repo>/<type>/<tag>`.
    pub fn resource_path(&self) -> String {
        self.path.to_string()
    }

    /// The canonical form `kbs:///<repo>/<type>/<tag>`.
    pub fn uri(&self) -> String {
        format!("kbs:///{}", self.path)
    }
}

/// CoCo's annotation packet (v1 fields; v2's `version`/`provider` accepted when they say
/// `0.1.0`/`kbs`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnnotationPacket {
    /// The KBS resource holding the KEK.
    pub kid: String,
    /// AES-256-GCM ciphertext and tag of `optsdata`, standard base64.
    pub wrapped_data: String,
    /// The 12-byte IV, standard base64.
    pub iv: String,
    /// `A256GCM`.
    pub wrap_type: String,
}

#[derive(Deserialize)]
struct PacketIn {
    #[serde(default)]
    version: Option<String>,
    kid: String,
    wrapped_data: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    iv: Option<String>,
    #[serde(default)]
    wrap_type: Option<String>,
}

impl AnnotationPacket {
    /// Parses the annotation JSON (v1, or v2 with provider `kbs`).
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::Annotation`] when it is not such JSON, [`KeyProviderError::Unsupported`]
    /// for another version or provider, [`KeyProviderError::Missing`] for a missing member.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyProviderError> {
        let p: PacketIn = serde_json::from_slice(bytes)
            .map_err(|e| KeyProviderError::Annotation(e.to_string()))?;
        if let Some(v) = p.version.filter(|v| v != PACKET_VERSION) {
            return Err(KeyProviderError::Unsupported {
                field: "version",
                value: v,
                expected: PACKET_VERSION,
            });
        }
        if let Some(pr) = p.provider.filter(|pr| pr != "kbs") {
            return Err(KeyProviderError::Unsupported {
                field: "provider",
                value: pr,
                expected: "kbs",
            });
        }
        Ok(Self {
            kid: p.kid,
            wrapped_data: p.wrapped_data,
            iv: p.iv.ok_or(KeyProviderError::Missing("annotation.iv"))?,
            wrap_type: p
                .wrap_type
                .ok_or(KeyProviderError::Missing("annotation.wrap_type"))?,
        })
    }

    /// The key id, validated.
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::KeyId`] when the key id does not parse.
    pub fn key_id(&self) -> Result<KeyId, KeyProviderError> {
        KeyId::parse(&self.kid)
    }

    /// Checks everything but the key: wrap type, base64, IV length, key id. Done before the
    /// broker is contacted, so a malformed image costs no attestation.
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::WrapType`], [`KeyProviderError::Base64`], [`KeyProviderError::IvLength`]
    /// or [`KeyProviderError::KeyId`] for the first check that fails.
    pub fn check(&self) -> Result<KeyId, KeyProviderError> {
        if self.wrap_type != WRAP_TYPE_A256GCM {
            return Err(KeyProviderError::WrapType(
                self.wrap_type.chars().take(32).collect(),
            ));
        }
        let iv = STANDARD
            .decode(&self.iv)
            .map_err(|_| KeyProviderError::Base64("annotation.iv"))?;
        if iv.len() != IV_LEN {
            return Err(KeyProviderError::IvLength(iv.len()));
        }
        STANDARD
            .decode(&self.wrapped_data)
            .map_err(|_| KeyProviderError::Base64("annotation.wrapped_data"))?;
        self.key_id()
    }

    /// Decrypts `wrapped_data` with `kek`: the `optsdata` (zeroized on drop).
    ///
    /// # Errors
    ///
    /// As [`AnnotationPacket::check`], [`KeyProviderError::KekLength`] for a KEK that is not 32
    /// bytes, [`KeyProviderError::Unwrap`] when the tag does not verify.
    pub fn unwrap(&self, kek: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyProviderError> {
        self.check()?;
        let cipher = aead(kek)?;
        let iv = STANDARD
            .decode(&self.iv)
            .map_err(|_| KeyProviderError::Base64("annotation.iv"))?;
        let iv: [u8; IV_LEN] = iv
            .as_slice()
            .try_into()
            .map_err(|_| KeyProviderError::IvLength(iv.len()))?;
        let mut buf = Zeroizing::new(
            STANDARD
                .decode(&self.wrapped_data)
                .map_err(|_| KeyProviderError::Base64("annotation.wrapped_data"))?,
        );
        if buf.len() < 16 {
            return Err(KeyProviderError::Unwrap);
        }
        let tag_at = buf.len() - 16;
        let tag: [u8; 16] = buf
            .get(tag_at..)
            .and_then(|t| t.try_into().ok())
            .ok_or(KeyProviderError::Unwrap)?;
        buf.truncate(tag_at);
        cipher
            .decrypt_in_place_detached(&Nonce::from(iv), b"", &mut buf[..], &tag.into())
            .map_err(|_| {
                buf.zeroize();
                KeyProviderError::Unwrap
            })?;
        Ok(buf)
    }

    /// The packet as JSON (what goes, base64-encoded by ocicrypt, into the image).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({
            "kid": self.kid,
            "wrapped_data": self.wrapped_data,
            "iv": self.iv,
            "wrap_type": self.wrap_type,
        })
        .to_string()
        .into_bytes()
    }
}

fn aead(kek: &[u8]) -> Result<Aes256Gcm, KeyProviderError> {
    if kek.len() != KEK_LEN {
        return Err(KeyProviderError::KekLength(kek.len()));
    }
    Aes256Gcm::new_from_slice(kek).map_err(|_| KeyProviderError::KekLength(kek.len()))
}

/// Wraps `optsdata` under `kek` (AES-256-GCM, random 12-byte IV from `rng`) for `kid`.
///
/// # Errors
///
/// [`KeyProviderError::KekLength`] for a KEK that is not 32 bytes, [`KeyProviderError::Wrap`] when
/// encryption fails.
pub fn wrap<R: RngCore + CryptoRng>(
    kid: &KeyId,
    kek: &[u8],
    optsdata: &[u8],
    rng: &mut R,
) -> Result<AnnotationPacket, KeyProviderError> {
    let cipher = aead(kek)?;
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    let mut buf = Zeroizing::new(optsdata.to_vec());
    let tag = cipher
        .encrypt_in_place_detached(&Nonce::from(iv), b"", &mut buf[..])
        .map_err(|_| KeyProviderError::Wrap)?;
    buf.extend_from_slice(&tag);
    Ok(AnnotationPacket {
        kid: kid.uri(),
        wrapped_data: STANDARD.encode(&buf[..]),
        iv: STANDARD.encode(iv),
        wrap_type: WRAP_TYPE_A256GCM.into(),
    })
}

/// Where the wrap side takes the KEK from.
#[derive(Debug, PartialEq, Eq)]
pub enum KekSource {
    /// A local 32-byte file (`keypath=`, as CoCo's `coco_keyprovider`).
    File(std::path::PathBuf),
    /// None named in the parameters: the command's own default (a `--kek-file`, or a fresh
    /// random KEK stored at `kid` through the broker's admin API).
    Default,
}

/// The wrap parameters: `provider:<name>:<params>`, where `<params>` is either a bare key id
/// (`kbs:///<repo>/<type>/<tag>`) or CoCo's `keyid=<kid>::keypath=<file>[::algorithm=A256GCM]`.
#[derive(Debug, PartialEq, Eq)]
pub struct WrapRequest {
    /// The KEK's resource.
    pub kid: KeyId,
    /// Where the KEK comes from.
    pub kek: KekSource,
}

impl WrapRequest {
    /// Parses the parameter string. `sample=true` (CoCo's hard-coded key) and any algorithm
    /// but A256GCM are refused; a key id is required (CoCo would invent one).
    ///
    /// # Errors
    ///
    /// [`KeyProviderError::Parameters`] for a malformed string or a refused option,
    /// [`KeyProviderError::Missing`] without a key id, [`KeyProviderError::WrapType`] for another
    /// algorithm.
    pub fn parse(params: &str) -> Result<Self, KeyProviderError> {
        let params = params.trim();
        if !params.contains('=') {
            return Ok(Self {
                kid: KeyId::parse(params)?,
                kek: KekSource::Default,
            });
        }
        let mut kid = None;
        let mut kek = KekSource::Default;
        for field in params.split("::").filter(|f| !f.is_empty()) {
            let (k, v) = field.split_once('=').ok_or_else(|| {
                KeyProviderError::Parameters(format!("{field:?}: expected key=value"))
            })?;
            match k {
                "keyid" => kid = Some(KeyId::parse(v)?),
                "keypath" => kek = KekSource::File(v.into()),
                "algorithm" if v == WRAP_TYPE_A256GCM => {}
                "algorithm" => {
                    return Err(KeyProviderError::WrapType(v.chars().take(32).collect()))
                }
                "sample" if v == "false" => {}
                "sample" => {
                    return Err(KeyProviderError::Parameters(
                        "sample=true (a hard-coded public key) is refused".into(),
                    ))
                }
                other => {
                    return Err(KeyProviderError::Parameters(format!(
                        "unknown parameter {:?} (expected keyid, keypath, algorithm)",
                        other.chars().take(32).collect::<String>()
                    )))
                }
            }
        }
        Ok(Self {
            kid: kid.ok_or(KeyProviderError::Missing("parameters.keyid"))?,
            kek,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_wrap_request(name: &str, params: &[u8], optsdata: &[u8]) -> Vec<u8> {
        // Exactly what ocicrypt 1.1 marshals (Go struct field names, []byte as base64, the
        // unused side zero-valued).
        format!(
            r#"{{"op":"keywrap","keywrapparams":{{"ec":{{"Parameters":{{"{name}":["{}"]}},"DecryptConfig":{{"Parameters":null}}}},"optsdata":"{}"}},"keyunwrapparams":{{"dc":null,"annotation":null}}}}"#,
            STANDARD.encode(params),
            STANDARD.encode(optsdata)
        )
        .into_bytes()
    }

    #[test]
    fn wrap_then_unwrap_round_trips_through_the_protocol() {
        let optsdata = br#"{"symkey":"c2VjcmV0IGxheWVyIGtleQ==","cipheroptions":{"nonce":"AAAA"}}"#;
        let req = go_wrap_request("remits", b"kbs:///default/image-kek/app", optsdata);
        let Request::Wrap {
            params,
            optsdata: got,
        } = Request::parse(&req, "remits").unwrap()
        else {
            panic!("not a wrap request");
        };
        assert_eq!(&got[..], optsdata);
        let w = WrapRequest::parse(&params).unwrap();
        assert_eq!(w.kek, KekSource::Default);
        let kek = [7u8; 32];
        let packet = wrap(&w.kid, &kek, &got, &mut rand_core::OsRng).unwrap();
        assert_eq!(packet.kid, "kbs:///default/image-kek/app");
        let resp: serde_json::Value =
            serde_json::from_slice(&wrap_response(&packet.to_json())).unwrap();
        let ann = resp["keywrapresults"]["annotation"].as_str().unwrap();
        assert!(!ann.contains("c2VjcmV0"));

        let unwrap_req = format!(
            r#"{{"op":"keyunwrap","keywrapparams":{{"ec":null,"optsdata":null}},"keyunwrapparams":{{"dc":{{"Parameters":{{"remits":null}}}},"annotation":"{ann}"}}}}"#
        );
        let Request::Unwrap { packet } = Request::parse(unwrap_req.as_bytes(), "remits").unwrap()
        else {
            panic!("not an unwrap request");
        };
        assert_eq!(
            packet.check().unwrap().resource_path(),
            "default/image-kek/app"
        );
        assert_eq!(&packet.unwrap(&kek).unwrap()[..], optsdata);
        assert!(matches!(
            packet.unwrap(&[8u8; 32]),
            Err(KeyProviderError::Unwrap)
        ));
        let out: serde_json::Value = serde_json::from_slice(&unwrap_response(optsdata)).unwrap();
        assert_eq!(
            STANDARD
                .decode(out["keyunwrapresults"]["optsdata"].as_str().unwrap())
                .unwrap(),
            optsdata
        );
    }

    #[test]
    fn coco_parameter_forms_and_refusals() {
        let w =
            WrapRequest::parse("keyid=kbs:///default/key/key_id1::keypath=/k::algorithm=A256GCM")
                .unwrap();
        assert_eq!(w.kid.uri(), "kbs:///default/key/key_id1");
        assert_eq!(w.kek, KekSource::File("/k".into()));
        for kid in [
            "kbs:///a/b/c",
            "kbs://kbs.example:8080/a/b/c",
            "kbs+pkcs11:///a/b/c",
            "/a/b/c",
            "host/a/b/c",
        ] {
            assert_eq!(KeyId::parse(kid).unwrap().resource_path(), "a/b/c", "{kid}");
        }
        for bad in [
            "kbs:///a/b",
            "http://x/a/b/c",
            "kbs:///a/b/c/d",
            "kbs:///../b/c",
            "",
        ] {
            assert!(KeyId::parse(bad).is_err(), "{bad}");
        }
        assert!(WrapRequest::parse("sample=true").is_err());
        assert!(WrapRequest::parse("keyid=kbs:///a/b/c::algorithm=A256CTR").is_err());
        assert!(WrapRequest::parse("keypath=/k").is_err());
        assert!(WrapRequest::parse("keyid=kbs:///a/b/c::bogus=1").is_err());
    }

    #[test]
    fn malformed_requests_and_packets_are_typed_errors() {
        assert!(matches!(
            Request::parse(b"{\"op\":\"nope\"}", "remits"),
            Err(KeyProviderError::Operation(_))
        ));
        assert!(matches!(
            Request::parse(b"not json", "remits"),
            Err(KeyProviderError::Request(_))
        ));
        let big = vec![b' '; MAX_REQUEST_BYTES as usize + 1];
        assert!(matches!(
            Request::parse(&big, "remits"),
            Err(KeyProviderError::TooLarge)
        ));
        // Parameters for another provider only.
        let req = go_wrap_request("other", b"kbs:///a/b/c", b"{}");
        assert!(matches!(
            Request::parse(&req, "remits"),
            Err(KeyProviderError::Missing(_))
        ));
        // v2 packets: kbs accepted, a KMS refused.
        let v2 = br#"{"version":"0.1.0","provider":"kbs","kid":"kbs:///a/b/c","wrapped_data":"AAAAAAAAAAAAAAAAAAAAAA==","iv":"AAAAAAAAAAAAAAAA","wrap_type":"A256GCM","provider_settings":{},"annotations":{}}"#;
        assert!(AnnotationPacket::parse(v2).unwrap().check().is_ok());
        let kms = br#"{"version":"0.1.0","provider":"aliyun","kid":"x","wrapped_data":"AA=="}"#;
        assert!(matches!(
            AnnotationPacket::parse(kms),
            Err(KeyProviderError::Unsupported {
                field: "provider",
                ..
            })
        ));
        let ctr = br#"{"kid":"kbs:///a/b/c","wrapped_data":"AA==","iv":"AAAAAAAAAAAAAAAA","wrap_type":"A256CTR"}"#;
        assert!(matches!(
            AnnotationPacket::parse(ctr).unwrap().check(),
            Err(KeyProviderError::WrapType(_))
        ));
        let short_kek = AnnotationPacket::parse(v2).unwrap().unwrap(&[0u8; 16]);
        assert!(matches!(short_kek, Err(KeyProviderError::KekLength(16))));
    }
}
