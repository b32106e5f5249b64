//! The initial VMSA (VM save area, `SevEsSaveArea`, AMD APM vol. 2 table B-4) of each vCPU, as
//! QEMU, AWS EC2 and Google GCE set it up.

use std::fmt;
use std::str::FromStr;

use super::ovmf::PAGE_SIZE;
use super::Error;

/// EIP of the bootstrap processor at reset.
pub(crate) const BSP_EIP: u32 = 0xFFFF_FFF0;

/// The hypervisor / VMM that launches the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmmType {
    /// QEMU/KVM (the default).
    #[default]
    Qemu,
    /// Amazon EC2.
    Ec2,
    /// Google Compute Engine.
    Gce,
}

impl FromStr for VmmType {
    type Err = Error;
    /// Accepts the sev-snp-measure spellings `QEMU`, `ec2`, `gce` (exact case).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "QEMU" => Ok(Self::Qemu),
            "ec2" => Ok(Self::Ec2),
            "gce" => Ok(Self::Gce),
            other => Err(Error::UnknownVmmType(other.to_owned())),
        }
    }
}

impl fmt::Display for VmmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Qemu => "QEMU",
            Self::Ec2 => "ec2",
            Self::Gce => "gce",
        })
    }
}

/// A segment register in the VMSA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seg {
    selector: u16,
    attrib: u16,
    limit: u32,
    base: u64,
}

const fn seg(selector: u16, attrib: u16, limit: u32, base: u64) -> Seg {
    Seg {
        selector,
        attrib,
        limit,
        base,
    }
}

/// Field offsets in the save area.
mod off {
    pub(super) const ES: usize = 0x00;
    pub(super) const CS: usize = 0x10;
    pub(super) const SS: usize = 0x20;
    pub(super) const DS: usize = 0x30;
    pub(super) const FS: usize = 0x40;
    pub(super) const GS: usize = 0x50;
    pub(super) const GDTR: usize = 0x60;
    pub(super) const LDTR: usize = 0x70;
    pub(super) const IDTR: usize = 0x80;
    pub(super) const TR: usize = 0x90;
    pub(super) const EFER: usize = 0xD0;
    pub(super) const CR4: usize = 0x148;
    pub(super) const CR0: usize = 0x158;
    pub(super) const DR7: usize = 0x160;
    pub(super) const DR6: usize = 0x168;
    pub(super) const RFLAGS: usize = 0x170;
    pub(super) const RIP: usize = 0x178;
    pub(super) const G_PAT: usize = 0x268;
    pub(super) const RDX: usize = 0x310;
    pub(super) const SEV_FEATURES: usize = 0x3B0;
    pub(super) const XCR0: usize = 0x3E8;
    pub(super) const MXCSR: usize = 0x408;
    pub(super) const X87_FCW: usize = 0x410;
}

/// The non-zero registers of an initial VMSA. Every other byte of the 4 KiB page is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Vmsa {
    es: Seg,
    cs: Seg,
    ss: Seg,
    ds: Seg,
    fs: Seg,
    gs: Seg,
    gdtr: Seg,
    ldtr: Seg,
    idtr: Seg,
    tr: Seg,
    cr0: u64,
    rip: u64,
    g_pat: u64,
    rdx: u64,
    sev_features: u64,
    mxcsr: u32,
    x87_fcw: u16,
}

const DEFAULT_G_PAT: u64 = 0x0007_0406_0007_0406;

impl Vmsa {
    /// The reset-state VMSA of a vCPU starting at `eip` (the BSP at [`BSP_EIP`], APs at the
    /// OVMF AP reset address), for SEV-ES and SEV-SNP guests.
    pub(crate) fn reset(eip: u32, sev_features: u64, vcpu_sig: u32, vmm: VmmType) -> Self {
        let (mut cs_flags, mut ss_flags, mut tr_flags) = (0x9b, 0x93, 0x8b);
        let (mut g_pat, rdx, mxcsr, fcw) = match vmm {
            VmmType::Qemu => (DEFAULT_G_PAT, u64::from(vcpu_sig), 0x1f80, 0x37f),
            VmmType::Ec2 | VmmType::Gce => (DEFAULT_G_PAT, 0x600, 0, 0),
        };
        match vmm {
            VmmType::Qemu => {}
            VmmType::Ec2 => {
                if eip == BSP_EIP {
                    cs_flags = 0x9a;
                }
                ss_flags = 0x92;
                tr_flags = 0x83;
            }
            VmmType::Gce => g_pat = 0x0007_0106,
        }
        Vmsa {
            es: seg(0, 0x93, 0xffff, 0),
            cs: seg(0xf000, cs_flags, 0xffff, u64::from(eip & 0xffff_0000)),
            ss: seg(0, ss_flags, 0xffff, 0),
            ds: seg(0, 0x93, 0xffff, 0),
            fs: seg(0, 0x93, 0xffff, 0),
            gs: seg(0, 0x93, 0xffff, 0),
            gdtr: seg(0, 0, 0xffff, 0),
            ldtr: seg(0, 0x82, 0xffff, 0),
            idtr: seg(0, 0, 0xffff, 0),
            tr: seg(0, tr_flags, 0xffff, 0),
            cr0: 0x10,
            rip: u64::from(eip & 0xffff),
            g_pat,
            rdx,
            sev_features,
            mxcsr,
            x87_fcw: fcw,
        }
    }

    /// The VMSA of every vCPU of a COCONUT-SVSM guest (QEMU): flat 32-bit segments, RIP at the
    /// SVSM entry, SEV_FEATURES 0x1. x87_fcw stays 0 as in sev-snp-measure, whose value real
    /// launches confirm.
    pub(crate) fn svsm(entry: u64, vcpu_sig: u32) -> Self {
        Vmsa {
            es: seg(16, 0xc93, 0xffff_ffff, 0),
            cs: seg(8, 0xc9b, 0xffff_ffff, 0),
            ss: seg(16, 0xc93, 0xffff_ffff, 0),
            ds: seg(16, 0xc93, 0xffff_ffff, 0),
            fs: seg(16, 0xc93, 0xffff_ffff, 0),
            gs: seg(0, 0x93, 0xffff, 0),
            gdtr: seg(0, 0, 0xffff, 0),
            ldtr: seg(0, 0x82, 0xffff, 0),
            idtr: seg(0, 0, 0xffff, 0),
            tr: seg(0, 0x8b, 0xffff, 0),
            cr0: 0x11,
            rip: entry,
            g_pat: DEFAULT_G_PAT,
            rdx: u64::from(vcpu_sig),
            sev_features: 0x1,
            mxcsr: 0x1f80,
            x87_fcw: 0,
        }
    }

    /// Overrides RDX (the value a hypervisor leaves there; used for the legacy EC2 VMSA).
    pub(crate) fn with_rdx(mut self, rdx: u64) -> Self {
        self.rdx = rdx;
        self
    }

    /// The 4096-byte page.
    // in bounds: every offset in `off` is a constant of the VMSA layout, at most 16 bytes below
    // the end of the 4 KiB page.
    #[allow(clippy::indexing_slicing)]
    pub(crate) fn to_page(self) -> [u8; PAGE_SIZE] {
        let mut p = [0u8; PAGE_SIZE];
        let segs = [
            (off::ES, self.es),
            (off::CS, self.cs),
            (off::SS, self.ss),
            (off::DS, self.ds),
            (off::FS, self.fs),
            (off::GS, self.gs),
            (off::GDTR, self.gdtr),
            (off::LDTR, self.ldtr),
            (off::IDTR, self.idtr),
            (off::TR, self.tr),
        ];
        for (o, s) in segs {
            p[o..o + 2].copy_from_slice(&s.selector.to_le_bytes());
            p[o + 2..o + 4].copy_from_slice(&s.attrib.to_le_bytes());
            p[o + 4..o + 8].copy_from_slice(&s.limit.to_le_bytes());
            p[o + 8..o + 16].copy_from_slice(&s.base.to_le_bytes());
        }
        let regs = [
            (off::EFER, 0x1000), // KVM sets EFER.SVME
            (off::CR4, 0x40),    // CR4.MCE
            (off::CR0, self.cr0),
            (off::DR7, 0x400),
            (off::DR6, 0xffff_0ff0),
            (off::RFLAGS, 0x2),
            (off::RIP, self.rip),
            (off::G_PAT, self.g_pat),
            (off::RDX, self.rdx),
            (off::SEV_FEATURES, self.sev_features),
            (off::XCR0, 0x1),
        ];
        for (o, v) in regs {
            p[o..o + 8].copy_from_slice(&u64::to_le_bytes(v));
        }
        p[off::MXCSR..off::MXCSR + 4].copy_from_slice(&self.mxcsr.to_le_bytes());
        p[off::X87_FCW..off::X87_FCW + 2].copy_from_slice(&self.x87_fcw.to_le_bytes());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmm_names() {
        for v in [VmmType::Qemu, VmmType::Ec2, VmmType::Gce] {
            assert_eq!(v.to_string().parse::<VmmType>().unwrap(), v);
        }
        assert!("qemu".parse::<VmmType>().is_err());
    }

    #[test]
    fn qemu_bsp_fields() {
        let p = Vmsa::reset(BSP_EIP, 0x1, 0x800f12, VmmType::Qemu).to_page();
        assert_eq!(
            &p[0x10..0x20],
            &[0, 0xf0, 0x9b, 0, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(
            u64::from_le_bytes(p[0x178..0x180].try_into().unwrap()),
            0xfff0
        );
        assert_eq!(
            u64::from_le_bytes(p[0x310..0x318].try_into().unwrap()),
            0x800f12
        );
        assert_eq!(
            u16::from_le_bytes(p[0x410..0x412].try_into().unwrap()),
            0x37f
        );
        let e = Vmsa::reset(BSP_EIP, 0x1, 0x800f12, VmmType::Ec2).to_page();
        assert_eq!(
            u64::from_le_bytes(e[0x310..0x318].try_into().unwrap()),
            0x600
        );
        assert_eq!(e[0x12], 0x9a);
    }
}
