//! PE/COFF (EFI application) parsing: Authenticode SHA-256 (what the firmware measures for
//! EV_EFI_BOOT_SERVICES_APPLICATION) and section contents (for UKIs).
//!
//! Parsing and the Authenticode digest use the `object` and `authenticode` crates (maintained by
//! the gimli and Google teams; the same code the `authenticode` crate's users rely on).

use object::read::pe::{ImageNtHeaders, PeFile, PeFile32, PeFile64};
use object::{FileKind, LittleEndian, Object as _, ObjectSection as _};
use sha2::{Digest, Sha256};

use super::events::Digest32;
use super::Error;

/// One PE section with its measured contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Section name (e.g. ".linux").
    pub name: String,
    /// VirtualSize bytes: the raw data, truncated or zero-padded to VirtualSize.
    pub data: Vec<u8>,
}

/// A parsed PE image.
#[derive(Debug)]
pub struct PeImage {
    /// SHA-256 Authenticode digest.
    pub authenticode_sha256: Digest32,
    /// Sections in table order.
    pub sections: Vec<Section>,
}

fn err(name: &str, reason: impl Into<String>) -> Error {
    Error::Pe {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Upper bound on the VirtualSize of a section we copy out.
const MAX_SECTION: u32 = 1 << 30;

/// Zero fill (VirtualSize beyond the raw data, e.g. `.bss`) allowed in total over all sections.
/// Together with the file's own length it bounds the bytes this parser materialises: a section
/// table cannot make a small file cost gigabytes (six 1 GiB sections, or many sections that
/// all point at the same raw data).
pub const MAX_ZERO_FILL: u64 = 32 << 20;

fn parse_with<I: ImageNtHeaders>(
    name: &str,
    data: &[u8],
    pe: PeFile<'_, I>,
) -> Result<PeImage, Error> {
    let mut h = Sha256::new();
    authenticode::authenticode_digest(&pe, &mut h).map_err(|_| {
        err(
            name,
            "Authenticode: header, section or certificate table offsets out of range",
        )
    })?;
    let mut sections = Vec::new();
    let budget = data.len() as u64 + MAX_ZERO_FILL;
    let mut total = 0u64;
    for sec in pe.sections() {
        // Long names ("/4") resolve through the COFF string table (shim's ".vendor_cert").
        let sname =
            String::from_utf8_lossy(sec.name_bytes().map_err(|e| err(name, e.to_string()))?)
                .into_owned();
        let s = sec.pe_section();
        let vsize = s.virtual_size.get(LittleEndian);
        if vsize > MAX_SECTION {
            return Err(err(
                name,
                format!("section {sname}: VirtualSize {vsize} too large"),
            ));
        }
        total = total.saturating_add(u64::from(vsize));
        if total > budget {
            return Err(err(
                name,
                format!(
                    "section {sname}: the sections declare {total} bytes of contents, more than \
                     the file's {} bytes plus {} MiB of zero fill (a hostile VirtualSize?)",
                    data.len(),
                    MAX_ZERO_FILL >> 20
                ),
            ));
        }
        let start = s.pointer_to_raw_data.get(LittleEndian) as usize;
        let rsize = s.size_of_raw_data.get(LittleEndian) as usize;
        let raw = data
            .get(start..start.saturating_add(rsize))
            .ok_or_else(|| err(name, format!("section {sname}: raw data outside the file")))?;
        let mut d = raw
            .get(..raw.len().min(vsize as usize))
            .unwrap_or_default()
            .to_vec();
        d.resize(vsize as usize, 0);
        sections.push(Section {
            name: sname,
            data: d,
        });
    }
    Ok(PeImage {
        authenticode_sha256: h.finalize().into(),
        sections,
    })
}

/// Parses a PE32 or PE32+ image.
///
/// # Errors
///
/// [`Error::Pe`] naming the header or section that is malformed.
pub fn parse(name: &str, data: &[u8]) -> Result<PeImage, Error> {
    match FileKind::parse(data) {
        Ok(FileKind::Pe32) => {
            let pe = PeFile32::parse(data).map_err(|e| err(name, e.to_string()))?;
            parse_with(name, data, pe)
        }
        Ok(FileKind::Pe64) => {
            let pe = PeFile64::parse(data).map_err(|e| err(name, e.to_string()))?;
            parse_with(name, data, pe)
        }
        Ok(k) => Err(err(name, format!("not a PE image ({k:?})"))),
        Err(e) => Err(err(name, e.to_string())),
    }
}

impl PeImage {
    /// The section named `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}
