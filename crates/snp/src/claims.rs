//! The claims of a verified report, as they appear in `remits-verifier snp --json` and in EAR
//! tokens. Byte strings are lowercase hex.

use serde::{Deserialize, Serialize};

use crate::report::{Cpuid, Report, TcbVersion};
use crate::{Generation, Signer};

/// Guest policy, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyClaims {
    /// The raw POLICY value (hex, `0x`-prefixed).
    pub raw: String,
    /// Minimum ABI major.
    pub abi_major: u8,
    /// Minimum ABI minor.
    pub abi_minor: u8,
    /// SMT allowed.
    pub smt: bool,
    /// Migration agent allowed.
    pub migrate_ma: bool,
    /// Debugging allowed.
    pub debug: bool,
    /// Single socket only.
    pub single_socket: bool,
    /// CXL allowed.
    pub cxl_allow: bool,
    /// AES-256-XTS required.
    pub mem_aes_256_xts: bool,
    /// RAPL must be disabled.
    pub rapl_dis: bool,
    /// Ciphertext hiding required.
    pub ciphertext_hiding: bool,
    /// Page swapping disabled (None before report version 5, where the bit is undefined).
    pub page_swap_disable: Option<bool>,
    /// Set bits this crate does not name (hex, `0x`-prefixed; `0x0` when none).
    pub unknown_bits: String,
}

/// Platform information flags, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfoClaims {
    /// The raw PLATFORM_INFO value (hex, `0x`-prefixed).
    pub raw: String,
    /// SMT enabled.
    pub smt_en: bool,
    /// TSME enabled.
    pub tsme_en: bool,
    /// ECC memory.
    pub ecc_en: bool,
    /// RAPL disabled.
    pub rapl_dis: bool,
    /// Ciphertext hiding enabled.
    pub ciphertext_hiding_en: bool,
    /// Alias check complete (None before report version 3).
    pub alias_check_complete: Option<bool>,
    /// IOMMU write-safe (bit 6; Turin firmware sets it).
    pub iommu_write_safe: bool,
    /// SEV-TIO enabled (None before report version 5).
    pub tio_en: Option<bool>,
    /// Set bits this crate does not name (hex, `0x`-prefixed; `0x0` when none).
    pub unknown_bits: String,
}

/// Claims of a report whose signature and endorsement chain verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use = "a verification result: use it (or bind it to `_` to drop it on purpose)"]
pub struct SnpClaims {
    /// Report VERSION.
    pub version: u32,
    /// CPU generation.
    pub generation: Generation,
    /// Which key signed: `vcek` or `vlek`.
    pub signer: Signer,
    /// The leaf certificate's productName (e.g. `Milan-B0`).
    pub product_name: String,
    /// The VLEK's cspID (cloud provider), if VLEK-signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub csp_id: Option<String>,
    /// GUEST_SVN.
    pub guest_svn: u32,
    /// VMPL the report was requested at.
    pub vmpl: u32,
    /// POLICY.
    pub policy: PolicyClaims,
    /// PLATFORM_INFO.
    pub platform_info: PlatformInfoClaims,
    /// KEY_INFO.AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// KEY_INFO.MASK_CHIP_KEY.
    pub mask_chip_key: bool,
    /// MEASUREMENT (48 bytes).
    #[serde(with = "crate::hexser")]
    pub measurement: Vec<u8>,
    /// REPORT_DATA (64 bytes).
    #[serde(with = "crate::hexser")]
    pub report_data: Vec<u8>,
    /// HOST_DATA (32 bytes).
    #[serde(with = "crate::hexser")]
    pub host_data: Vec<u8>,
    /// FAMILY_ID (16 bytes).
    #[serde(with = "crate::hexser")]
    pub family_id: Vec<u8>,
    /// IMAGE_ID (16 bytes).
    #[serde(with = "crate::hexser")]
    pub image_id: Vec<u8>,
    /// ID_KEY_DIGEST (48 bytes).
    #[serde(with = "crate::hexser")]
    pub id_key_digest: Vec<u8>,
    /// AUTHOR_KEY_DIGEST (48 bytes).
    #[serde(with = "crate::hexser")]
    pub author_key_digest: Vec<u8>,
    /// REPORT_ID (32 bytes).
    #[serde(with = "crate::hexser")]
    pub report_id: Vec<u8>,
    /// REPORT_ID_MA (32 bytes).
    #[serde(with = "crate::hexser")]
    pub report_id_ma: Vec<u8>,
    /// CHIP_ID (64 bytes).
    #[serde(with = "crate::hexser")]
    pub chip_id: Vec<u8>,
    /// REPORTED_TCB: the TCB the signing key was issued for.
    pub reported_tcb: TcbVersion,
    /// CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// Current firmware version, `major.minor.build`.
    pub current_firmware: String,
    /// Committed firmware version, `major.minor.build`.
    pub committed_firmware: String,
    /// CPUID family/model/stepping (None for version 2).
    pub cpuid: Option<Cpuid>,
    /// LAUNCH_MIT_VECTOR (version 5+).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub launch_mit_vector: Option<u64>,
    /// CURRENT_MIT_VECTOR (version 5+).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current_mit_vector: Option<u64>,
}

impl SnpClaims {
    /// Build the claims of `report`. Only [`crate::Verifier`] calls this after every check passed.
    pub(crate) fn from_report(
        report: &Report<'_>,
        generation: Generation,
        signer: Signer,
        product_name: String,
        csp_id: Option<String>,
    ) -> Self {
        let p = report.policy();
        let pi = report.platform_info();
        let v = report.version();
        let ki = report.key_info();
        SnpClaims {
            version: v,
            generation,
            signer,
            product_name,
            csp_id,
            guest_svn: report.guest_svn(),
            vmpl: report.vmpl(),
            policy: PolicyClaims {
                raw: format!("{:#x}", p.0),
                abi_major: p.abi_major(),
                abi_minor: p.abi_minor(),
                smt: p.smt(),
                migrate_ma: p.migrate_ma(),
                debug: p.debug(),
                single_socket: p.single_socket(),
                cxl_allow: p.cxl_allow(),
                mem_aes_256_xts: p.mem_aes_256_xts(),
                rapl_dis: p.rapl_dis(),
                ciphertext_hiding: p.ciphertext_hiding(),
                page_swap_disable: (v >= 5).then(|| p.page_swap_disable()),
                unknown_bits: format!("{:#x}", p.unknown_bits()),
            },
            platform_info: PlatformInfoClaims {
                raw: format!("{:#x}", pi.0),
                smt_en: pi.smt_en(),
                tsme_en: pi.tsme_en(),
                ecc_en: pi.ecc_en(),
                rapl_dis: pi.rapl_dis(),
                ciphertext_hiding_en: pi.ciphertext_hiding_en(),
                alias_check_complete: (v >= 3).then(|| pi.alias_check_complete()),
                iommu_write_safe: pi.iommu_write_safe(),
                tio_en: (v >= 5).then(|| pi.tio_en()),
                unknown_bits: format!("{:#x}", pi.unknown_bits()),
            },
            author_key_en: ki.author_key_en(),
            mask_chip_key: ki.mask_chip_key(),
            measurement: report.measurement().to_vec(),
            report_data: report.report_data().to_vec(),
            host_data: report.host_data().to_vec(),
            family_id: report.family_id().to_vec(),
            image_id: report.image_id().to_vec(),
            id_key_digest: report.id_key_digest().to_vec(),
            author_key_digest: report.author_key_digest().to_vec(),
            report_id: report.report_id().to_vec(),
            report_id_ma: report.report_id_ma().to_vec(),
            chip_id: report.chip_id().to_vec(),
            reported_tcb: TcbVersion::decode(report.reported_tcb_raw(), generation),
            current_tcb: TcbVersion::decode(report.current_tcb_raw(), generation),
            committed_tcb: TcbVersion::decode(report.committed_tcb_raw(), generation),
            launch_tcb: TcbVersion::decode(report.launch_tcb_raw(), generation),
            current_firmware: report.current_version().to_string(),
            committed_firmware: report.committed_version().to_string(),
            cpuid: report.cpuid(),
            launch_mit_vector: report.launch_mit_vector(),
            current_mit_vector: report.current_mit_vector(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PLATFORM_INFO bit 6 (set by Turin firmware on real v5 reports) and the v5 POLICY bits are
    /// named; unknown set bits are shown, never a reason to reject.
    #[test]
    fn v5_bits_are_named_and_unknown_bits_shown() {
        let mut raw = vec![0u8; crate::report::REPORT_LEN];
        raw[0] = 5;
        let policy: u64 = 0x3_0000 | 1 << 25 | 1 << 24 | 1 << 40;
        raw[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
        let platform: u64 = 0b1110_0001 | 1 << 9;
        raw[0x40..0x48].copy_from_slice(&platform.to_le_bytes());
        let r = Report::parse(&raw).unwrap();
        let c = SnpClaims::from_report(&r, Generation::Turin, Signer::Vcek, "Turin".into(), None);
        assert!(c.platform_info.iommu_write_safe);
        assert_eq!(c.platform_info.alias_check_complete, Some(true));
        assert_eq!(c.platform_info.tio_en, Some(true));
        assert_eq!(c.platform_info.unknown_bits, "0x200");
        assert_eq!(c.policy.page_swap_disable, Some(true));
        assert!(c.policy.ciphertext_hiding);
        assert_eq!(c.policy.unknown_bits, "0x10000000000");
        raw[0x40..0x48].copy_from_slice(&0u64.to_le_bytes());
        raw[0x08..0x10].copy_from_slice(&0x3_0000u64.to_le_bytes());
        let r = Report::parse(&raw).unwrap();
        let c = SnpClaims::from_report(&r, Generation::Turin, Signer::Vcek, "Turin".into(), None);
        assert!(!c.platform_info.iommu_write_safe);
        assert_eq!(
            (
                c.platform_info.unknown_bits.as_str(),
                c.policy.unknown_bits.as_str()
            ),
            ("0x0", "0x0")
        );
    }
}
