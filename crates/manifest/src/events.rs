//! Measurement events and PCR replay (SHA-256 bank).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Digest32 {
    Sha256::digest(data).into()
}

/// TCG event type names used in manifests (PC Client PFP), plus the remits PCR15/PCR16 type.
pub mod types {
    /// EV_SEPARATOR (0x4).
    pub const EV_SEPARATOR: &str = "EV_SEPARATOR";
    /// EV_EVENT_TAG (0x6).
    pub const EV_EVENT_TAG: &str = "EV_EVENT_TAG";
    /// EV_IPL (0xD).
    pub const EV_IPL: &str = "EV_IPL";
    /// EV_EFI_BOOT_SERVICES_APPLICATION (0x80000003).
    pub const EV_EFI_BOOT_SERVICES_APPLICATION: &str = "EV_EFI_BOOT_SERVICES_APPLICATION";
    /// EV_EFI_GPT_EVENT (0x80000006).
    pub const EV_EFI_GPT_EVENT: &str = "EV_EFI_GPT_EVENT";
    /// EV_EFI_ACTION (0x80000007).
    pub const EV_EFI_ACTION: &str = "EV_EFI_ACTION";
    /// A remits application event (PCR15/PCR16), logged as EV_EVENT_TAG by the attester.
    pub const REMITS_EVENT: &str = "REMITS_EVENT";
}

/// One predicted measurement: what is extended into a PCR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Event type name (see [`types`]).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Human-readable description (file path, section name, event name).
    pub description: String,
    /// The SHA-256 digest extended into the PCR.
    #[serde(with = "hex32")]
    pub digest: Digest32,
}

impl Event {
    /// An event with the given type, description and digest.
    pub fn new(event_type: &str, description: impl Into<String>, digest: Digest32) -> Self {
        Event {
            event_type: event_type.to_owned(),
            description: description.into(),
            digest,
        }
    }
    /// An EV_EFI_ACTION whose digest is SHA-256 of the action string.
    pub fn efi_action(action: &str) -> Self {
        Event::new(types::EV_EFI_ACTION, action, sha256(action.as_bytes()))
    }
    /// EV_SEPARATOR with data `00000000`.
    pub fn separator() -> Self {
        Event::new(types::EV_SEPARATOR, "separator", sha256(&[0u8; 4]))
    }
}

/// Initial value of a PCR in the SHA-256 bank (PCRs 17-22 start at all-0xFF).
pub fn initial_pcr(index: u32) -> Digest32 {
    if (17..=22).contains(&index) {
        [0xFF; 32]
    } else {
        [0; 32]
    }
}

/// `PCR = SHA-256(PCR || digest)`.
pub fn extend(pcr: &Digest32, digest: &Digest32) -> Digest32 {
    let mut h = Sha256::new();
    h.update(pcr);
    h.update(digest);
    h.finalize().into()
}

/// Replays `events` into PCR `index` from its initial value.
pub fn replay(index: u32, events: &[Event]) -> Digest32 {
    events
        .iter()
        .fold(initial_pcr(index), |pcr, e| extend(&pcr, &e.digest))
}

/// Replays every PCR of an event map.
pub fn replay_all(events: &BTreeMap<u32, Vec<Event>>) -> BTreeMap<u32, Digest32> {
    events.iter().map(|(i, ev)| (*i, replay(*i, ev))).collect()
}

/// serde helper: `[u8; 32]` as lowercase hex.
pub(crate) mod hex32 {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(D::Error::custom)
    }
    /// Strict parse: exactly 64 lowercase hex digits.
    pub(crate) fn parse(s: &str) -> Result<[u8; 32], String> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!("expected 64 lowercase hex digits, got {s:?}"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separator_digest_matches_the_tcg_value() {
        assert_eq!(
            hex::encode(Event::separator().digest),
            "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"
        );
        assert_eq!(
            hex::encode(Event::efi_action("Calling EFI Application from Boot Option").digest),
            "3d6772b4f84ed47595d72a2c4c5ffd15f5bb72c7507fe26f2aaee2c69d5633ba"
        );
    }

    #[test]
    fn drtm_pcrs_start_at_ff() {
        assert_eq!(initial_pcr(17), [0xFF; 32]);
        assert_eq!(initial_pcr(16), [0; 32]);
        assert_eq!(replay(15, &[]), [0; 32]);
    }
}
