//! vCPU types and CPUID signatures (the value QEMU leaves in RDX at reset).

use super::Error;

/// The CPUID Fn0000_0001_EAX signature for a family, model and stepping (AMD CPUID
/// specification #25481): families above 0xF use base family 0xF plus an extended family.
pub fn cpu_sig(family: u32, model: u32, stepping: u32) -> u32 {
    let (fam_lo, fam_hi) = if family > 0xf {
        (0xf, (family - 0xf) & 0xff)
    } else {
        (family, 0)
    };
    (fam_hi << 20)
        | (((model >> 4) & 0xf) << 16)
        | (fam_lo << 8)
        | ((model & 0xf) << 4)
        | (stepping & 0xf)
}

/// The QEMU CPU models sev-snp-measure knows, with their family, model and stepping.
pub const VCPU_TYPES: &[(&str, u32, u32, u32)] = &[
    ("EPYC", 23, 1, 2),
    ("EPYC-v1", 23, 1, 2),
    ("EPYC-v2", 23, 1, 2),
    ("EPYC-IBPB", 23, 1, 2),
    ("EPYC-v3", 23, 1, 2),
    ("EPYC-v4", 23, 1, 2),
    ("EPYC-Rome", 23, 49, 0),
    ("EPYC-Rome-v1", 23, 49, 0),
    ("EPYC-Rome-v2", 23, 49, 0),
    ("EPYC-Rome-v3", 23, 49, 0),
    ("EPYC-Milan", 25, 1, 1),
    ("EPYC-Milan-v1", 25, 1, 1),
    ("EPYC-Milan-v2", 25, 1, 1),
    ("EPYC-Genoa", 25, 17, 0),
    ("EPYC-Genoa-v1", 25, 17, 0),
    ("EPYC-Turin", 26, 0, 0),
];

/// The signature of a named vCPU type (exact, case-sensitive name).
///
/// # Errors
///
/// [`Error::UnknownVcpuType`] for a name not in the table.
pub fn vcpu_type_sig(name: &str) -> Result<u32, Error> {
    VCPU_TYPES
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, f, m, s)| cpu_sig(f, m, s))
        .ok_or_else(|| Error::UnknownVcpuType(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_signatures() {
        assert_eq!(vcpu_type_sig("EPYC-v4").unwrap(), 0x800f12);
        assert_eq!(vcpu_type_sig("EPYC-Rome").unwrap(), 0x830f10);
        assert_eq!(vcpu_type_sig("EPYC-Milan").unwrap(), 0xa00f11);
        assert_eq!(vcpu_type_sig("EPYC-Genoa").unwrap(), 0xa10f10);
        assert_eq!(vcpu_type_sig("EPYC-Turin").unwrap(), 0xb00f00);
        assert!(vcpu_type_sig("epyc").is_err());
        assert_eq!(cpu_sig(6, 0x55, 4), 0x50654);
    }
}
