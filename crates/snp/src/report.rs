//! Zero-copy view over a received 1184-byte ATTESTATION_REPORT.
//!
//! Nothing here is trusted until [`crate::Verifier::verify`] has checked the signature over
//! [`Report::signed_bytes`], which are the received bytes themselves, never a re-encoding.
//! Reserved bytes are kept and exposed, not rejected: real firmware sets some of them.

use serde::{Deserialize, Serialize};

use crate::{Error, Generation};

/// Size of an ATTESTATION_REPORT.
pub const REPORT_LEN: usize = 0x4A0;
/// End of the signed region: bytes `[0, 0x2A0)` are signed.
pub const SIGNED_LEN: usize = 0x2A0;

/// A parsed-in-place SEV-SNP attestation report (versions 2, 3, 4 and 5; 4 reads as 3).
#[derive(Clone, Copy)]
pub struct Report<'a> {
    bytes: &'a [u8; REPORT_LEN],
    version: u32,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("version", &self.version)
            .field("vmpl", &self.vmpl())
            .field("measurement", &hex::encode(self.measurement()))
            .finish_non_exhaustive()
    }
}

/// Which key signed the report (KEY_INFO.SIGNING_KEY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signer {
    /// Versioned Chip Endorsement Key (per chip, per TCB).
    Vcek,
    /// Versioned Loaded Endorsement Key (per cloud provider).
    Vlek,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Vcek => "VCEK",
            Signer::Vlek => "VLEK",
        })
    }
}

/// CPUID family, model and stepping (report v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpuid {
    /// Extended family + base family (0x19 Milan/Genoa, 0x1A Turin).
    pub family: u8,
    /// Extended model + base model.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

/// SEV firmware version (build, minor, major as stored; printed major.minor.build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u8,
}

impl std::fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// A TCB_VERSION decoded with the layout of its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcbVersion {
    /// FMC SPL (Turin and later only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
    /// The 8 raw bytes, reserved bytes included (not serialized).
    #[serde(skip)]
    pub raw: [u8; 8],
}

impl TcbVersion {
    /// Decode 8 raw bytes with `generation`'s layout (Turin: FMC, BL, TEE, SNP, -, -, -, UCODE;
    /// Milan/Genoa: BL, TEE, -, -, -, -, SNP, UCODE).
    pub fn decode(raw: [u8; 8], generation: Generation) -> Self {
        let [b0, b1, b2, b3, _, _, b6, b7] = raw;
        if generation.has_fmc() {
            TcbVersion {
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
                raw,
            }
        } else {
            TcbVersion {
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
                raw,
            }
        }
    }

    /// The raw value as a little-endian u64.
    pub fn to_u64(&self) -> u64 {
        u64::from_le_bytes(self.raw)
    }
}

/// Guest POLICY (u64 bitfield).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy(pub u64);

impl Policy {
    fn bit(self, n: u32) -> bool {
        (self.0 >> n) & 1 == 1
    }
    /// Minimum ABI minor version.
    pub fn abi_minor(self) -> u8 {
        (self.0 & 0xFF) as u8
    }
    /// Minimum ABI major version.
    pub fn abi_major(self) -> u8 {
        ((self.0 >> 8) & 0xFF) as u8
    }
    /// SMT allowed.
    pub fn smt(self) -> bool {
        self.bit(16)
    }
    /// Reserved bit 17 (must be 1).
    pub fn reserved_must_be_one(self) -> bool {
        self.bit(17)
    }
    /// Association with a migration agent allowed.
    pub fn migrate_ma(self) -> bool {
        self.bit(18)
    }
    /// Debugging allowed (the hypervisor can read guest memory).
    pub fn debug(self) -> bool {
        self.bit(19)
    }
    /// Guest may run on a single socket only.
    pub fn single_socket(self) -> bool {
        self.bit(20)
    }
    /// CXL may be populated with devices or memory.
    pub fn cxl_allow(self) -> bool {
        self.bit(21)
    }
    /// AES-256-XTS memory encryption required.
    pub fn mem_aes_256_xts(self) -> bool {
        self.bit(22)
    }
    /// Running Average Power Limit must be disabled.
    pub fn rapl_dis(self) -> bool {
        self.bit(23)
    }
    /// Ciphertext hiding must be enabled.
    pub fn ciphertext_hiding(self) -> bool {
        self.bit(24)
    }
    /// Guest page swapping disabled (bit 25, defined from report version 5).
    pub fn page_swap_disable(self) -> bool {
        self.bit(25)
    }
    /// Bits this crate does not know (26 to 63): shown in claims, never a reason to reject.
    pub fn unknown_bits(self) -> u64 {
        self.0 & !((1u64 << 26) - 1)
    }
}

/// PLATFORM_INFO (u64 bitfield).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformInfo(pub u64);

impl PlatformInfo {
    fn bit(self, n: u32) -> bool {
        (self.0 >> n) & 1 == 1
    }
    /// SMT enabled on the platform.
    pub fn smt_en(self) -> bool {
        self.bit(0)
    }
    /// Transparent SME enabled.
    pub fn tsme_en(self) -> bool {
        self.bit(1)
    }
    /// ECC memory in use.
    pub fn ecc_en(self) -> bool {
        self.bit(2)
    }
    /// RAPL disabled.
    pub fn rapl_dis(self) -> bool {
        self.bit(3)
    }
    /// Ciphertext hiding enabled.
    pub fn ciphertext_hiding_en(self) -> bool {
        self.bit(4)
    }
    /// Memory alias check complete (bit 5, v3+).
    pub fn alias_check_complete(self) -> bool {
        self.bit(5)
    }
    /// IOMMU write-safe (bit 6; set by Turin firmware on real v5 reports).
    pub fn iommu_write_safe(self) -> bool {
        self.bit(6)
    }
    /// SEV-TIO enabled (bit 7, v5+).
    pub fn tio_en(self) -> bool {
        self.bit(7)
    }
    /// Bits this crate does not know (8 to 63): shown in claims, never a reason to reject.
    pub fn unknown_bits(self) -> u64 {
        self.0 & !0xFF
    }
}

/// KEY_INFO (u32 bitfield).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo(pub u32);

impl KeyInfo {
    /// AUTHOR_KEY_DIGEST is valid.
    pub fn author_key_en(self) -> bool {
        self.0 & 1 == 1
    }
    /// The chip ID is masked (CHIP_ID reads zero).
    pub fn mask_chip_key(self) -> bool {
        (self.0 >> 1) & 1 == 1
    }
    /// SIGNING_KEY field: 0 VCEK, 1 VLEK, 7 none.
    pub fn signing_key(self) -> u8 {
        ((self.0 >> 2) & 0x7) as u8
    }
    /// The signer named by SIGNING_KEY, or an error if the report is unsigned or the value unknown.
    ///
    /// # Errors
    ///
    /// [`Error::SigningKey`] when the report is unsigned or names an unknown key.
    pub fn signer(self) -> Result<Signer, Error> {
        match self.signing_key() {
            0 => Ok(Signer::Vcek),
            1 => Ok(Signer::Vlek),
            other => Err(Error::SigningKey(other)),
        }
    }
}

macro_rules! field {
    ($(#[$m:meta])* $name:ident, $off:expr, $len:expr) => {
        $(#[$m])*
        pub fn $name(&self) -> &'a [u8; $len] {
            self.arr::<$len>($off)
        }
    };
}

impl<'a> Report<'a> {
    /// View `bytes` as a report. Checks the length (exactly 1184) and the version (2 to 5);
    /// nothing else, and no byte is copied. The signature is not checked here.
    ///
    /// # Errors
    ///
    /// [`Error::ReportLength`] for another length, [`Error::UnsupportedVersion`] for a version
    /// outside 2 to 5.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let bytes: &'a [u8; REPORT_LEN] = bytes.try_into().map_err(|_| Error::ReportLength {
            expected: REPORT_LEN,
            actual: bytes.len(),
        })?;
        // 1184 bytes were checked above: the read cannot run out.
        let version = remits_codec::Cursor::new(bytes, "ATTESTATION_REPORT")
            .u32_le("VERSION")
            .map_err(|_| Error::ReportLength {
                expected: REPORT_LEN,
                actual: bytes.len(),
            })?;
        if !(2..=5).contains(&version) {
            return Err(Error::UnsupportedVersion(version));
        }
        Ok(Report { bytes, version })
    }

    fn arr<const N: usize>(&self, off: usize) -> &'a [u8; N] {
        // Offsets are constants below REPORT_LEN - N: this cannot fail.
        let b: &'a [u8; REPORT_LEN] = self.bytes;
        match b
            .get(off..off + N)
            .and_then(|s| <&[u8; N]>::try_from(s).ok())
        {
            Some(a) => a,
            None => unreachable!("constant report offset out of range"),
        }
    }

    fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(*self.arr::<4>(off))
    }

    fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(*self.arr::<8>(off))
    }

    /// All 1184 received bytes.
    pub fn as_bytes(&self) -> &'a [u8; REPORT_LEN] {
        self.bytes
    }

    /// The signed region, bytes `[0, 0x2A0)`, exactly as received.
    pub fn signed_bytes(&self) -> &'a [u8; SIGNED_LEN] {
        self.arr::<SIGNED_LEN>(0)
    }

    /// VERSION as stored (2, 3, 4 or 5).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// GUEST_SVN.
    pub fn guest_svn(&self) -> u32 {
        self.u32_at(0x04)
    }

    /// POLICY.
    pub fn policy(&self) -> Policy {
        Policy(self.u64_at(0x08))
    }

    field!(
        /// FAMILY_ID (from the ID block).
        family_id, 0x10, 16
    );
    field!(
        /// IMAGE_ID (from the ID block).
        image_id, 0x20, 16
    );

    /// VMPL the report was requested at.
    pub fn vmpl(&self) -> u32 {
        self.u32_at(0x30)
    }

    /// SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384).
    pub fn signature_algo(&self) -> u32 {
        self.u32_at(0x34)
    }

    /// CURRENT_TCB, raw (decode with [`TcbVersion::decode`]).
    pub fn current_tcb_raw(&self) -> [u8; 8] {
        *self.arr::<8>(0x38)
    }

    /// PLATFORM_INFO.
    pub fn platform_info(&self) -> PlatformInfo {
        PlatformInfo(self.u64_at(0x40))
    }

    /// KEY_INFO.
    pub fn key_info(&self) -> KeyInfo {
        KeyInfo(self.u32_at(0x48))
    }

    field!(
        /// REPORT_DATA: 64 guest-supplied bytes.
        report_data, 0x50, 64
    );
    field!(
        /// MEASUREMENT: the launch digest.
        measurement, 0x90, 48
    );
    field!(
        /// HOST_DATA: supplied by the hypervisor at launch.
        host_data, 0xC0, 32
    );
    field!(
        /// ID_KEY_DIGEST: SHA-384 of the ID public key.
        id_key_digest, 0xE0, 48
    );
    field!(
        /// AUTHOR_KEY_DIGEST: SHA-384 of the author public key (valid if AUTHOR_KEY_EN).
        author_key_digest, 0x110, 48
    );
    field!(
        /// REPORT_ID.
        report_id, 0x140, 32
    );
    field!(
        /// REPORT_ID_MA (all 0xFF without a migration agent).
        report_id_ma, 0x160, 32
    );

    /// REPORTED_TCB, raw: the TCB the signing VCEK was derived for.
    pub fn reported_tcb_raw(&self) -> [u8; 8] {
        *self.arr::<8>(0x180)
    }

    /// CPUID family, model, stepping (None for version 2, where these bytes are reserved).
    pub fn cpuid(&self) -> Option<Cpuid> {
        if self.version < 3 {
            return None;
        }
        let [family, model, stepping] = *self.arr::<3>(0x188);
        Some(Cpuid {
            family,
            model,
            stepping,
        })
    }

    field!(
        /// CHIP_ID (zero if masked; on Turin only bytes 0-7 are non-zero).
        chip_id, 0x1A0, 64
    );

    /// COMMITTED_TCB, raw.
    pub fn committed_tcb_raw(&self) -> [u8; 8] {
        *self.arr::<8>(0x1E0)
    }

    /// CURRENT firmware version.
    pub fn current_version(&self) -> FirmwareVersion {
        let [build, minor, major] = *self.arr::<3>(0x1E8);
        FirmwareVersion {
            major,
            minor,
            build,
        }
    }

    /// COMMITTED firmware version.
    pub fn committed_version(&self) -> FirmwareVersion {
        let [build, minor, major] = *self.arr::<3>(0x1EC);
        FirmwareVersion {
            major,
            minor,
            build,
        }
    }

    /// LAUNCH_TCB, raw.
    pub fn launch_tcb_raw(&self) -> [u8; 8] {
        *self.arr::<8>(0x1F0)
    }

    /// LAUNCH_MIT_VECTOR (version 5+).
    pub fn launch_mit_vector(&self) -> Option<u64> {
        (self.version >= 5).then(|| self.u64_at(0x1F8))
    }

    /// CURRENT_MIT_VECTOR (version 5+).
    pub fn current_mit_vector(&self) -> Option<u64> {
        (self.version >= 5).then(|| self.u64_at(0x200))
    }

    /// Signature R: 72 bytes little-endian, zero-extended.
    pub fn signature_r(&self) -> &'a [u8; 72] {
        self.arr::<72>(0x2A0)
    }

    /// Signature S: 72 bytes little-endian, zero-extended.
    pub fn signature_s(&self) -> &'a [u8; 72] {
        self.arr::<72>(0x2E8)
    }

    /// Reserved byte ranges inside the report, as `(offset, bytes)`, for inspection. They are
    /// covered by the signature where they lie below 0x2A0, and never rejected.
    pub fn reserved(&self) -> Vec<(usize, &'a [u8])> {
        let b: &'a [u8; REPORT_LEN] = self.bytes;
        let mut out: Vec<(usize, &'a [u8])> = vec![(0x4C, &b[0x4C..0x50])];
        out.push(if self.version >= 3 {
            (0x18B, &b[0x18B..0x1A0])
        } else {
            (0x188, &b[0x188..0x1A0])
        });
        out.push((0x1EB, &b[0x1EB..0x1EC]));
        out.push((0x1EF, &b[0x1EF..0x1F0]));
        out.push(if self.version >= 5 {
            (0x208, &b[0x208..0x2A0])
        } else {
            (0x1F8, &b[0x1F8..0x2A0])
        });
        out.push((0x330, &b[0x330..REPORT_LEN]));
        out
    }

    /// The generation this report's CPUID names (v3+); None for version 2.
    pub fn cpuid_generation(&self) -> Option<Result<Generation, Error>> {
        self.cpuid()
            .map(|c| Generation::from_cpuid(c.family, c.model))
    }

    /// The signature as big-endian `r || s` (48 bytes each), after checking that the upper 24
    /// bytes of each 72-byte little-endian value are zero.
    ///
    /// # Errors
    ///
    /// [`Error::SignatureFormat`] when the upper 24 bytes of r or s are not zero.
    pub fn signature_be(&self) -> Result<[u8; 96], Error> {
        let mut out = [0u8; 96];
        for (dst, v) in out
            .chunks_exact_mut(48)
            .zip([self.signature_r(), self.signature_s()])
        {
            let (low, high) = v.split_at(48);
            if high.iter().any(|&x| x != 0) {
                return Err(Error::SignatureFormat(
                    "upper 24 bytes of r or s are not zero",
                ));
            }
            for (d, s) in dst.iter_mut().zip(low.iter().rev()) {
                *d = *s;
            }
        }
        Ok(out)
    }
}
