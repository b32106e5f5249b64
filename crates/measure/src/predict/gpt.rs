//! GUID partition table parsing and the UEFI_GPT_DATA event (PCR5).
//!
//! UEFI_GPT_DATA (what edk2's Tcg2 driver measures as EV_EFI_GPT_EVENT): the 92-byte primary
//! GPT header as stored on disk, a u64 (little-endian) count of partition entries whose type GUID
//! is not zero, and those entries (SizeOfPartitionEntry bytes each) in table order.

use super::disk::ReadAt;
use super::events::{sha256, types, Event};
use super::Error;

/// Size of the header fields covered by the CRC and the event (EFI_PARTITION_TABLE_HEADER).
pub const HEADER_SIZE: usize = 92;
/// Upper bound on the partition-entry array.
const MAX_ENTRY_BYTES: u64 = 4 << 20;
/// Type GUID of the EFI system partition, C12A7328-F81F-11D2-BA4B-00A0C93EC93B (on-disk bytes).
pub const ESP_TYPE: [u8; 16] = [
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b,
];

/// One used partition entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionEntry {
    /// 1-based index in the table (GRUB's `gptN`).
    pub number: u32,
    /// Partition type GUID (on-disk byte order).
    pub type_guid: [u8; 16],
    /// Unique partition GUID (on-disk byte order).
    pub unique_guid: [u8; 16],
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA (inclusive).
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Partition name (UTF-16LE, up to the first NUL).
    pub name: String,
    /// The raw entry bytes.
    pub raw: Vec<u8>,
}

/// A validated primary GPT.
#[derive(Clone, Debug)]
pub struct Gpt {
    /// Logical sector size (512 or 4096).
    pub sector_size: u64,
    /// The 92 header bytes as on disk.
    pub header: [u8; HEADER_SIZE],
    /// Disk GUID (on-disk byte order).
    pub disk_guid: [u8; 16],
    /// Alternate (backup) header LBA.
    pub alternate_lba: u64,
    /// First usable LBA.
    pub first_usable_lba: u64,
    /// Last usable LBA.
    pub last_usable_lba: u64,
    /// Used entries (non-zero type GUID), in table order.
    pub entries: Vec<PartitionEntry>,
}

/// Formats an on-disk GUID as the usual mixed-endian string (uppercase).
pub fn guid_string(g: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

impl Gpt {
    /// Reads and validates the protective MBR and the primary GPT (header and entry CRCs,
    /// MyLBA, usable range, entry size and count bounds).
    ///
    /// # Errors
    ///
    /// [`Error::Gpt`] naming the check that fails, [`Error::Io`] when the disk cannot be read.
    pub fn read<D: ReadAt + ?Sized>(disk: &D) -> Result<Gpt, Error> {
        let io = |field: &'static str| move |e: std::io::Error| Error::gpt(field, e.to_string());
        let mut mbr = [0u8; 512];
        disk.read_exact_at(0, &mut mbr)
            .map_err(io("protective MBR"))?;
        if mbr[510..512] != [0x55, 0xAA] {
            return Err(Error::gpt("protective MBR", "boot signature 55AA missing"));
        }
        // The four partition entries of the MBR (16 bytes each from 0x1BE); byte 4 is the type.
        if !mbr[0x1BE..0x1FE]
            .chunks_exact(16)
            .any(|e| e.get(4) == Some(&0xEE))
        {
            return Err(Error::gpt("protective MBR", "no partition of type 0xEE"));
        }
        let mut sector_size = 0;
        let mut sig = [0u8; 8];
        for s in [512u64, 4096] {
            if disk.read_exact_at(s, &mut sig).is_ok() && &sig == b"EFI PART" {
                sector_size = s;
                break;
            }
        }
        if sector_size == 0 {
            return Err(Error::gpt(
                "signature",
                "\"EFI PART\" not found at LBA 1 (512- or 4096-byte sectors)",
            ));
        }
        let mut hdr = vec![0u8; sector_size as usize];
        disk.read_exact_at(sector_size, &mut hdr)
            .map_err(io("header"))?;
        // The 92 bytes of EFI_PARTITION_TABLE_HEADER, read in order; the sector holding them is at
        // least 512 bytes, so the reads cannot run out (a failure would name the field).
        let mut c = remits_codec::Cursor::new(&hdr, "EFI_PARTITION_TABLE_HEADER");
        let short = |e: remits_codec::Error| Error::gpt("header", e.to_string());
        c.skip(8, "Signature").map_err(short)?;
        let revision = c.u32_le("Revision").map_err(short)?;
        let header_size = c.u32_le("HeaderSize").map_err(short)? as usize;
        let crc_stored = c.u32_le("HeaderCRC32").map_err(short)?;
        c.skip(4, "Reserved").map_err(short)?;
        let my_lba = c.u64_le("MyLBA").map_err(short)?;
        let alternate_lba = c.u64_le("AlternateLBA").map_err(short)?;
        let first_usable_lba = c.u64_le("FirstUsableLBA").map_err(short)?;
        let last_usable_lba = c.u64_le("LastUsableLBA").map_err(short)?;
        let disk_guid: [u8; 16] = c.array("DiskGUID").map_err(short)?;
        let entry_lba = c.u64_le("PartitionEntryLBA").map_err(short)?;
        let count = u64::from(c.u32_le("NumberOfPartitionEntries").map_err(short)?);
        let entry_size = u64::from(c.u32_le("SizeOfPartitionEntry").map_err(short)?);
        let ecrc_stored = c.u32_le("PartitionEntryArrayCRC32").map_err(short)?;
        if revision != 0x0001_0000 {
            return Err(Error::gpt(
                "Revision",
                format!("expected 0x00010000, actual {revision:#010x}"),
            ));
        }
        if header_size < HEADER_SIZE || header_size as u64 > sector_size {
            return Err(Error::gpt(
                "HeaderSize",
                format!("{header_size} is outside 92..={sector_size}"),
            ));
        }
        let mut crc_buf = hdr.get(..header_size).unwrap_or_default().to_vec();
        // The CRC is computed with its own field (bytes 16..20) zeroed; header_size >= 92.
        if let Some(field) = crc_buf.get_mut(16..20) {
            field.fill(0);
        }
        let crc = crc32fast::hash(&crc_buf);
        if crc != crc_stored {
            return Err(Error::gpt(
                "HeaderCRC32",
                format!("expected {crc_stored:#010x}, actual {crc:#010x}"),
            ));
        }
        if my_lba != 1 {
            return Err(Error::gpt("MyLBA", format!("expected 1, actual {my_lba}")));
        }
        let sectors = disk.len() / sector_size;
        if first_usable_lba > last_usable_lba || last_usable_lba >= sectors {
            return Err(Error::gpt(
                "LastUsableLBA",
                format!("usable range {first_usable_lba}..={last_usable_lba} does not fit {sectors} sectors"),
            ));
        }
        if entry_size < 128 || entry_size % 128 != 0 || !(entry_size / 128).is_power_of_two() {
            return Err(Error::gpt(
                "SizeOfPartitionEntry",
                format!("{entry_size} is not 128 * 2^n"),
            ));
        }
        let total = count
            .checked_mul(entry_size)
            .filter(|t| *t <= MAX_ENTRY_BYTES)
            .ok_or_else(|| {
                Error::gpt(
                    "NumberOfPartitionEntries",
                    format!("{count} entries of {entry_size} bytes exceed {MAX_ENTRY_BYTES}"),
                )
            })?;
        let off = entry_lba
            .checked_mul(sector_size)
            .ok_or_else(|| Error::gpt("PartitionEntryLBA", "overflow"))?;
        // The declared array must lie on the disk before anything is allocated for it.
        if off.checked_add(total).is_none_or(|end| end > disk.len()) {
            return Err(Error::gpt(
                "PartitionEntryLBA",
                format!(
                    "{count} entries of {entry_size} bytes at LBA {entry_lba} leave the {}-byte disk",
                    disk.len()
                ),
            ));
        }
        let mut table = vec![0u8; total as usize];
        disk.read_exact_at(off, &mut table)
            .map_err(io("partition entries"))?;
        let ecrc = crc32fast::hash(&table);
        if ecrc != ecrc_stored {
            return Err(Error::gpt(
                "PartitionEntryArrayCRC32",
                format!("expected {ecrc_stored:#010x}, actual {ecrc:#010x}"),
            ));
        }
        let mut entries = Vec::new();
        for (i, raw) in table.chunks_exact(entry_size as usize).enumerate() {
            // An entry is at least 128 bytes (checked above): these reads cannot run out.
            let mut c = remits_codec::Cursor::new(raw, "GPT partition entry");
            let cut = |e: remits_codec::Error| Error::gpt("partition entry", e.to_string());
            let type_guid: [u8; 16] = c.array("PartitionTypeGUID").map_err(cut)?;
            if type_guid == [0; 16] {
                continue;
            }
            let unique_guid: [u8; 16] = c.array("UniquePartitionGUID").map_err(cut)?;
            let first_lba = c.u64_le("StartingLBA").map_err(cut)?;
            let last_lba = c.u64_le("EndingLBA").map_err(cut)?;
            let attributes = c.u64_le("Attributes").map_err(cut)?;
            let units: Vec<u16> = c
                .take(72, "PartitionName")
                .map_err(cut)?
                .chunks_exact(2)
                .filter_map(|c| c.first_chunk::<2>().copied().map(u16::from_le_bytes))
                .take_while(|u| *u != 0)
                .collect();
            if first_lba > last_lba || last_lba > last_usable_lba || first_lba < first_usable_lba {
                return Err(Error::gpt(
                    "partition entry",
                    format!(
                        "entry {} range {first_lba}..={last_lba} is outside the usable range",
                        i + 1
                    ),
                ));
            }
            entries.push(PartitionEntry {
                number: i as u32 + 1,
                type_guid,
                unique_guid,
                first_lba,
                last_lba,
                attributes,
                name: String::from_utf16_lossy(&units),
                raw: raw.to_vec(),
            });
        }
        let Some(&header) = hdr.first_chunk::<HEADER_SIZE>() else {
            return Err(Error::gpt("header", "shorter than 92 bytes"));
        };
        Ok(Gpt {
            sector_size,
            header,
            disk_guid,
            alternate_lba,
            first_usable_lba,
            last_usable_lba,
            entries,
        })
    }

    /// The UEFI_GPT_DATA bytes measured by the firmware.
    pub fn event_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_SIZE + 8 + self.entries.len() * 128);
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.raw);
        }
        out
    }

    /// The EV_EFI_GPT_EVENT event.
    pub fn event(&self) -> Event {
        let data = self.event_data();
        Event::new(
            types::EV_EFI_GPT_EVENT,
            format!(
                "UEFI_GPT_DATA ({} bytes, disk {})",
                data.len(),
                guid_string(&self.disk_guid)
            ),
            sha256(&data),
        )
    }

    /// The EFI system partition (the first entry with the ESP type GUID).
    pub fn esp(&self) -> Option<&PartitionEntry> {
        self.entries.iter().find(|e| e.type_guid == ESP_TYPE)
    }
}
