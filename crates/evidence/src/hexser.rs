//! Serde helpers: `#[serde(with = "remits_evidence::hexser")]` writes `Vec<u8>` as lowercase
//! hex and reads hex in either case.

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize bytes as lowercase hex.
///
/// # Errors
///
/// Only the serializer's own errors.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Deserialize bytes from hex text (either case).
///
/// # Errors
///
/// When the value is not a string of hex digits.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    hex::decode(s.as_ref()).map_err(serde::de::Error::custom)
}
