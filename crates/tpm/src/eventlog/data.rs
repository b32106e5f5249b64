//! Decoding of event data for the common event types. Decoding never fails: data that does not
//! fit its type's layout is returned as [`EventData::Raw`] with the reason.

use serde::Serialize;

use crate::cursor::Cursor;
use crate::error::Error;

/// Raw data longer than this is shown truncated.
const RAW_SHOWN: usize = 256;

/// Event data, decoded by type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventData {
    /// The crypto-agile Spec ID event.
    SpecId,
    /// StartupLocality: PCR0 starts at `00…00<locality>`.
    StartupLocality {
        /// The locality the TPM was started from.
        locality: u8,
    },
    /// An NIST SP800-155 reference-manifest event (EV_NO_ACTION, not extended).
    Sp800155,
    /// A separator (0 = success, 1 = error).
    Separator {
        /// The 32-bit value.
        value: u32,
    },
    /// Printable text: EV_EFI_ACTION, EV_POST_CODE, EV_S_CRTM_VERSION (UTF-16), other strings.
    Text {
        /// The text without the terminating NUL.
        text: String,
    },
    /// GRUB `grub_cmd: ` EV_IPL event (digest = SHA-256 of the command).
    GrubCommand {
        /// The command.
        command: String,
    },
    /// GRUB `kernel_cmdline: ` EV_IPL event.
    KernelCmdline {
        /// Path and arguments.
        cmdline: String,
    },
    /// systemd-stub PCR11/12/13 EV_IPL description (UTF-16).
    SystemdStub {
        /// Description (e.g. a section name).
        description: String,
    },
    /// UEFI_VARIABLE_DATA.
    EfiVariable {
        /// VendorGuid.
        guid: String,
        /// UnicodeName.
        name: String,
        /// Length of VariableData.
        data_len: u64,
        /// VariableData (hex), when at most 256 bytes.
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<String>,
    },
    /// UEFI_IMAGE_LOAD_EVENT (EFI boot services applications and drivers).
    EfiImageLoad {
        /// ImageLocationInMemory.
        location: u64,
        /// ImageLengthInMemory.
        length: u64,
        /// ImageLinkTimeAddress.
        link_time_address: u64,
        /// The device path's file-path nodes, joined.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_path: Option<String>,
        /// LengthOfDevicePath.
        device_path_len: u64,
    },
    /// UEFI_GPT_DATA.
    EfiGpt {
        /// DiskGUID.
        disk_guid: String,
        /// The partitions listed.
        partitions: Vec<GptPartition>,
    },
    /// TCG_PCClientTaggedEvent (e.g. the Linux EFI stub's LoadOptions and initrd).
    EventTag {
        /// taggedEventID.
        id: u32,
        /// Known meaning of the id.
        #[serde(skip_serializing_if = "Option::is_none")]
        meaning: Option<&'static str>,
        /// taggedEventData as text, when printable.
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// UEFI_PLATFORM_FIRMWARE_BLOB.
    FirmwareBlob {
        /// Description (BLOB2 only).
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// BlobBase.
        base: u64,
        /// BlobLength.
        length: u64,
    },
    /// Data this crate does not decode (or that does not fit its type's layout).
    Raw {
        /// Data length.
        len: usize,
        /// Up to 256 bytes, hex.
        hex: String,
        /// Why it was not decoded, if its type has a known layout.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// A GPT partition entry from UEFI_GPT_DATA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GptPartition {
    /// PartitionTypeGUID.
    pub type_guid: String,
    /// UniquePartitionGUID.
    pub unique_guid: String,
    /// StartingLBA.
    pub first_lba: u64,
    /// EndingLBA.
    pub last_lba: u64,
    /// PartitionName.
    pub name: String,
}

/// The name of an event type ("EV_SEPARATOR"), or its hex value.
pub(crate) fn event_type_name(t: u32) -> String {
    let n = match t {
        0x0000_0000 => "EV_PREBOOT_CERT",
        0x0000_0001 => "EV_POST_CODE",
        0x0000_0002 => "EV_UNUSED",
        0x0000_0003 => "EV_NO_ACTION",
        0x0000_0004 => "EV_SEPARATOR",
        0x0000_0005 => "EV_ACTION",
        0x0000_0006 => "EV_EVENT_TAG",
        0x0000_0007 => "EV_S_CRTM_CONTENTS",
        0x0000_0008 => "EV_S_CRTM_VERSION",
        0x0000_0009 => "EV_CPU_MICROCODE",
        0x0000_000A => "EV_PLATFORM_CONFIG_FLAGS",
        0x0000_000B => "EV_TABLE_OF_DEVICES",
        0x0000_000C => "EV_COMPACT_HASH",
        0x0000_000D => "EV_IPL",
        0x0000_000E => "EV_IPL_PARTITION_DATA",
        0x0000_000F => "EV_NONHOST_CODE",
        0x0000_0010 => "EV_NONHOST_CONFIG",
        0x0000_0011 => "EV_NONHOST_INFO",
        0x0000_0012 => "EV_OMIT_BOOT_DEVICE_EVENTS",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        0x8000_000A => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        0x8000_000B => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000C => "EV_EFI_VARIABLE_BOOT2",
        0x8000_0010 => "EV_EFI_HCRTM_EVENT",
        0x8000_00E0 => "EV_EFI_VARIABLE_AUTHORITY",
        0x8000_00E1 => "EV_EFI_SPDM_FIRMWARE_BLOB",
        0x8000_00E2 => "EV_EFI_SPDM_FIRMWARE_CONFIG",
        _ => return format!("0x{t:08x}"),
    };
    n.to_string()
}

pub(crate) fn decode(event_type: u32, pcr: u32, data: &[u8]) -> EventData {
    let known = |r: Result<EventData, Error>| r.unwrap_or_else(|e| raw(data, Some(e.to_string())));
    match event_type {
        0x3 => no_action(data),
        0x4 => match <[u8; 4]>::try_from(data) {
            Ok(b) => EventData::Separator {
                value: u32::from_le_bytes(b),
            },
            Err(_) => raw(data, Some("separator data is not 4 bytes".into())),
        },
        0x8 => utf16(data)
            .map(|text| EventData::Text { text })
            .unwrap_or_else(|| text_or_raw(data)),
        0x1 | 0x5 | 0x8000_0007 | 0x8000_0010 => text_or_raw(data),
        0xD => ipl(pcr, data),
        0x6 => known(event_tag(data)),
        0x8000_0001 | 0x8000_0002 | 0x8000_000C | 0x8000_00E0 => known(efi_variable(data)),
        0x8000_0003..=0x8000_0005 => known(image_load(data)),
        0x8000_0006 => known(gpt(data)),
        0x8000_0008 => known(blob(data, false)),
        0x8000_000A => known(blob(data, true)),
        _ => raw(data, None),
    }
}

fn raw(data: &[u8], note: Option<String>) -> EventData {
    EventData::Raw {
        len: data.len(),
        hex: hex::encode(data.get(..RAW_SHOWN).unwrap_or(data)),
        note,
    }
}

fn printable(data: &[u8]) -> Option<String> {
    let t = data.strip_suffix(&[0]).unwrap_or(data);
    let s = std::str::from_utf8(t).ok()?;
    s.chars()
        .all(|c| !c.is_control() || c == '\n' || c == '\t')
        .then(|| s.to_string())
}

fn text_or_raw(data: &[u8]) -> EventData {
    printable(data)
        .map(|text| EventData::Text { text })
        .unwrap_or_else(|| raw(data, None))
}

fn utf16(data: &[u8]) -> Option<String> {
    if data.len() % 2 != 0 || data.is_empty() {
        return None;
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .filter_map(|c| c.first_chunk::<2>().copied().map(u16::from_le_bytes))
        .collect();
    let units = units.strip_suffix(&[0]).unwrap_or(&units);
    let s = String::from_utf16(units).ok()?;
    s.chars().all(|c| !c.is_control()).then_some(s)
}

fn no_action(data: &[u8]) -> EventData {
    if data.starts_with(b"Spec ID Event03\0") {
        EventData::SpecId
    } else if let Some(rest) = data.strip_prefix(b"StartupLocality\0") {
        match rest {
            [l] => EventData::StartupLocality { locality: *l },
            _ => raw(
                data,
                Some("StartupLocality without exactly one locality byte".into()),
            ),
        }
    } else if data.starts_with(b"SP800-155 Event") {
        EventData::Sp800155
    } else {
        raw(data, None)
    }
}

fn ipl(pcr: u32, data: &[u8]) -> EventData {
    if let Some(t) = printable(data) {
        if let Some(c) = t.strip_prefix("grub_cmd: ") {
            return EventData::GrubCommand {
                command: c.to_string(),
            };
        }
        if let Some(c) = t.strip_prefix("kernel_cmdline: ") {
            return EventData::KernelCmdline {
                cmdline: c.to_string(),
            };
        }
        return EventData::Text { text: t };
    }
    if let Some(s) = utf16(data) {
        if (11..=13).contains(&pcr) {
            return EventData::SystemdStub { description: s };
        }
        return EventData::Text { text: s };
    }
    raw(data, None)
}

fn guid(b: &[u8; 16]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    )
}

fn utf16_lossy(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .filter_map(|c| c.first_chunk::<2>().copied().map(u16::from_le_bytes))
        .collect();
    let end = units.iter().position(|u| *u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(units.get(..end).unwrap_or(&units))
}

fn len(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn efi_variable(data: &[u8]) -> Result<EventData, Error> {
    let mut c = Cursor::new(data, "UEFI_VARIABLE_DATA");
    let g = c.array::<16>("VariableName")?;
    let name_len = c.u64_le("UnicodeNameLength")?;
    let data_len = c.u64_le("VariableDataLength")?;
    let name = c.take(len(name_len).saturating_mul(2), "UnicodeName")?;
    let value = c.take(len(data_len), "VariableData")?;
    c.finish()?;
    Ok(EventData::EfiVariable {
        guid: guid(&g),
        name: utf16_lossy(name),
        data_len,
        data: (value.len() <= RAW_SHOWN).then(|| hex::encode(value)),
    })
}

fn image_load(data: &[u8]) -> Result<EventData, Error> {
    let mut c = Cursor::new(data, "UEFI_IMAGE_LOAD_EVENT");
    let location = c.u64_le("ImageLocationInMemory")?;
    let length = c.u64_le("ImageLengthInMemory")?;
    let link_time_address = c.u64_le("ImageLinkTimeAddress")?;
    let device_path_len = c.u64_le("LengthOfDevicePath")?;
    let dp = c.take(len(device_path_len), "DevicePath")?;
    c.finish()?;
    Ok(EventData::EfiImageLoad {
        location,
        length,
        link_time_address,
        file_path: file_path(dp),
        device_path_len,
    })
}

/// Join the media file-path nodes (type 4, subtype 4) of a device path.
fn file_path(dp: &[u8]) -> Option<String> {
    let mut c = Cursor::new(dp, "EFI_DEVICE_PATH");
    let mut parts = Vec::new();
    while c.remaining() >= 4 {
        let ty = c.u8("Type").ok()?;
        let sub = c.u8("SubType").ok()?;
        let l = usize::from(c.u16_le("Length").ok()?);
        let body = c.take(l.checked_sub(4)?, "Data").ok()?;
        if ty == 0x7F {
            break;
        }
        if ty == 4 && sub == 4 {
            parts.push(utf16_lossy(body));
        }
    }
    (!parts.is_empty()).then(|| parts.join(""))
}

fn gpt(data: &[u8]) -> Result<EventData, Error> {
    let mut c = Cursor::new(data, "UEFI_GPT_DATA");
    let sig = c.take(8, "Header.Signature")?;
    if sig != b"EFI PART" {
        return Err(c.invalid("Header.Signature", "not \"EFI PART\""));
    }
    c.take(48, "Header")?; // revision .. LastUsableLBA
    let disk = c.array::<16>("Header.DiskGUID")?;
    c.take(8 + 4, "Header.PartitionEntryLBA/NumberOfPartitionEntries")?;
    let entry_size = c.u32_le("Header.SizeOfPartitionEntry")?;
    c.take(4, "Header.PartitionEntryArrayCRC32")?;
    let n = c.u64_le("NumberOfPartitions")?;
    if !(128..=4096).contains(&entry_size) {
        return Err(c.invalid("Header.SizeOfPartitionEntry", format!("{entry_size}")));
    }
    let es = entry_size as usize;
    if len(n).saturating_mul(es) != c.remaining() {
        return Err(c.invalid(
            "Partitions",
            format!(
                "{n} entries of {es} bytes do not fill {} bytes",
                c.remaining()
            ),
        ));
    }
    let mut partitions = Vec::new();
    for _ in 0..n {
        let e = c.take(es, "Partition")?;
        let mut p = Cursor::new(e, "EFI_PARTITION_ENTRY");
        let type_guid = guid(&p.array::<16>("PartitionTypeGUID")?);
        let unique_guid = guid(&p.array::<16>("UniquePartitionGUID")?);
        let first_lba = p.u64_le("StartingLBA")?;
        let last_lba = p.u64_le("EndingLBA")?;
        p.u64_le("Attributes")?;
        let name = utf16_lossy(p.take(72, "PartitionName")?);
        partitions.push(GptPartition {
            type_guid,
            unique_guid,
            first_lba,
            last_lba,
            name,
        });
    }
    Ok(EventData::EfiGpt {
        disk_guid: guid(&disk),
        partitions,
    })
}

fn event_tag(data: &[u8]) -> Result<EventData, Error> {
    let mut c = Cursor::new(data, "TCG_PCClientTaggedEvent");
    let id = c.u32_le("taggedEventID")?;
    let size = c.u32_le("taggedEventDataSize")?;
    let body = c.take(len(u64::from(size)), "taggedEventData")?;
    c.finish()?;
    let meaning = match id {
        0x8F3B_22EC => Some("Linux initrd"),
        0x8F3B_22ED => Some("LOADED_IMAGE::LoadOptions"),
        0x4141_454C => Some("AAEL (confidential-containers runtime event)"),
        _ => None,
    };
    Ok(EventData::EventTag {
        id,
        meaning,
        text: printable(body).or_else(|| utf16(body)),
    })
}

fn blob(data: &[u8], v2: bool) -> Result<EventData, Error> {
    let mut c = Cursor::new(data, "UEFI_PLATFORM_FIRMWARE_BLOB");
    let description = if v2 {
        let n = c.u8("BlobDescriptionSize")?;
        Some(
            String::from_utf8_lossy(c.take(usize::from(n), "BlobDescription")?)
                .trim_end_matches('\0')
                .to_string(),
        )
    } else {
        None
    };
    let base = c.u64_le("BlobBase")?;
    let length = c.u64_le("BlobLength")?;
    c.finish()?;
    Ok(EventData::FirmwareBlob {
        description,
        base,
        length,
    })
}
