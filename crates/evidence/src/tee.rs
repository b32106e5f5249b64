use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A kind of trusted execution environment, named as the CoCo KBS protocol names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TeeKind {
    /// AMD SEV-SNP attestation report with a VCEK or VLEK endorsement.
    #[serde(rename = "snp")]
    Snp,
    /// Azure confidential VM: SEV-SNP report bound to a paravisor vTPM quote.
    #[serde(rename = "az-snp-vtpm")]
    AzSnpVtpm,
    /// TPM 2.0 quote (physical, software or virtual TPM).
    #[serde(rename = "tpm")]
    Tpm,
    /// CoCo's development TEE: proves nothing, refused unless explicitly enabled.
    #[serde(rename = "sample")]
    Sample,
}

impl TeeKind {
    /// Every kind, in a stable order.
    pub const ALL: [TeeKind; 4] = [
        TeeKind::Snp,
        TeeKind::AzSnpVtpm,
        TeeKind::Tpm,
        TeeKind::Sample,
    ];

    /// The protocol name (`"snp"`, `"az-snp-vtpm"`, `"tpm"`, `"sample"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TeeKind::Snp => "snp",
            TeeKind::AzSnpVtpm => "az-snp-vtpm",
            TeeKind::Tpm => "tpm",
            TeeKind::Sample => "sample",
        }
    }
}

impl fmt::Display for TeeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TeeKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        TeeKind::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownTee(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in TeeKind::ALL {
            assert_eq!(t.as_str().parse::<TeeKind>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<TeeKind>(&json).unwrap(), t);
        }
        assert!("SNP".parse::<TeeKind>().is_err());
        assert!("tdx".parse::<TeeKind>().is_err());
    }
}
