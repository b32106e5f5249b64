//! Measurement events and PCR replay (SHA-256 bank): re-exported from `remits_manifest::events`
//! (the manifest format they belong to lives in `remits-manifest`).

pub use remits_manifest::events::{
    extend, initial_pcr, replay, replay_all, sha256, types, Digest32, Event,
};
