//! Parsing of OVMF (and COCONUT-SVSM) images: the GUIDed footer table and the SEV metadata.
//!
//! Every read is bounds-checked and every declared size is validated against the image, so
//! malformed input gives a typed [`Error`] and never a panic; work is linear in the image size.

use remits_codec::Cursor;

use super::guid::{self, Guid};
use super::Error;

/// Guest physical address just past the firmware: OVMF is mapped to end at 4 GiB.
pub const FOUR_GIB: u64 = 0x1_0000_0000;
/// Page size.
pub const PAGE_SIZE: usize = 4096;
/// Largest firmware image accepted (QEMU maps firmware below 4 GiB; real images are 2–4 MiB).
pub const MAX_IMAGE_SIZE: usize = 256 << 20;
/// Size of a footer-table entry header: `u16 size` + GUID.
const ENTRY_HEADER: usize = 18;
/// The table footer ends this many bytes before the end of the image.
const FOOTER_GAP: usize = 32;
/// Size of the SEV metadata header: `"ASEV"`, u32 size, u32 version, u32 item count.
const METADATA_HEADER: usize = 16;
/// Size of one SEV metadata section descriptor: u32 gpa, u32 size, u32 type.
const METADATA_ITEM: usize = 12;

/// Reads a firmware image (OVMF, SVSM) from disk, refusing files larger than
/// [`MAX_IMAGE_SIZE`] before reading them.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::ImageSize`] when it is larger than
/// `MAX_IMAGE_SIZE`.
pub fn read_image(path: &std::path::Path, what: &'static str) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_IMAGE_SIZE as u64 {
        return Err(Error::ImageSize {
            image: what,
            size: len,
            reason: "larger than 256 MiB",
        });
    }
    let mut data = Vec::with_capacity(len as usize);
    f.take(MAX_IMAGE_SIZE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    Ok(data)
}

/// Bytes at the end of an image that always hold its GUIDed footer table: the footer 32 bytes
/// before the end, and a table of at most `u16::MAX` bytes before it (rounded up to pages).
pub(crate) const TAIL_LEN: usize =
    (FOOTER_GAP + u16::MAX as usize + ENTRY_HEADER).div_ceil(PAGE_SIZE) * PAGE_SIZE;

/// The outcome of parsing an image from its tail.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    /// Everything needed was in the tail.
    Firmware(Firmware<'a>),
    /// The SEV metadata (or the footer table) starts at this image offset, before the tail.
    NeedsFrom(usize),
}

/// Type of an SEV metadata section (edk2 `OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// 1: memory pre-validated by the firmware (SNP_SEC_MEM).
    SnpSecMem,
    /// 2: the SNP secrets page.
    SnpSecrets,
    /// 3: the CPUID page.
    Cpuid,
    /// 4: the SVSM calling-area page.
    SvsmCaa,
    /// 0x10: the page holding the SEV hashes table (SNP_KERNEL_HASHES).
    SnpKernelHashes,
    /// Any other value (rejected when an SNP digest is computed).
    Unknown(u32),
}

impl SectionKind {
    fn from_raw(v: u32) -> Self {
        match v {
            1 => Self::SnpSecMem,
            2 => Self::SnpSecrets,
            3 => Self::Cpuid,
            4 => Self::SvsmCaa,
            0x10 => Self::SnpKernelHashes,
            other => Self::Unknown(other),
        }
    }

    /// The raw type value.
    pub fn raw(self) -> u32 {
        match self {
            Self::SnpSecMem => 1,
            Self::SnpSecrets => 2,
            Self::Cpuid => 3,
            Self::SvsmCaa => 4,
            Self::SnpKernelHashes => 0x10,
            Self::Unknown(v) => v,
        }
    }
}

/// One SEV metadata section descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    /// Guest physical address (page aligned).
    pub gpa: u32,
    /// Size in bytes (a multiple of the page size).
    pub size: u32,
    /// Section type.
    pub kind: SectionKind,
}

/// One entry of the GUIDed footer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry<'a> {
    /// Entry GUID.
    pub guid: Guid,
    /// Entry data (without the 18-byte header).
    pub data: &'a [u8],
}

/// A parsed firmware image (OVMF or an SVSM binary), borrowing the image bytes.
#[derive(Clone, Debug)]
pub struct Firmware<'a> {
    /// The whole image, or (inside the crate, for an image streamed from a file) its tail.
    data: &'a [u8],
    /// Length of the whole image.
    len: usize,
    gpa: u64,
    table: Vec<TableEntry<'a>>,
    sections: Vec<MetadataSection>,
}

/// The little-endian u32 that starts the footer-table entry `name` (its data is `data`).
fn entry_value(data: &[u8], name: &'static str) -> Result<u32, Error> {
    Cursor::new(data, name)
        .u32_le("value")
        .map_err(|_| Error::ShortTableEntry {
            name,
            len: data.len(),
            needed: 4,
        })
}

/// The 18-byte header (`u16` size, GUID) of the footer-table entry that ends where `before`
/// ends: the table is walked backwards, each header following its entry's data.
fn entry_header(before: &[u8]) -> Result<(u16, Guid), remits_codec::Error> {
    let at = before.len().saturating_sub(ENTRY_HEADER);
    let mut c = Cursor::new(
        before.get(at..).unwrap_or_default(),
        "OVMF footer table entry",
    );
    let size = c.u16_le("Size")?;
    let guid = Guid(c.array("GUID")?);
    Ok((size, guid))
}

impl<'a> Firmware<'a> {
    /// Parses an OVMF image mapped to end at 4 GiB.
    ///
    /// # Errors
    ///
    /// As `OvmfImage::parse_ending_at`.
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        Self::parse_ending_at(data, FOUR_GIB, "OVMF")
    }

    /// Parses a firmware image mapped to end at guest physical address `end` (exclusive).
    /// `image` names it in errors ("OVMF", "SVSM").
    ///
    /// # Errors
    ///
    /// [`Error::ImageSize`] for an image that does not fit below `end`, [`Error::Truncated`] or a
    /// footer-table or metadata error naming the structure that is malformed.
    pub fn parse_ending_at(data: &'a [u8], end: u64, image: &'static str) -> Result<Self, Error> {
        match Self::parse_tail(data, data.len() as u64, end, image)? {
            Parsed::Firmware(fw) => Ok(fw),
            // The tail is the whole image, so nothing can lie before it.
            Parsed::NeedsFrom(offset) => Err(Error::Truncated {
                field: "SEV metadata",
                offset: offset as u64,
                needed: 0,
                available: 0,
            }),
        }
    }

    /// Parses an image of `image_len` bytes from its last `tail.len()` bytes: the footer table
    /// and the SEV metadata are found from the end, so the rest of the image is not needed
    /// unless the metadata lies before the tail ([`Parsed::NeedsFrom`] then gives the image
    /// offset to read from). `tail` must hold at least [`TAIL_LEN`] bytes or the whole image.
    pub(crate) fn parse_tail(
        tail: &'a [u8],
        image_len: u64,
        end: u64,
        image: &'static str,
    ) -> Result<Parsed<'a>, Error> {
        let bad = |reason| Error::ImageSize {
            image,
            size: image_len,
            reason,
        };
        if image_len == 0 {
            return Err(bad("it is empty"));
        }
        if image_len > MAX_IMAGE_SIZE as u64 {
            return Err(bad("larger than 256 MiB"));
        }
        if image_len % PAGE_SIZE as u64 != 0 {
            return Err(bad("not a multiple of the 4 KiB page size"));
        }
        let gpa = end
            .checked_sub(image_len)
            .ok_or_else(|| bad("does not fit below its end address"))?;
        let len = image_len as usize;
        let Some(base) = len.checked_sub(tail.len()) else {
            return Err(bad("shorter than the bytes read from it"));
        };
        if base > 0 && tail.len() < TAIL_LEN {
            return Ok(Parsed::NeedsFrom(len - TAIL_LEN.min(len)));
        }
        let table = parse_footer_table(tail)?;
        let mut fw = Firmware {
            data: tail,
            len,
            gpa,
            table,
            sections: Vec::new(),
        };
        match fw.parse_metadata()? {
            Ok(sections) => fw.sections = sections,
            Err(offset) => return Ok(Parsed::NeedsFrom(offset)),
        }
        Ok(Parsed::Firmware(fw))
    }

    /// The image bytes. (Every `Firmware` this crate hands out was parsed from the whole image;
    /// the ones parsed from a file's tail stay internal, and their page contents are streamed.)
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Length of the image in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the image is empty (never: an empty image does not parse).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Guest physical address of the first byte of the image.
    pub fn gpa(&self) -> u64 {
        self.gpa
    }

    /// The footer-table entries, in file order (empty if the image has no table).
    pub fn table(&self) -> &[TableEntry<'a>] {
        &self.table
    }

    /// The data of the footer-table entry `guid`, if present.
    pub fn table_entry(&self, guid: &Guid) -> Option<&'a [u8]> {
        self.table.iter().find(|e| e.guid == *guid).map(|e| e.data)
    }

    /// The SEV metadata sections, in file order (empty if the image has none).
    pub fn sections(&self) -> &[MetadataSection] {
        &self.sections
    }

    /// Whether a metadata section of this kind exists.
    pub fn has_section(&self, kind: SectionKind) -> bool {
        self.sections.iter().any(|s| s.kind == kind)
    }

    fn entry_u32(&self, guid: &Guid, name: &'static str) -> Result<u32, Error> {
        let data = self
            .table_entry(guid)
            .ok_or(Error::MissingTableEntry(name))?;
        entry_value(data, name)
    }

    /// The AP reset EIP from the SEV-ES reset block.
    ///
    /// # Errors
    ///
    /// [`Error::MissingTableEntry`] when the image has no SEV-ES reset block.
    pub fn sev_es_reset_eip(&self) -> Result<u32, Error> {
        self.entry_u32(&guid::SEV_ES_RESET_BLOCK, "SEV_ES_RESET_BLOCK_GUID")
    }

    /// The guest physical address of the SEV hashes table.
    ///
    /// # Errors
    ///
    /// [`Error::MissingTableEntry`] when the image has no SEV hashes table entry.
    pub fn sev_hashes_table_gpa(&self) -> Result<u32, Error> {
        self.entry_u32(&guid::SEV_HASH_TABLE_RV, "SEV_HASH_TABLE_RV_GUID")
    }

    /// Whether the image has a non-zero SEV hashes table GPA (SEV and SEV-ES kernel hashes).
    pub fn supports_sev_hashes_table(&self) -> bool {
        matches!(self.sev_hashes_table_gpa(), Ok(gpa) if gpa != 0)
    }

    /// For an SVSM binary: the entry point (SVSM info offset plus the binary's GPA).
    ///
    /// # Errors
    ///
    /// [`Error::MissingSvsmInfo`] when the image has no SVSM info entry.
    pub fn svsm_entry(&self) -> Result<u64, Error> {
        let data = self
            .table_entry(&guid::SVSM_INFO)
            .ok_or(Error::MissingSvsmInfo)?;
        let off = entry_value(data, "SVSM_INFO_GUID")?;
        Ok(self.gpa + u64::from(off))
    }

    /// The metadata sections, or `Ok(Err(offset))` when the metadata starts at image offset
    /// `offset`, before the bytes held.
    fn parse_metadata(&self) -> Result<Result<Vec<MetadataSection>, usize>, Error> {
        let Some(entry) = self.table_entry(&guid::OVMF_SEV_METADATA) else {
            return Ok(Ok(Vec::new()));
        };
        let from_end = entry_value(entry, "OVMF_SEV_META_DATA_GUID")? as usize;
        let len = self.len;
        let start = len.checked_sub(from_end).ok_or(Error::MetadataMalformed(
            "offset from end is larger than the image",
        ))?;
        // Index of the image's byte `start` in `self.data` (the image's tail).
        let Some(at) = start.checked_sub(len - self.data.len()) else {
            return Ok(Err(start));
        };
        // `at` <= data.len(): the image's byte `start` lies inside the tail or just past it.
        let mut c = Cursor::new(self.data.get(at..).unwrap_or_default(), "SEV metadata");
        let truncated = |field, needed: usize| {
            move |_: remits_codec::Error| Error::Truncated {
                field,
                offset: start as u64,
                needed: needed as u64,
                available: (len - start) as u64,
            }
        };
        let header = truncated("SEV metadata header", METADATA_HEADER);
        let signature: [u8; 4] = c.array("Signature").map_err(header)?;
        let size = c.u32_le("Size").map_err(header)?;
        let version = c.u32_le("Version").map_err(header)?;
        let count = c.u32_le("NumberOfSections").map_err(header)?;
        if &signature != b"ASEV" {
            return Err(Error::MetadataSignature);
        }
        if version != 1 {
            return Err(Error::MetadataVersion(version));
        }
        let size = size as usize;
        if size < METADATA_HEADER {
            return Err(Error::MetadataMalformed("size is smaller than the header"));
        }
        let body = c
            .take(size - METADATA_HEADER, "Sections")
            .map_err(truncated("SEV metadata", size))?;
        let count = count as usize;
        if count > body.len() / METADATA_ITEM {
            return Err(Error::MetadataMalformed(
                "item count exceeds the metadata size",
            ));
        }
        let mut items = Cursor::new(body, "SEV metadata section");
        let item = |_| Error::MetadataMalformed("item");
        let mut sections = Vec::with_capacity(count);
        for index in 0..count {
            // count * 12 <= body.len() (checked above): these reads cannot run out.
            let gpa = items.u32_le("GPA").map_err(item)?;
            let size = items.u32_le("Size").map_err(item)?;
            let kind = SectionKind::from_raw(items.u32_le("Type").map_err(item)?);
            let bad = |reason| Error::BadSection {
                index,
                kind: kind.raw(),
                gpa,
                size,
                reason,
            };
            if gpa as usize % PAGE_SIZE != 0 {
                return Err(bad("address is not page aligned"));
            }
            if size as usize % PAGE_SIZE != 0 {
                return Err(bad("size is not a multiple of the page size"));
            }
            if u64::from(gpa) + u64::from(size) > FOUR_GIB {
                return Err(bad("runs past 4 GiB"));
            }
            sections.push(MetadataSection { gpa, size, kind });
        }
        check_no_overlap(&sections)?;
        Ok(Ok(sections))
    }
}

/// The pages a section occupies when measured: SECRETS and CPUID are always one page.
fn measured_span(s: &MetadataSection) -> (u64, u64) {
    let len = match s.kind {
        SectionKind::SnpSecrets | SectionKind::Cpuid => PAGE_SIZE as u64,
        _ => u64::from(s.size),
    };
    (u64::from(s.gpa), u64::from(s.gpa) + len)
}

fn check_no_overlap(sections: &[MetadataSection]) -> Result<(), Error> {
    let mut spans: Vec<(u64, u64, usize)> = sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (a, b) = measured_span(s);
            (a, b, i)
        })
        .filter(|(a, b, _)| b > a)
        .collect();
    spans.sort_unstable();
    for w in spans.windows(2) {
        if let [(_, end_a, ia), (start_b, _, ib)] = w {
            if start_b < end_a {
                return Err(Error::OverlappingSections((*ia).min(*ib), (*ia).max(*ib)));
            }
        }
    }
    Ok(())
}

/// Walks the GUIDed footer table backwards from the footer, which sits 32 bytes before the
/// end of the image. An image without the footer GUID has no table (not an error: such
/// firmware simply lacks SEV support, and the lookups that need an entry fail instead).
fn parse_footer_table(data: &[u8]) -> Result<Vec<TableEntry<'_>>, Error> {
    let len = data.len();
    let footer_off = len
        .checked_sub(FOOTER_GAP + ENTRY_HEADER)
        .ok_or(Error::Truncated {
            field: "OVMF footer table",
            offset: 0,
            needed: (FOOTER_GAP + ENTRY_HEADER) as u64,
            available: len as u64,
        })?;
    let Ok((footer_size, footer_guid)) =
        entry_header(data.get(..footer_off + ENTRY_HEADER).unwrap_or_default())
    else {
        return Ok(Vec::new());
    };
    if footer_guid != guid::OVMF_TABLE_FOOTER {
        return Ok(Vec::new());
    }
    let table_size =
        (footer_size as usize)
            .checked_sub(ENTRY_HEADER)
            .ok_or(Error::InvalidEntrySize {
                guid: footer_guid.to_string(),
                size: footer_size,
                reason: "smaller than the 18-byte footer",
            })?;
    let table_start = footer_off
        .checked_sub(table_size)
        .ok_or(Error::InvalidEntrySize {
            guid: footer_guid.to_string(),
            size: footer_size,
            reason: "larger than the image",
        })?;
    let mut rest = data
        .get(table_start..footer_off)
        .ok_or(Error::InvalidEntrySize {
            guid: footer_guid.to_string(),
            size: footer_size,
            reason: "larger than the image",
        })?;
    let mut entries: Vec<TableEntry<'_>> = Vec::new();
    while rest.len() >= ENTRY_HEADER {
        let hdr = rest.len() - ENTRY_HEADER;
        let Ok((size, guid)) = entry_header(rest) else {
            break;
        };
        let esize = size as usize;
        if esize < ENTRY_HEADER {
            return Err(Error::InvalidEntrySize {
                guid: guid.to_string(),
                size,
                reason: "smaller than its 18-byte header",
            });
        }
        let entry_start = rest
            .len()
            .checked_sub(esize)
            .ok_or(Error::InvalidEntrySize {
                guid: guid.to_string(),
                size,
                reason: "larger than the rest of the table",
            })?;
        if entries.iter().any(|e| e.guid == guid) {
            return Err(Error::DuplicateTableEntry(guid.to_string()));
        }
        // entry_start <= hdr: the entry is at least its 18-byte header.
        let (Some(data), Some(before)) = (rest.get(entry_start..hdr), rest.get(..entry_start))
        else {
            return Err(Error::InvalidEntrySize {
                guid: guid.to_string(),
                size,
                reason: "larger than the rest of the table",
            });
        };
        entries.push(TableEntry { guid, data });
        rest = before;
    }
    if !rest.is_empty() {
        return Err(Error::TableTrailingBytes(rest.len()));
    }
    entries.reverse();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal image: one page with a footer table holding `entries` (data, guid), last first.
    fn image(entries: &[(&[u8], Guid)], footer_extra: i32) -> Vec<u8> {
        let mut table = Vec::new();
        for (d, g) in entries {
            table.extend_from_slice(d);
            table.extend_from_slice(&((d.len() + 18) as u16).to_le_bytes());
            table.extend_from_slice(g.as_bytes());
        }
        let mut img = vec![0u8; PAGE_SIZE];
        let footer = PAGE_SIZE - 32 - 18;
        let start = footer - table.len();
        img[start..footer].copy_from_slice(&table);
        let fsize = (table.len() as i32 + 18 + footer_extra) as u16;
        img[footer..footer + 2].copy_from_slice(&fsize.to_le_bytes());
        img[footer + 2..footer + 18].copy_from_slice(guid::OVMF_TABLE_FOOTER.as_bytes());
        img
    }

    #[test]
    fn reads_entries_and_gpa() {
        let img = image(&[(&0x80b004u32.to_le_bytes(), guid::SEV_ES_RESET_BLOCK)], 0);
        let fw = Firmware::parse(&img).unwrap();
        assert_eq!(fw.gpa(), FOUR_GIB - PAGE_SIZE as u64);
        assert_eq!(fw.sev_es_reset_eip().unwrap(), 0x80b004);
        assert!(matches!(
            fw.sev_hashes_table_gpa(),
            Err(Error::MissingTableEntry(_))
        ));
    }

    #[test]
    fn no_footer_means_no_table() {
        let fw = Firmware::parse(&[0u8; PAGE_SIZE]).unwrap();
        assert!(fw.table().is_empty() && fw.sections().is_empty());
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(matches!(Firmware::parse(&[]), Err(Error::ImageSize { .. })));
        assert!(matches!(
            Firmware::parse(&[0u8; 100]),
            Err(Error::ImageSize { .. })
        ));
        // Footer claiming more than the image.
        let img = image(&[], 4000);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::InvalidEntrySize { .. })
        ));
        // Footer smaller than itself.
        let img = image(&[], -1);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::InvalidEntrySize { .. })
        ));
        // Stray bytes.
        let img = image(&[(&[1, 2, 3, 4], guid::SEV_ES_RESET_BLOCK)], 3);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::TableTrailingBytes(3))
        ));
        // Duplicates.
        let img = image(
            &[
                (&[1, 2, 3, 4], guid::SEV_ES_RESET_BLOCK),
                (&[1, 2, 3, 4], guid::SEV_ES_RESET_BLOCK),
            ],
            0,
        );
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::DuplicateTableEntry(_))
        ));
        // Short entry.
        let img = image(&[(&[1, 2], guid::SEV_ES_RESET_BLOCK)], 0);
        let fw = Firmware::parse(&img).unwrap();
        assert!(matches!(
            fw.sev_es_reset_eip(),
            Err(Error::ShortTableEntry { .. })
        ));
    }

    #[test]
    fn rejects_bad_metadata() {
        // Offset past the start of the image.
        let img = image(&[(&5000u32.to_le_bytes(), guid::OVMF_SEV_METADATA)], 0);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::MetadataMalformed(_))
        ));
        // Points at zeros: wrong signature.
        let img = image(&[(&2048u32.to_le_bytes(), guid::OVMF_SEV_METADATA)], 0);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::MetadataSignature)
        ));
        let mk = |items: &[(u32, u32, u32)], version: u32, count_extra: u32| {
            let mut img = image(&[(&2048u32.to_le_bytes(), guid::OVMF_SEV_METADATA)], 0);
            let s = PAGE_SIZE - 2048;
            img[s..s + 4].copy_from_slice(b"ASEV");
            let size = 16 + 12 * items.len() as u32;
            img[s + 4..s + 8].copy_from_slice(&size.to_le_bytes());
            img[s + 8..s + 12].copy_from_slice(&version.to_le_bytes());
            img[s + 12..s + 16].copy_from_slice(&(items.len() as u32 + count_extra).to_le_bytes());
            for (i, (g, z, t)) in items.iter().enumerate() {
                let o = s + 16 + 12 * i;
                img[o..o + 4].copy_from_slice(&g.to_le_bytes());
                img[o + 4..o + 8].copy_from_slice(&z.to_le_bytes());
                img[o + 8..o + 12].copy_from_slice(&t.to_le_bytes());
            }
            img
        };
        let ok = mk(&[(0x800000, 0x9000, 1), (0x80d000, 0x1000, 2)], 1, 0);
        let fw = Firmware::parse(&ok).unwrap();
        assert_eq!(fw.sections().len(), 2);
        assert_eq!(fw.sections()[1].kind, SectionKind::SnpSecrets);
        assert!(matches!(
            Firmware::parse(&mk(&[], 2, 0)),
            Err(Error::MetadataVersion(2))
        ));
        assert!(matches!(
            Firmware::parse(&mk(&[], 1, 1)),
            Err(Error::MetadataMalformed(_))
        ));
        let unaligned = mk(&[(0x800001, 0x1000, 1)], 1, 0);
        assert!(matches!(
            Firmware::parse(&unaligned),
            Err(Error::BadSection { .. })
        ));
        let past = mk(&[(0xffff_f000, 0x2000, 1)], 1, 0);
        assert!(matches!(
            Firmware::parse(&past),
            Err(Error::BadSection { .. })
        ));
        let overlap = mk(&[(0x800000, 0x9000, 1), (0x808000, 0x1000, 3)], 1, 0);
        assert!(matches!(
            Firmware::parse(&overlap),
            Err(Error::OverlappingSections(0, 1))
        ));
        // The header runs past the end of the image: named, with what it needs.
        let img = image(&[(&8u32.to_le_bytes(), guid::OVMF_SEV_METADATA)], 0);
        assert!(matches!(
            Firmware::parse(&img),
            Err(Error::Truncated {
                field: "SEV metadata header",
                needed: 16,
                available: 8,
                ..
            })
        ));
        // The declared size runs past the end of the image.
        let mut big = ok.clone();
        let s = PAGE_SIZE - 2048;
        big[s + 4..s + 8].copy_from_slice(&4096u32.to_le_bytes());
        assert!(matches!(
            Firmware::parse(&big),
            Err(Error::Truncated {
                field: "SEV metadata",
                needed: 4096,
                available: 2048,
                ..
            })
        ));
    }
}
