//! The launch digest of a guest in each mode (SEV, SEV-ES, SEV-SNP, SEV-SNP with COCONUT-SVSM),
//! following sev-snp-measure (`guest.py`) at its current head.

use std::fmt;
use std::str::FromStr;

use super::sha::Sha256;

use super::gctx::{sha384_page, PageType, SnpLaunchDigest, LD_SIZE};
use super::hashes::SevHashes;
use super::ovmf::{Firmware, SectionKind, FOUR_GIB, PAGE_SIZE};
use super::source::ImageSource;
use super::vmsa::{VmmType, Vmsa, BSP_EIP};
use super::Error;

/// Largest vCPU count accepted (KVM's x86 limit).
pub const MAX_VCPUS: u32 = 4096;

/// Guest mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SEV: SHA-256 over the OVMF and the hashes table.
    Sev,
    /// SEV-ES: SHA-256 over the OVMF, the hashes table and the VMSAs.
    SevEs,
    /// SEV-SNP: the PAGE_INFO chain (SHA-384).
    Snp,
    /// SEV-SNP with a COCONUT-SVSM below the OVMF.
    SnpSvsm,
}

impl FromStr for Mode {
    type Err = Error;
    /// Accepts the names sev-snp-measure accepts (`sev`, `seves`/`sev-es`, `snp`/`sev-snp`,
    /// `snp:svsm`, in its upper/lower-case variants).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sev" | "SEV" => Ok(Self::Sev),
            "seves" | "sev-es" | "SEVES" | "SEV-ES" => Ok(Self::SevEs),
            "snp" | "sev-snp" | "SNP" | "SEV-SNP" => Ok(Self::Snp),
            _ if matches!(s.to_lowercase().as_str(), "snp:svsm" | "sev-snp:svsm") => {
                Ok(Self::SnpSvsm)
            }
            other => Err(Error::UnknownMode(other.to_owned())),
        }
    }
}

impl Mode {
    /// The name sev-snp-measure prints in verbose output (`SEV`, `SEV_ES`, `SEV_SNP`,
    /// `SEV_SNP_SVSM`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sev => "SEV",
            Self::SevEs => "SEV_ES",
            Self::Snp => "SEV_SNP",
            Self::SnpSvsm => "SEV_SNP_SVSM",
        }
    }
}

/// A launch measurement: SHA-256 for SEV and SEV-ES, SHA-384 for SEV-SNP.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Measurement {
    /// SEV / SEV-ES.
    Sha256([u8; 32]),
    /// SEV-SNP (the report's MEASUREMENT field).
    Sha384([u8; LD_SIZE]),
}

impl Measurement {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Sha256(d) => d,
            Self::Sha384(d) => d,
        }
    }
}

impl Measurement {
    /// Standard base64 (sev-snp-measure `--output-format base64`).
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.as_bytes())
    }
}

impl fmt::Display for Measurement {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Measurement({self})")
    }
}

/// Everything a launch digest depends on. Build with [`LaunchInputs::new`] and set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LaunchInputs<'a> {
    /// Guest mode.
    pub mode: Mode,
    /// The OVMF image: bytes in memory, or an opened [`super::ImageFile`] (streamed).
    pub ovmf: ImageSource<'a>,
    /// Number of vCPUs (ignored in SEV mode).
    pub vcpus: u32,
    /// CPUID signature of the vCPUs (QEMU's RDX at reset). Required for QEMU in every mode but
    /// SEV; EC2 and GCE put 0x600 in RDX instead.
    pub vcpu_sig: Option<u32>,
    /// VMSA SEV_FEATURES for SNP (sev-snp-measure default 0x1). SEV-ES uses 0, SVSM 0x1.
    pub guest_features: u64,
    /// The VMM that launches the guest.
    pub vmm: VmmType,
    /// Kernel, initrd and command-line hashes (direct kernel boot), if any.
    pub kernel_hashes: Option<SevHashes>,
    /// A precomputed OVMF hash (`snp` only): the chain starts from it instead of the OVMF pages.
    pub ovmf_hash: Option<[u8; LD_SIZE]>,
    /// The COCONUT-SVSM binary (`snp:svsm`).
    pub svsm: Option<ImageSource<'a>>,
    /// Size of the OVMF_VARS image that sits between the SVSM and the OVMF (`snp:svsm`).
    pub ovmf_vars_size: u64,
    /// EC2 only: put 0 in RDX, as sev-snp-measure did before 2026-04-28 and the virtee/sev crate
    /// still does. Live EC2 guests do not match this; it exists to reproduce old values.
    pub ec2_legacy_rdx_zero: bool,
}

impl<'a> LaunchInputs<'a> {
    /// Inputs with sev-snp-measure's defaults: one vCPU, no signature, guest features 0x1,
    /// QEMU, no kernel. `ovmf` is the image bytes (`&[u8]`, `&Vec<u8>`) or an opened
    /// [`super::ImageFile`].
    pub fn new(mode: Mode, ovmf: impl Into<ImageSource<'a>>) -> Self {
        Self {
            mode,
            ovmf: ovmf.into(),
            vcpus: 1,
            vcpu_sig: None,
            guest_features: 0x1,
            vmm: VmmType::Qemu,
            kernel_hashes: None,
            ovmf_hash: None,
            svsm: None,
            ovmf_vars_size: 0,
            ec2_legacy_rdx_zero: false,
        }
    }
}

/// Parses a precomputed OVMF hash given in hex (96 digits).
///
/// # Errors
///
/// [`Error::OvmfHashHex`] for non-hex text, [`Error::OvmfHashLength`] for another length than 48
/// bytes.
pub fn parse_ovmf_hash(hex_str: &str) -> Result<[u8; LD_SIZE], Error> {
    let bytes = hex::decode(hex_str).map_err(|_| Error::OvmfHashHex)?;
    <[u8; LD_SIZE]>::try_from(bytes.as_slice()).map_err(|_| Error::OvmfHashLength(bytes.len()))
}

/// The SNP launch digest after the OVMF pages only (`snp:ovmf-hash`); it can seed
/// [`LaunchInputs::ovmf_hash`]. `ovmf` is the image bytes or an opened [`super::ImageFile`].
///
/// # Errors
///
/// [`Error::Truncated`] or another image error when `ovmf` does not parse, [`Error::Io`] when a
/// file cannot be read.
pub fn snp_ovmf_hash<'a>(ovmf: impl Into<ImageSource<'a>>) -> Result<[u8; LD_SIZE], Error> {
    let ovmf = ovmf.into();
    let fw = ovmf.firmware(FOUR_GIB, "OVMF")?;
    let mut g = SnpLaunchDigest::new();
    g.update_normal_pages_from(fw.gpa(), &ovmf)?;
    Ok(g.digest())
}

/// Computes the launch digest.
///
/// # Errors
///
/// The image and table errors of the OVMF, kernel hashes and SVSM inputs, [`Error::VcpuCount`] or
/// [`Error::MissingVcpuSignature`] for an unusable vCPU set, [`Error::NoApResetAddress`] when the
/// AP reset address is missing, [`Error::OvmfHashOnlySnp`] for a precomputed hash outside SNP,
/// [`Error::Io`] when a file cannot be read.
pub fn launch_digest(inputs: &LaunchInputs<'_>) -> Result<Measurement, Error> {
    launch_digest_with(inputs, |_, _| {})
}

/// Computes the launch digest and hands each measured VMSA page (vCPU index, page) to
/// `on_vmsa` (sev-snp-measure `--dump-vmsa`).
///
/// # Errors
///
/// As `launch_digest`.
pub fn launch_digest_with(
    inputs: &LaunchInputs<'_>,
    mut on_vmsa: impl FnMut(u32, &[u8; PAGE_SIZE]),
) -> Result<Measurement, Error> {
    if inputs.ovmf_hash.is_some() && inputs.mode != Mode::Snp {
        return Err(Error::OvmfHashOnlySnp);
    }
    if inputs.mode != Mode::Sev && !(1..=MAX_VCPUS).contains(&inputs.vcpus) {
        return Err(Error::VcpuCount(inputs.vcpus));
    }
    match inputs.mode {
        Mode::Snp => snp(inputs, &mut on_vmsa).map(Measurement::Sha384),
        Mode::SnpSvsm => svsm(inputs, &mut on_vmsa).map(Measurement::Sha384),
        Mode::SevEs => seves(inputs, &mut on_vmsa).map(Measurement::Sha256),
        Mode::Sev => sev(inputs).map(Measurement::Sha256),
    }
}

/// The vCPU signature for the VMSA: required for QEMU; EC2 and GCE ignore it (RDX 0x600).
fn vcpu_sig(inputs: &LaunchInputs<'_>) -> Result<u32, Error> {
    match (inputs.vcpu_sig, inputs.vmm) {
        (Some(s), _) => Ok(s),
        (None, VmmType::Qemu) => Err(Error::MissingVcpuSignature),
        (None, _) => Ok(0),
    }
}

fn reset_vmsa(inputs: &LaunchInputs<'_>, eip: u32, features: u64, sig: u32) -> [u8; PAGE_SIZE] {
    let v = Vmsa::reset(eip, features, sig, inputs.vmm);
    if inputs.ec2_legacy_rdx_zero && inputs.vmm == VmmType::Ec2 {
        v.with_rdx(0).to_page()
    } else {
        v.to_page()
    }
}

/// BSP and (when there is more than one vCPU) AP VMSA pages.
fn vmsa_pair(
    inputs: &LaunchInputs<'_>,
    fw: &Firmware<'_>,
    features: u64,
) -> Result<([u8; PAGE_SIZE], Option<[u8; PAGE_SIZE]>), Error> {
    let ap_eip = fw.sev_es_reset_eip()?;
    let sig = vcpu_sig(inputs)?;
    let bsp = reset_vmsa(inputs, BSP_EIP, features, sig);
    let ap = if ap_eip != 0 {
        Some(reset_vmsa(inputs, ap_eip, features, sig))
    } else if inputs.vcpus > 1 {
        return Err(Error::NoApResetAddress(inputs.vcpus));
    } else {
        None
    };
    Ok((bsp, ap))
}

fn snp(
    inputs: &LaunchInputs<'_>,
    on_vmsa: &mut dyn FnMut(u32, &[u8; PAGE_SIZE]),
) -> Result<[u8; LD_SIZE], Error> {
    let fw = inputs.ovmf.firmware(FOUR_GIB, "OVMF")?;
    let mut g = match inputs.ovmf_hash {
        Some(seed) => SnpLaunchDigest::from_seed(seed),
        None => {
            let mut g = SnpLaunchDigest::new();
            g.update_normal_pages_from(fw.gpa(), &inputs.ovmf)?;
            g
        }
    };
    update_metadata_pages(&mut g, &fw, inputs.kernel_hashes.as_ref(), inputs.vmm)?;
    let (bsp, ap) = vmsa_pair(inputs, &fw, inputs.guest_features)?;
    let bsp_digest = sha384_page(&bsp);
    let ap_digest = ap.as_ref().map(|p| sha384_page(p));
    for i in 0..inputs.vcpus {
        let (page, digest) = match (i, &ap, &ap_digest) {
            (0, ..) => (&bsp, &bsp_digest),
            (_, Some(p), Some(d)) => (p, d),
            _ => return Err(Error::NoApResetAddress(inputs.vcpus)),
        };
        g.update(PageType::Vmsa, super::gctx::VMSA_GPA, digest);
        on_vmsa(i, page);
    }
    Ok(g.digest())
}

/// Measures the metadata sections of `fw` in file order (on EC2 the CPUID pages last).
fn update_metadata_pages(
    g: &mut SnpLaunchDigest,
    fw: &Firmware<'_>,
    hashes: Option<&SevHashes>,
    vmm: VmmType,
) -> Result<(), Error> {
    for s in fw.sections() {
        let (gpa, size) = (u64::from(s.gpa), u64::from(s.size));
        match s.kind {
            SectionKind::SnpSecMem if vmm == VmmType::Gce => {
                g.update_empty_pages(PageType::Unmeasured, gpa, size)
            }
            SectionKind::SnpSecMem => g.update_empty_pages(PageType::Zero, gpa, size),
            SectionKind::SnpSecrets => {
                g.update_empty_pages(PageType::Secrets, gpa, PAGE_SIZE as u64)
            }
            SectionKind::Cpuid if vmm == VmmType::Ec2 => {}
            SectionKind::Cpuid => g.update_empty_pages(PageType::Cpuid, gpa, PAGE_SIZE as u64),
            SectionKind::SnpKernelHashes => match hashes {
                Some(h) => {
                    if s.size as usize != PAGE_SIZE {
                        return Err(Error::KernelHashesSectionSize(s.size));
                    }
                    let offset = fw.sev_hashes_table_gpa()? & 0xfff;
                    let page = h.page(offset)?;
                    g.update(PageType::Normal, gpa, &sha384_page(&page));
                }
                None => g.update_empty_pages(PageType::Zero, gpa, size),
            },
            SectionKind::SvsmCaa => g.update_empty_pages(PageType::Zero, gpa, size),
            SectionKind::Unknown(t) => return Err(Error::UnknownSectionType(t)),
        }
    }
    if vmm == VmmType::Ec2 {
        for s in fw
            .sections()
            .iter()
            .filter(|s| s.kind == SectionKind::Cpuid)
        {
            g.update_empty_pages(PageType::Cpuid, u64::from(s.gpa), PAGE_SIZE as u64);
        }
    }
    if hashes.is_some() && !fw.has_section(SectionKind::SnpKernelHashes) {
        return Err(Error::NoKernelHashesSection);
    }
    Ok(())
}

fn svsm(
    inputs: &LaunchInputs<'_>,
    on_vmsa: &mut dyn FnMut(u32, &[u8; PAGE_SIZE]),
) -> Result<[u8; LD_SIZE], Error> {
    if inputs.vmm != VmmType::Qemu {
        return Err(Error::SvsmNeedsQemu);
    }
    let svsm_data = inputs.svsm.ok_or(Error::SvsmMissing)?;
    let ovmf = inputs.ovmf.firmware(FOUR_GIB, "OVMF")?;
    let end = ovmf
        .gpa()
        .checked_sub(inputs.ovmf_vars_size)
        .ok_or(Error::SvsmPlacement {
            svsm: svsm_data.len(),
            vars: inputs.ovmf_vars_size,
            ovmf_gpa: ovmf.gpa(),
        })?;
    let svsm = svsm_data.firmware(end, "SVSM")?;
    let entry = svsm.svsm_entry()?;
    let sig = vcpu_sig(inputs)?;
    let mut g = SnpLaunchDigest::new();
    g.update_normal_pages_from(ovmf.gpa(), &inputs.ovmf)?;
    g.update_normal_pages_from(svsm.gpa(), &svsm_data)?;
    update_metadata_pages(&mut g, &svsm, None, VmmType::Qemu)?;
    let page = Vmsa::svsm(entry, sig).to_page();
    let digest = sha384_page(&page);
    for i in 0..inputs.vcpus {
        g.update(PageType::Vmsa, super::gctx::VMSA_GPA, &digest);
        on_vmsa(i, &page);
    }
    Ok(g.digest())
}

fn legacy_prefix<'a>(inputs: &LaunchInputs<'a>) -> Result<(Firmware<'a>, Sha256), Error> {
    let fw = inputs.ovmf.firmware(FOUR_GIB, "OVMF")?;
    let mut h = Sha256::new();
    inputs.ovmf.sha256_into(&mut h)?;
    if let Some(k) = &inputs.kernel_hashes {
        if !fw.supports_sev_hashes_table() {
            return Err(Error::HashesTableUnsupported);
        }
        h.update(&k.table());
    }
    Ok((fw, h))
}

fn seves(
    inputs: &LaunchInputs<'_>,
    on_vmsa: &mut dyn FnMut(u32, &[u8; PAGE_SIZE]),
) -> Result<[u8; 32], Error> {
    let (fw, mut h) = legacy_prefix(inputs)?;
    let (bsp, ap) = vmsa_pair(inputs, &fw, 0)?;
    for i in 0..inputs.vcpus {
        let page = match (i, &ap) {
            (0, _) => &bsp,
            (_, Some(p)) => p,
            _ => return Err(Error::NoApResetAddress(inputs.vcpus)),
        };
        h.update(page);
        on_vmsa(i, page);
    }
    Ok(h.finish())
}

fn sev(inputs: &LaunchInputs<'_>) -> Result<[u8; 32], Error> {
    let (_, h) = legacy_prefix(inputs)?;
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names() {
        for (s, m) in [
            ("sev", Mode::Sev),
            ("SEV-ES", Mode::SevEs),
            ("sev-snp", Mode::Snp),
            ("SNP:SVSM", Mode::SnpSvsm),
        ] {
            assert_eq!(s.parse::<Mode>().unwrap(), m);
        }
        assert!("snp:ovmf-hash".parse::<Mode>().is_err());
        assert_eq!(Mode::SevEs.name(), "SEV_ES");
    }

    #[test]
    fn input_checks() {
        let page = [0u8; PAGE_SIZE];
        let mut i = LaunchInputs::new(Mode::Snp, &page);
        i.vcpus = 0;
        assert!(matches!(launch_digest(&i), Err(Error::VcpuCount(0))));
        i.vcpus = 1;
        // No footer table: no reset block.
        assert!(matches!(
            launch_digest(&i),
            Err(Error::MissingTableEntry(_))
        ));
        i.vcpu_sig = Some(0x800f12);
        i.mode = Mode::Sev;
        i.ovmf_hash = Some([0; 48]);
        assert!(matches!(launch_digest(&i), Err(Error::OvmfHashOnlySnp)));
        i.ovmf_hash = None;
        assert_eq!(
            launch_digest(&i).unwrap(),
            Measurement::Sha256(<sha2::Sha256 as sha2::Digest>::digest(page).into())
        );
        i.mode = Mode::SnpSvsm;
        i.vmm = VmmType::Ec2;
        assert!(matches!(launch_digest(&i), Err(Error::SvsmNeedsQemu)));
    }
}
