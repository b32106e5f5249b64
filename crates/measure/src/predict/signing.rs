//! Manifest signing keys (Ed25519 or ECDSA P-384): re-exported from `remits_manifest::signing`.

pub use remits_manifest::signing::{PublicKey, SigningKey, ALG_ED25519, ALG_ES384};
