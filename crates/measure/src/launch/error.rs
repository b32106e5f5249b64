//! The one error type of [`crate::launch`].
//!
//! Texts of the variants that sev-snp-measure also reports (it prints them as `Error: <text>`)
//! are kept word for word, so scripts that match on them keep working.

use std::path::PathBuf;

/// Why a launch digest (or an ID block helper) could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A firmware (OVMF or SVSM) image is empty, too large or not a whole number of pages.
    #[error("{image} image size {size} bytes is invalid: {reason}")]
    ImageSize {
        /// Which image ("OVMF" or "SVSM").
        image: &'static str,
        /// Its size in bytes.
        size: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A structure does not fit in the bytes that hold it.
    #[error(
        "{field} is truncated: needs {needed} bytes at offset {offset:#x}, image has {available}"
    )]
    Truncated {
        /// The structure being read.
        field: &'static str,
        /// Its offset in the image.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// An entry of the GUIDed footer table declares a size smaller than its header or larger
    /// than the table.
    #[error("Invalid entry size: OVMF footer table entry {guid} declares {size} bytes ({reason})")]
    InvalidEntrySize {
        /// The entry GUID.
        guid: String,
        /// The declared size.
        size: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The GUIDed footer table has bytes that belong to no entry.
    #[error("OVMF footer table has {0} stray bytes before its first entry")]
    TableTrailingBytes(usize),
    /// The same GUID appears twice in the footer table (firmware and QEMU would disagree on
    /// which one counts).
    #[error("OVMF footer table holds entry {0} more than once")]
    DuplicateTableEntry(String),
    /// A footer-table entry is shorter than the value read from it.
    #[error("OVMF footer table entry {name} is {len} bytes, needs at least {needed}")]
    ShortTableEntry {
        /// Name of the entry.
        name: &'static str,
        /// Its data length.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A footer-table entry the computation needs is absent.
    #[error("Can't find {0} entry in OVMF table")]
    MissingTableEntry(&'static str),
    /// The SVSM binary has no SVSM information entry.
    #[error("Can't find SVSM_INFO_GUID entry in SVSM table")]
    MissingSvsmInfo,
    /// The SEV metadata header does not start with `ASEV`.
    #[error("Wrong SEV metadata signature")]
    MetadataSignature,
    /// The SEV metadata version is not 1.
    #[error("Wrong SEV metadata version: {0} (expected 1)")]
    MetadataVersion(u32),
    /// The SEV metadata header is inconsistent (offset, size or item count).
    #[error("SEV metadata is malformed: {0}")]
    MetadataMalformed(&'static str),
    /// A metadata section is not page aligned, or runs past 4 GiB.
    #[error(
        "SEV metadata section {index} (type {kind:#x}, gpa {gpa:#x}, size {size:#x}): {reason}"
    )]
    BadSection {
        /// Index of the section in the metadata.
        index: usize,
        /// Its raw type.
        kind: u32,
        /// Its guest physical address.
        gpa: u32,
        /// Its size.
        size: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two metadata sections cover the same page.
    #[error("SEV metadata sections {0} and {1} overlap")]
    OverlappingSections(usize, usize),
    /// A metadata section type this measurement does not know.
    #[error("unknown OVMF metadata section type {0:#x}")]
    UnknownSectionType(u32),
    /// A kernel was given but the OVMF has no SNP_KERNEL_HASHES metadata section.
    #[error("Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")]
    NoKernelHashesSection,
    /// A kernel was given but the OVMF has no (or a zero) SEV hashes table GPA (SEV, SEV-ES).
    #[error("Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement")]
    HashesTableUnsupported,
    /// The SNP_KERNEL_HASHES section is not exactly one page.
    #[error("SNP_KERNEL_HASHES section is {0:#x} bytes, expected one page (0x1000)")]
    KernelHashesSectionSize(u32),
    /// The SEV hashes table would cross the end of its page.
    #[error("SEV hashes table at page offset {0:#x} does not fit in the page")]
    HashesTableCrossesPage(u32),
    /// More than one vCPU, but the OVMF gives no AP reset address.
    #[error("{0} vCPUs need an AP reset address, but the SEV-ES reset block holds 0")]
    NoApResetAddress(u32),
    /// The vCPU count is zero or implausibly large.
    #[error("vCPU count {0} is out of range (1..={max})", max = crate::launch::MAX_VCPUS)]
    VcpuCount(u32),
    /// The QEMU VMSA needs a vCPU signature and none was given.
    #[error("a vCPU signature is required for VMM type QEMU in this mode")]
    MissingVcpuSignature,
    /// A seeded OVMF hash is not 48 bytes.
    #[error("SNP OVMF hash must be 48 bytes (96 hex digits), got {0} bytes")]
    OvmfHashLength(usize),
    /// A seeded OVMF hash is not valid hex.
    #[error("SNP OVMF hash is not a hex string")]
    OvmfHashHex,
    /// A seeded OVMF hash was given outside mode `snp`.
    #[error("SNP OVMF hash only works with SNP")]
    OvmfHashOnlySnp,
    /// SVSM mode asked with a VMM type other than QEMU.
    #[error("SVSM mode is only implemented for Qemu.")]
    SvsmNeedsQemu,
    /// SVSM mode without the SVSM binary.
    #[error("snp:svsm mode requires an SVSM binary")]
    SvsmMissing,
    /// The SVSM (plus the OVMF vars) does not fit below the OVMF.
    #[error("SVSM of {svsm} bytes plus OVMF vars of {vars} bytes do not fit below the OVMF at {ovmf_gpa:#x}")]
    SvsmPlacement {
        /// SVSM size.
        svsm: u64,
        /// OVMF vars size.
        vars: u64,
        /// GPA of the OVMF.
        ovmf_gpa: u64,
    },
    /// An unknown vCPU type name.
    #[error("unknown vCPU type '{0}'")]
    UnknownVcpuType(String),
    /// An unknown VMM type name.
    #[error("unknown VMM type '{0}'")]
    UnknownVmmType(String),
    /// An unknown guest mode name.
    #[error("unknown guest mode '{0}'")]
    UnknownMode(String),
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Io {
        /// Which input ("OVMF", "kernel", ...).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key is not an EC P-384 key, or cannot be parsed.
    #[error("{what}: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A SEV signature structure is malformed (non-zero padding, out-of-range r or s).
    #[error("{what} is not a valid SEV ECDSA P-384 signature: {reason}")]
    SignatureFormat {
        /// Which signature.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A signature did not verify.
    #[error("{0} does not verify")]
    SignatureInvalid(&'static str),
    /// A structure has the wrong length.
    #[error("{what} must be {expected} bytes, got {actual}")]
    Length {
        /// Which structure.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// An ID_AUTH field has an unsupported value.
    #[error("ID_AUTH {field} is {actual}, expected {expected}")]
    IdAuthField {
        /// The field.
        field: &'static str,
        /// Expected value.
        expected: u32,
        /// Actual value.
        actual: u32,
    },
}
