//! The CPU generation (Milan, Genoa, Turin): decides the TCB layout and the AMD chain.

use serde::{Deserialize, Serialize};

use crate::Error;

/// An AMD EPYC generation with SEV-SNP. Bergamo and Siena count as Genoa (KDS product `Genoa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// EPYC 7003 (Zen 3), family 19h models 00h-0Fh.
    Milan,
    /// EPYC 9004/8004 (Zen 4), family 19h models 10h-1Fh and A0h-AFh.
    Genoa,
    /// EPYC 9005 (Zen 5), family 1Ah models 00h-11h.
    Turin,
}

impl Generation {
    /// All supported generations.
    pub const ALL: [Generation; 3] = [Generation::Milan, Generation::Genoa, Generation::Turin];

    /// The KDS product name and the suffix of AMD's CA common names (`Milan`, `Genoa`, `Turin`).
    pub fn product(self) -> &'static str {
        match self {
            Generation::Milan => "Milan",
            Generation::Genoa => "Genoa",
            Generation::Turin => "Turin",
        }
    }

    /// The structVersion AMD puts in this generation's VCEK/VLEK (0 Milan/Genoa, 1 Turin).
    pub fn struct_version(self) -> u32 {
        match self {
            Generation::Milan | Generation::Genoa => 0,
            Generation::Turin => 1,
        }
    }

    /// Whether TCB_VERSION has the FMC field (Turin layout).
    pub fn has_fmc(self) -> bool {
        self == Generation::Turin
    }

    /// Identify the generation from CPUID family and model (report v3+).
    ///
    /// Venice (family 1Ah models 50h-57h, 90h-AFh, C0h-C7h) is recognised but not supported: AMD
    /// publishes no chain for it yet, so it is an error like any unknown model.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCpu`] for a family and model that is not Milan, Genoa or Turin.
    pub fn from_cpuid(family: u8, model: u8) -> Result<Self, Error> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Ok(Generation::Milan),
            (0x19, 0x10..=0x1F) | (0x19, 0xA0..=0xAF) => Ok(Generation::Genoa),
            (0x1A, 0x00..=0x11) => Ok(Generation::Turin),
            _ => Err(Error::UnknownCpu { family, model }),
        }
    }

    /// Parse a KDS product name or certificate productName (`Milan-B0` → Milan).
    pub fn from_product_name(name: &str) -> Option<Self> {
        let base = name.split('-').next().unwrap_or(name);
        Generation::ALL.into_iter().find(|g| g.product() == base)
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Generation::Milan => "milan",
            Generation::Genoa => "genoa",
            Generation::Turin => "turin",
        })
    }
}

impl std::str::FromStr for Generation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "milan" => Ok(Generation::Milan),
            "genoa" => Ok(Generation::Genoa),
            "turin" => Ok(Generation::Turin),
            _ => Err(format!("unknown generation {s:?} (milan, genoa or turin)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_table() {
        assert_eq!(
            Generation::from_cpuid(0x19, 0x01).unwrap(),
            Generation::Milan
        );
        assert_eq!(
            Generation::from_cpuid(0x19, 0x11).unwrap(),
            Generation::Genoa
        );
        assert_eq!(
            Generation::from_cpuid(0x19, 0xA0).unwrap(),
            Generation::Genoa
        );
        assert_eq!(
            Generation::from_cpuid(0x19, 0xAF).unwrap(),
            Generation::Genoa
        );
        assert_eq!(
            Generation::from_cpuid(0x1A, 0x02).unwrap(),
            Generation::Turin
        );
        assert!(Generation::from_cpuid(0x19, 0x20).is_err());
        assert!(Generation::from_cpuid(0x1A, 0x50).is_err());
        assert!(Generation::from_cpuid(0x17, 0x31).is_err());
    }

    #[test]
    fn product_names() {
        assert_eq!(
            Generation::from_product_name("Milan-B0"),
            Some(Generation::Milan)
        );
        assert_eq!(
            Generation::from_product_name("Genoa"),
            Some(Generation::Genoa)
        );
        assert_eq!(
            Generation::from_product_name("Turin"),
            Some(Generation::Turin)
        );
        assert_eq!(Generation::from_product_name("Venice"), None);
        assert_eq!(Generation::from_product_name(""), None);
    }
}
