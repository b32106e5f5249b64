//! The namespaces of the store.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// A namespace: a separate key space. The string names ([`Namespace::as_str`]) are stable: they
/// are written to disk and to the PostgreSQL `ns` column, and they are part of the authenticated
/// data of every encrypted value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Namespace {
    /// Secrets served by the broker, keyed `repo/type/tag`. Never stored in clear without an
    /// explicit `allow_plaintext`.
    Resource,
    /// The resource (release) policy.
    ResourcePolicy,
    /// Attestation policies, keyed by policy id.
    AttestationPolicy,
    /// Reference values.
    ReferenceValue,
    /// Broker handshake sessions (short-lived, with expiry).
    Session,
    /// Miscellaneous configuration.
    Config,
    /// SEV pre-launch sessions: the guest owner's transport keys (TEK/TIK) between session
    /// start and measurement check, single use, with expiry. Secret (never stored in clear
    /// without `allow_plaintext`) and keyed by credentials (session ids).
    LaunchSession,
}

impl Namespace {
    /// Every namespace.
    pub const ALL: [Namespace; 7] = [
        Namespace::Resource,
        Namespace::ResourcePolicy,
        Namespace::AttestationPolicy,
        Namespace::ReferenceValue,
        Namespace::Session,
        Namespace::Config,
        Namespace::LaunchSession,
    ];

    /// The stable name: `resource`, `resource-policy`, `attestation-policy`, `reference-value`,
    /// `session`, `config`, `launch-session`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Namespace::Resource => "resource",
            Namespace::ResourcePolicy => "resource-policy",
            Namespace::AttestationPolicy => "attestation-policy",
            Namespace::ReferenceValue => "reference-value",
            Namespace::Session => "session",
            Namespace::Config => "config",
            Namespace::LaunchSession => "launch-session",
        }
    }

    /// The position of this namespace in [`Namespace::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Namespace::Resource => 0,
            Namespace::ResourcePolicy => 1,
            Namespace::AttestationPolicy => 2,
            Namespace::ReferenceValue => 3,
            Namespace::Session => 4,
            Namespace::Config => 5,
            Namespace::LaunchSession => 6,
        }
    }

    /// Whether values of this namespace are secrets that must not be stored in clear.
    pub const fn is_secret(self) -> bool {
        matches!(self, Namespace::Resource | Namespace::LaunchSession)
    }

    /// Whether keys of this namespace are themselves credentials (session ids), so they are
    /// kept out of error messages.
    pub(crate) const fn key_is_credential(self) -> bool {
        matches!(self, Namespace::Session | Namespace::LaunchSession)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Namespace {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Namespace::ALL
            .into_iter()
            .find(|ns| ns.as_str() == s)
            .ok_or_else(|| StoreError::UnknownNamespace(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for (i, ns) in Namespace::ALL.into_iter().enumerate() {
            assert_eq!(ns.index(), i);
            assert_eq!(ns.as_str().parse::<Namespace>().unwrap(), ns);
            assert!(seen.insert(ns.as_str()));
        }
        assert!("nope".parse::<Namespace>().is_err());
    }
}
