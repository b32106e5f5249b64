//! The measurement manifest (JSON, format version 1): predicted PCRs, their events, the ENCLAVE
//! ID and an optional signature.
//!
//! Signature: over `"remits-measure manifest v1\0" || JCS(manifest without "signature")`
//! (RFC 8785 canonical JSON of the received document), with the key that PCR16 measures.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enclave_id;
use crate::events::{hex32, replay_all, Digest32, Event};
use crate::signing::{PublicKey, SigningKey};
use crate::Error;

/// Value of the `format` field.
pub const FORMAT: &str = "remits-measure-manifest";
/// Manifest format version implemented here.
pub const FORMAT_VERSION: u32 = 1;
/// Domain prefix of the signed payload.
pub const SIGNING_DOMAIN: &[u8] = b"remits-measure manifest v1\0";
/// The PCR holding the application (container image + enclave config).
pub const PCR_APP: u32 = 15;
/// The PCR holding the manifest signer.
pub const PCR_SIGNER: u32 = 16;

/// A 32-byte digest serialized as lowercase hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex32(pub Digest32);

impl Serialize for Hex32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(&self.0, s)
    }
}
impl<'de> Deserialize<'de> for Hex32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        hex32::deserialize(d).map(Hex32)
    }
}

/// The manifest signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// `ed25519` or `ecdsa-p384-sha384`.
    pub alg: String,
    /// Standard base64 of the signer's DER SPKI.
    pub public_key: String,
    /// Standard base64 of the signature (64 bytes Ed25519, 96 bytes r||s P-384).
    pub value: String,
}

/// A measurement manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The tool that wrote it.
    pub tool_version: String,
    /// PCR bank of every value ("sha256").
    pub bank: String,
    /// Boot chain found on the disk ("uki", "shim+grub", "grub").
    pub boot_chain: String,
    /// Predicted PCR values.
    pub pcrs: BTreeMap<u32, Hex32>,
    /// The ENCLAVE ID.
    pub enclave_id: Hex32,
    /// Version of the ENCLAVE ID definition.
    pub enclave_id_version: u8,
    /// PCRs covered by the ENCLAVE ID.
    pub enclave_id_pcrs: Vec<u32>,
    /// Events per PCR, in extend order.
    pub events: BTreeMap<u32, Vec<Event>>,
    /// Signature, if signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
}

impl Manifest {
    /// Assembles an unsigned manifest from the events of every PCR, in extend order: the PCRs
    /// are their replay and the ENCLAVE ID is computed from them (every PCR of
    /// [`enclave_id::PCRS_V1`] must have an entry). `boot_chain` (`uki`, `shim+grub`, `grub`)
    /// and `tool_version` are recorded as given. Sign with [`Manifest::sign`] afterwards; PCR16
    /// must then hold exactly the signer's event ([`PublicKey::pcr16_event`]).
    ///
    /// # Errors
    ///
    /// The ENCLAVE ID's error when a PCR of [`enclave_id::PCRS_V1`] has no entry.
    pub fn from_events(
        boot_chain: &str,
        tool_version: &str,
        events: BTreeMap<u32, Vec<Event>>,
    ) -> Result<Self, Error> {
        let pcrs = replay_all(&events);
        let id = enclave_id::enclave_id_v1(&pcrs)?;
        Ok(Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            tool_version: tool_version.into(),
            bank: "sha256".into(),
            boot_chain: boot_chain.into(),
            pcrs: pcrs.into_iter().map(|(k, v)| (k, Hex32(v))).collect(),
            enclave_id: Hex32(id),
            enclave_id_version: enclave_id::VERSION,
            enclave_id_pcrs: enclave_id::PCRS_V1.to_vec(),
            events,
            signature: None,
        })
    }

    /// The PCR15 and PCR16 digests an attester extends (in order) into a real TPM so that its
    /// PCRs match this manifest: `(pcr index, sha256 digest)`.
    pub fn extend_plan(&self) -> Vec<(u32, [u8; 32])> {
        [PCR_APP, PCR_SIGNER]
            .iter()
            .flat_map(|i| {
                self.events
                    .get(i)
                    .into_iter()
                    .flatten()
                    .map(move |e| (*i, e.digest))
            })
            .collect()
    }

    /// Signs the manifest. PCR16 must measure this key's public key.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] when PCR16 does not measure `key`, [`Error::Key`] or
    /// [`Error::Manifest`] when the payload cannot be encoded.
    pub fn sign(&mut self, key: &SigningKey) -> Result<(), Error> {
        let pk = key.public_key();
        let expected = vec![pk.pcr16_event()?];
        if self.events.get(&PCR_SIGNER) != Some(&expected) {
            return Err(Error::manifest(
                "events.16",
                "PCR16 does not measure the signing key",
            ));
        }
        self.signature = None;
        let value =
            serde_json::to_value(&*self).map_err(|e| Error::manifest("json", e.to_string()))?;
        let payload = signing_payload(value)?;
        let sig = key.sign(&payload);
        let b64 = base64::engine::general_purpose::STANDARD;
        self.signature = Some(Signature {
            alg: pk.alg().into(),
            public_key: b64.encode(pk.spki_der()?),
            value: b64.encode(sig),
        });
        Ok(())
    }

    /// The manifest as pretty JSON with a trailing newline (deterministic).
    ///
    /// # Errors
    ///
    /// [`Error::Manifest`] when encoding fails.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        let mut v =
            serde_json::to_vec_pretty(self).map_err(|e| Error::manifest("json", e.to_string()))?;
        v.push(b'\n');
        Ok(v)
    }

    /// Parses a manifest and checks that it is internally consistent: format and version,
    /// every PCR equals the replay of its events, the ENCLAVE ID matches the PCRs. The signature
    /// is not checked (see [`verify_signed`]).
    ///
    /// # Errors
    ///
    /// [`Error::Manifest`] naming the inconsistency (format, version, a PCR that is not its replay,
    /// the ENCLAVE ID).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::manifest("json", e.to_string()))?;
        if m.format != FORMAT {
            return Err(Error::manifest(
                "format",
                format!("expected {FORMAT:?}, actual {:?}", m.format),
            ));
        }
        if m.format_version != FORMAT_VERSION {
            return Err(Error::manifest(
                "format_version",
                format!("expected {FORMAT_VERSION}, actual {}", m.format_version),
            ));
        }
        if m.bank != "sha256" {
            return Err(Error::manifest(
                "bank",
                format!("expected \"sha256\", actual {:?}", m.bank),
            ));
        }
        if m.enclave_id_version != enclave_id::VERSION || m.enclave_id_pcrs != enclave_id::PCRS_V1 {
            return Err(Error::manifest(
                "enclave_id_version",
                "unsupported ENCLAVE ID version or PCR selection",
            ));
        }
        let replayed = replay_all(&m.events);
        let pcrs: BTreeMap<u32, Digest32> = m.pcrs.iter().map(|(k, v)| (*k, v.0)).collect();
        if replayed.keys().ne(pcrs.keys()) {
            return Err(Error::manifest(
                "pcrs",
                "the PCR set differs from the event set",
            ));
        }
        for (i, v) in &replayed {
            if pcrs.get(i) != Some(v) {
                return Err(Error::manifest(
                    format!("pcrs.{i}"),
                    format!(
                        "expected {} (replay of events), actual {}",
                        hex::encode(v),
                        hex::encode(pcrs.get(i).copied().unwrap_or_default())
                    ),
                ));
            }
        }
        let id = enclave_id::enclave_id_v1(&pcrs)?;
        if id != m.enclave_id.0 {
            return Err(Error::manifest(
                "enclave_id",
                format!(
                    "expected {}, actual {}",
                    hex::encode(id),
                    hex::encode(m.enclave_id.0)
                ),
            ));
        }
        Ok(m)
    }
}

fn signing_payload(mut value: Value) -> Result<Vec<u8>, Error> {
    if let Some(o) = value.as_object_mut() {
        o.remove("signature");
    }
    let mut out = SIGNING_DOMAIN.to_vec();
    out.extend(
        serde_json_canonicalizer::to_vec(&value)
            .map_err(|e| Error::manifest("json", e.to_string()))?,
    );
    Ok(out)
}

/// Verifies a signed manifest with `key`: the signature over the received document, the
/// embedded public key equals `key`, PCR16 measures `key`, and the manifest is consistent
/// ([`Manifest::from_json`]).
///
/// # Errors
///
/// [`Error::Signature`] when the manifest is unsigned, signed by another key or the signature does
/// not verify, and as `Manifest::from_json`.
pub fn verify_signed(bytes: &[u8], key: &PublicKey) -> Result<Manifest, Error> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::manifest("json", e.to_string()))?;
    let sig: Signature = value
        .get("signature")
        .cloned()
        .ok_or_else(|| Error::Signature("manifest is not signed".into()))
        .and_then(|s| {
            serde_json::from_value(s).map_err(|e| Error::manifest("signature", e.to_string()))
        })?;
    if sig.alg != key.alg() {
        return Err(Error::Signature(format!(
            "algorithm: expected {}, actual {}",
            key.alg(),
            sig.alg
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let spki = key.spki_der()?;
    let embedded = b64
        .decode(&sig.public_key)
        .map_err(|_| Error::manifest("signature.public_key", "not base64"))?;
    if embedded != spki {
        return Err(Error::Signature(
            "the manifest was signed by a different key".into(),
        ));
    }
    let raw = b64
        .decode(&sig.value)
        .map_err(|_| Error::manifest("signature.value", "not base64"))?;
    key.verify(&signing_payload(value)?, &raw)?;
    let m = Manifest::from_json(bytes)?;
    if m.events.get(&PCR_SIGNER) != Some(&vec![key.pcr16_event()?]) {
        return Err(Error::Signature(
            "PCR16 does not measure the signing key".into(),
        ));
    }
    Ok(m)
}
