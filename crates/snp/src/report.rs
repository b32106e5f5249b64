//! Zero-copy view over a received 1184-byte ATTESTATION_REPORT, read by one bounded
//! [`remits_codec::Cursor`] walk over its layout (no hand-written offsets).
//!
//! Nothing here is trusted until [`crate::Verifier::verify`] has checked the signature over
//! [`Report::signed_bytes`], which are the received bytes themselves, never a re-encoding.
//! Reserved bytes are kept and exposed, not rejected: real firmware sets some of them.

use remits_codec::Cursor;
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
    signed: &'a [u8; SIGNED_LEN],
    version: u32,
    guest_svn: u32,
    policy: u64,
    family_id: &'a [u8; 16],
    image_id: &'a [u8; 16],
    vmpl: u32,
    signature_algo: u32,
    current_tcb: [u8; 8],
    platform_info: u64,
    key_info: u32,
    report_data: &'a [u8; 64],
    measurement: &'a [u8; 48],
    host_data: &'a [u8; 32],
    id_key_digest: &'a [u8; 48],
    author_key_digest: &'a [u8; 48],
    report_id: &'a [u8; 32],
    report_id_ma: &'a [u8; 32],
    reported_tcb: [u8; 8],
    cpuid: Option<Cpuid>,
    chip_id: &'a [u8; 64],
    committed_tcb: [u8; 8],
    current_version: FirmwareVersion,
    committed_version: FirmwareVersion,
    launch_tcb: [u8; 8],
    /// LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR (version 5+).
    mit_vectors: Option<(u64, u64)>,
    signature_r: &'a [u8; 72],
    signature_s: &'a [u8; 72],
    /// Reserved ranges as `(offset, bytes)`, in report order.
    reserved: [(usize, &'a [u8]); 6],
}

// A cursor error in the walks below becomes `Error::ReportLayout` (through `?`). The length was
// checked to be exactly REPORT_LEN first, so a read that runs out means the layout does not add
// up to that length; the error names the field it stopped at.

/// Takes `n` reserved bytes, with their offset.
fn reserved<'a>(
    c: &mut Cursor<'a>,
    n: usize,
    field: &'static str,
) -> Result<(usize, &'a [u8]), Error> {
    let at = c.pos();
    Ok((at, c.take(n, field)?))
}

/// A firmware version as stored: build, minor, major.
fn firmware_version(c: &mut Cursor<'_>, field: &'static str) -> Result<FirmwareVersion, Error> {
    let [build, minor, major] = c.array(field)?;
    Ok(FirmwareVersion {
        major,
        minor,
        build,
    })
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

impl<'a> Report<'a> {
    /// View `bytes` as a report. Checks the length (exactly 1184) and the version (2 to 5);
    /// nothing else. One bounded walk over the layout (a [`remits_codec::Cursor`]) decodes the
    /// integers and keeps every byte field as a reference into `bytes`: no byte string is
    /// copied and nothing is allocated. The signature is not checked here.
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
        let mut outer = Cursor::new(bytes, "ATTESTATION_REPORT");
        let signed = outer.array_ref::<SIGNED_LEN>("signed region")?;

        // The signed region [0, 0x2A0): its cursor starts at 0, so its offsets are the report's.
        let mut c = Cursor::new(signed, "ATTESTATION_REPORT");
        let version = c.u32_le("VERSION")?;
        if !(2..=5).contains(&version) {
            return Err(Error::UnsupportedVersion(version));
        }
        let guest_svn = c.u32_le("GUEST_SVN")?;
        let policy = c.u64_le("POLICY")?;
        let family_id = c.array_ref("FAMILY_ID")?;
        let image_id = c.array_ref("IMAGE_ID")?;
        let vmpl = c.u32_le("VMPL")?;
        let signature_algo = c.u32_le("SIGNATURE_ALGO")?;
        let current_tcb = c.array("CURRENT_TCB")?;
        let platform_info = c.u64_le("PLATFORM_INFO")?;
        let key_info = c.u32_le("KEY_INFO")?;
        let reserved_key_info = reserved(&mut c, 4, "reserved after KEY_INFO")?;
        let report_data = c.array_ref("REPORT_DATA")?;
        let measurement = c.array_ref("MEASUREMENT")?;
        let host_data = c.array_ref("HOST_DATA")?;
        let id_key_digest = c.array_ref("ID_KEY_DIGEST")?;
        let author_key_digest = c.array_ref("AUTHOR_KEY_DIGEST")?;
        let report_id = c.array_ref("REPORT_ID")?;
        let report_id_ma = c.array_ref("REPORT_ID_MA")?;
        let reported_tcb = c.array("REPORTED_TCB")?;
        // CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP from version 3; reserved in version 2.
        let cpuid = if version >= 3 {
            let [family, model, stepping] = c.array("CPUID")?;
            Some(Cpuid {
                family,
                model,
                stepping,
            })
        } else {
            None
        };
        let cpuid_reserved = if cpuid.is_some() { 21 } else { 24 };
        let reserved_cpuid = reserved(&mut c, cpuid_reserved, "reserved before CHIP_ID")?;
        let chip_id = c.array_ref("CHIP_ID")?;
        let committed_tcb = c.array("COMMITTED_TCB")?;
        let current_version = firmware_version(&mut c, "CURRENT_VERSION")?;
        let reserved_current = reserved(&mut c, 1, "reserved after CURRENT_VERSION")?;
        let committed_version = firmware_version(&mut c, "COMMITTED_VERSION")?;
        let reserved_committed = reserved(&mut c, 1, "reserved after COMMITTED_VERSION")?;
        let launch_tcb = c.array("LAUNCH_TCB")?;
        // LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR from version 5; reserved before.
        let mit_vectors = if version >= 5 {
            let launch = c.u64_le("LAUNCH_MIT_VECTOR")?;
            let current = c.u64_le("CURRENT_MIT_VECTOR")?;
            Some((launch, current))
        } else {
            None
        };
        let tail = if mit_vectors.is_some() { 0x98 } else { 0xA8 };
        let reserved_tail = reserved(&mut c, tail, "reserved before SIGNATURE")?;
        // Explicit sizes, not "the rest": a field of the wrong width fails here, not silently.
        c.finish()?;

        // SIGNATURE [0x2A0, 0x4A0): not signed.
        let signature_r = outer.array_ref("SIGNATURE.R")?;
        let signature_s = outer.array_ref("SIGNATURE.S")?;
        let reserved_signature = reserved(&mut outer, 0x170, "SIGNATURE reserved")?;
        outer.finish()?;

        Ok(Report {
            bytes,
            signed,
            version,
            guest_svn,
            policy,
            family_id,
            image_id,
            vmpl,
            signature_algo,
            current_tcb,
            platform_info,
            key_info,
            report_data,
            measurement,
            host_data,
            id_key_digest,
            author_key_digest,
            report_id,
            report_id_ma,
            reported_tcb,
            cpuid,
            chip_id,
            committed_tcb,
            current_version,
            committed_version,
            launch_tcb,
            mit_vectors,
            signature_r,
            signature_s,
            reserved: [
                reserved_key_info,
                reserved_cpuid,
                reserved_current,
                reserved_committed,
                reserved_tail,
                reserved_signature,
            ],
        })
    }

    /// All 1184 received bytes.
    pub fn as_bytes(&self) -> &'a [u8; REPORT_LEN] {
        self.bytes
    }

    /// The signed region, bytes `[0, 0x2A0)`, exactly as received.
    pub fn signed_bytes(&self) -> &'a [u8; SIGNED_LEN] {
        self.signed
    }

    /// VERSION as stored (2, 3, 4 or 5).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// GUEST_SVN.
    pub fn guest_svn(&self) -> u32 {
        self.guest_svn
    }

    /// POLICY.
    pub fn policy(&self) -> Policy {
        Policy(self.policy)
    }

    /// FAMILY_ID (from the ID block).
    pub fn family_id(&self) -> &'a [u8; 16] {
        self.family_id
    }

    /// IMAGE_ID (from the ID block).
    pub fn image_id(&self) -> &'a [u8; 16] {
        self.image_id
    }

    /// VMPL the report was requested at.
    pub fn vmpl(&self) -> u32 {
        self.vmpl
    }

    /// SIGNATURE_ALGO (1 = ECDSA P-384 with SHA-384).
    pub fn signature_algo(&self) -> u32 {
        self.signature_algo
    }

    /// CURRENT_TCB, raw (decode with [`TcbVersion::decode`]).
    pub fn current_tcb_raw(&self) -> [u8; 8] {
        self.current_tcb
    }

    /// PLATFORM_INFO.
    pub fn platform_info(&self) -> PlatformInfo {
        PlatformInfo(self.platform_info)
    }

    /// KEY_INFO.
    pub fn key_info(&self) -> KeyInfo {
        KeyInfo(self.key_info)
    }

    /// REPORT_DATA: 64 guest-supplied bytes.
    pub fn report_data(&self) -> &'a [u8; 64] {
        self.report_data
    }

    /// MEASUREMENT: the launch digest.
    pub fn measurement(&self) -> &'a [u8; 48] {
        self.measurement
    }

    /// HOST_DATA: supplied by the hypervisor at launch.
    pub fn host_data(&self) -> &'a [u8; 32] {
        self.host_data
    }

    /// ID_KEY_DIGEST: SHA-384 of the ID public key.
    pub fn id_key_digest(&self) -> &'a [u8; 48] {
        self.id_key_digest
    }

    /// AUTHOR_KEY_DIGEST: SHA-384 of the author public key (valid if AUTHOR_KEY_EN).
    pub fn author_key_digest(&self) -> &'a [u8; 48] {
        self.author_key_digest
    }

    /// REPORT_ID.
    pub fn report_id(&self) -> &'a [u8; 32] {
        self.report_id
    }

    /// REPORT_ID_MA (all 0xFF without a migration agent).
    pub fn report_id_ma(&self) -> &'a [u8; 32] {
        self.report_id_ma
    }

    /// REPORTED_TCB, raw: the TCB the signing VCEK was derived for.
    pub fn reported_tcb_raw(&self) -> [u8; 8] {
        self.reported_tcb
    }

    /// CPUID family, model, stepping (None for version 2, where these bytes are reserved).
    pub fn cpuid(&self) -> Option<Cpuid> {
        self.cpuid
    }

    /// CHIP_ID (zero if masked; on Turin only bytes 0-7 are non-zero).
    pub fn chip_id(&self) -> &'a [u8; 64] {
        self.chip_id
    }

    /// COMMITTED_TCB, raw.
    pub fn committed_tcb_raw(&self) -> [u8; 8] {
        self.committed_tcb
    }

    /// CURRENT firmware version.
    pub fn current_version(&self) -> FirmwareVersion {
        self.current_version
    }

    /// COMMITTED firmware version.
    pub fn committed_version(&self) -> FirmwareVersion {
        self.committed_version
    }

    /// LAUNCH_TCB, raw.
    pub fn launch_tcb_raw(&self) -> [u8; 8] {
        self.launch_tcb
    }

    /// LAUNCH_MIT_VECTOR (version 5+).
    pub fn launch_mit_vector(&self) -> Option<u64> {
        self.mit_vectors.map(|(launch, _)| launch)
    }

    /// CURRENT_MIT_VECTOR (version 5+).
    pub fn current_mit_vector(&self) -> Option<u64> {
        self.mit_vectors.map(|(_, current)| current)
    }

    /// Signature R: 72 bytes little-endian, zero-extended.
    pub fn signature_r(&self) -> &'a [u8; 72] {
        self.signature_r
    }

    /// Signature S: 72 bytes little-endian, zero-extended.
    pub fn signature_s(&self) -> &'a [u8; 72] {
        self.signature_s
    }

    /// Reserved byte ranges inside the report, as `(offset, bytes)`, for inspection. They are
    /// covered by the signature where they lie below 0x2A0, and never rejected.
    pub fn reserved(&self) -> Vec<(usize, &'a [u8])> {
        self.reserved.to_vec()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A report whose every byte is its offset (mod 251), with `version` in VERSION.
    fn patterned(version: u32) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i % 251) as u8;
        }
        b[..4].copy_from_slice(&version.to_le_bytes());
        b
    }

    fn at<const N: usize>(b: &[u8; REPORT_LEN], off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[off..off + N]);
        a
    }

    /// The cursor walk lands every field on its offset in the SEV-SNP ABI (table "ATTESTATION_REPORT").
    #[test]
    fn fields_sit_at_their_abi_offsets() {
        for version in 2..=5 {
            let b = patterned(version);
            let r = Report::parse(&b).unwrap();
            assert_eq!(r.version(), version);
            assert_eq!(r.guest_svn(), u32::from_le_bytes(at(&b, 0x04)));
            assert_eq!(r.policy().0, u64::from_le_bytes(at(&b, 0x08)));
            assert_eq!(*r.family_id(), at::<16>(&b, 0x10));
            assert_eq!(*r.image_id(), at::<16>(&b, 0x20));
            assert_eq!(r.vmpl(), u32::from_le_bytes(at(&b, 0x30)));
            assert_eq!(r.signature_algo(), u32::from_le_bytes(at(&b, 0x34)));
            assert_eq!(r.current_tcb_raw(), at::<8>(&b, 0x38));
            assert_eq!(r.platform_info().0, u64::from_le_bytes(at(&b, 0x40)));
            assert_eq!(r.key_info().0, u32::from_le_bytes(at(&b, 0x48)));
            assert_eq!(*r.report_data(), at::<64>(&b, 0x50));
            assert_eq!(*r.measurement(), at::<48>(&b, 0x90));
            assert_eq!(*r.host_data(), at::<32>(&b, 0xC0));
            assert_eq!(*r.id_key_digest(), at::<48>(&b, 0xE0));
            assert_eq!(*r.author_key_digest(), at::<48>(&b, 0x110));
            assert_eq!(*r.report_id(), at::<32>(&b, 0x140));
            assert_eq!(*r.report_id_ma(), at::<32>(&b, 0x160));
            assert_eq!(r.reported_tcb_raw(), at::<8>(&b, 0x180));
            assert_eq!(
                r.cpuid().map(|c| [c.family, c.model, c.stepping]),
                (version >= 3).then(|| at::<3>(&b, 0x188))
            );
            assert_eq!(*r.chip_id(), at::<64>(&b, 0x1A0));
            assert_eq!(r.committed_tcb_raw(), at::<8>(&b, 0x1E0));
            let v = r.current_version();
            assert_eq!([v.build, v.minor, v.major], at::<3>(&b, 0x1E8));
            let v = r.committed_version();
            assert_eq!([v.build, v.minor, v.major], at::<3>(&b, 0x1EC));
            assert_eq!(r.launch_tcb_raw(), at::<8>(&b, 0x1F0));
            assert_eq!(
                r.launch_mit_vector(),
                (version >= 5).then(|| u64::from_le_bytes(at(&b, 0x1F8)))
            );
            assert_eq!(
                r.current_mit_vector(),
                (version >= 5).then(|| u64::from_le_bytes(at(&b, 0x200)))
            );
            assert_eq!(*r.signature_r(), at::<72>(&b, 0x2A0));
            assert_eq!(*r.signature_s(), at::<72>(&b, 0x2E8));
            // The signed bytes are the received bytes themselves, not a copy.
            assert!(std::ptr::eq(r.signed_bytes().as_ptr(), b.as_ptr()));
            assert_eq!(r.signed_bytes().len(), SIGNED_LEN);
            assert!(std::ptr::eq(r.as_bytes(), &b));
            // Reserved ranges plus fields cover the report exactly once.
            let reserved: Vec<(usize, usize)> =
                r.reserved().iter().map(|(o, s)| (*o, s.len())).collect();
            let cpuid = if version >= 3 {
                (0x18B, 21)
            } else {
                (0x188, 24)
            };
            let mit = if version >= 5 {
                (0x208, 0x98)
            } else {
                (0x1F8, 0xA8)
            };
            assert_eq!(
                reserved,
                [
                    (0x4C, 4),
                    cpuid,
                    (0x1EB, 1),
                    (0x1EF, 1),
                    mit,
                    (0x330, 0x170)
                ]
            );
            for (o, s) in r.reserved() {
                assert_eq!(s, &b[o..o + s.len()]);
            }
        }
    }

    #[test]
    fn rejects_length_and_version_before_anything_else() {
        for v in [0, 1, 6, u32::MAX] {
            assert!(matches!(
                Report::parse(&patterned(v)),
                Err(Error::UnsupportedVersion(x)) if x == v
            ));
        }
        let b = patterned(3);
        for len in [0, 4, SIGNED_LEN, REPORT_LEN - 1] {
            assert!(matches!(
                Report::parse(&b[..len]),
                Err(Error::ReportLength { expected: REPORT_LEN, actual }) if actual == len
            ));
        }
    }
}
