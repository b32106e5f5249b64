//! Disk image access: raw images and fixed VHDs. Every other container format is rejected with
//! a hint to convert it (`qemu-img convert -O raw`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::Error;

/// Positional reads over a byte source (a disk image or, for fuzzing, a byte slice).
pub trait ReadAt {
    /// Length of the data in bytes.
    fn len(&self) -> u64;
    /// True when the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; fails if the range leaves the data.
    ///
    /// # Errors
    ///
    /// An I/O error when the range leaves the data or the read fails.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ReadAt for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

fn eof() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "read past the end of the disk image",
    )
}

/// The container format of a disk image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskFormat {
    /// Raw image.
    Raw,
    /// Fixed-size VHD (raw data followed by a 512-byte footer).
    FixedVhd,
}

/// An opened disk image: the guest-visible bytes.
#[derive(Debug)]
pub struct Disk {
    file: File,
    len: u64,
    /// Detected format.
    pub format: DiskFormat,
}

impl ReadAt for Disk {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset.checked_add(buf.len() as u64).ok_or_else(eof)?;
        if end > self.len {
            return Err(eof());
        }
        self.file.read_exact_at(buf, offset)
    }
}

/// The fields of a (512-byte, big-endian) VHD footer this crate reads.
struct VhdFooter {
    current_size: u64,
    disk_type: u32,
    checksum: u32,
}

impl VhdFooter {
    /// Reads the footer fields up to the checksum, naming the field that does not fit.
    fn parse(tail: &[u8]) -> Result<Self, Error> {
        let mut c = remits_codec::Cursor::new(tail, "VHD footer");
        let short = |e: remits_codec::Error| Error::Vhd(e.to_string());
        for (n, field) in [
            (8, "Cookie"),
            (4, "Features"),
            (4, "FileFormatVersion"),
            (8, "DataOffset"),
            (4, "TimeStamp"),
            (4, "CreatorApplication"),
            (4, "CreatorVersion"),
            (4, "CreatorHostOS"),
            (8, "OriginalSize"),
        ] {
            c.skip(n, field).map_err(short)?;
        }
        let current_size = c.u64_be("CurrentSize").map_err(short)?;
        c.skip(4, "DiskGeometry").map_err(short)?;
        let disk_type = c.u32_be("DiskType").map_err(short)?;
        let checksum = c.u32_be("Checksum").map_err(short)?;
        Ok(VhdFooter {
            current_size,
            disk_type,
            checksum,
        })
    }
}

/// Detects the format of an image from its first bytes and its last 512 bytes.
///
/// # Errors
///
/// [`Error::UnsupportedDiskFormat`] for a format other than raw or fixed VHD, [`Error::Vhd`] for a
/// malformed VHD footer.
pub fn detect(head: &[u8], tail: &[u8], hint: &str) -> Result<DiskFormat, Error> {
    let unsupported = |f: &str| Error::UnsupportedDiskFormat {
        format: f.into(),
        hint: hint.into(),
    };
    if head.starts_with(b"QFI\xfb") {
        return Err(unsupported("qcow2"));
    }
    if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
        return Err(unsupported("vmdk"));
    }
    if head.starts_with(b"vhdxfile") {
        return Err(unsupported("vhdx"));
    }
    if head.starts_with(b"<<< ") && head.windows(10).any(|w| w == b"Disk Image") {
        return Err(unsupported("vdi"));
    }
    if head.starts_with(b"conectix") {
        return Err(unsupported("dynamic or differencing VHD"));
    }
    if tail.len() == 512 && tail.starts_with(b"conectix") {
        // Checksum: one's complement of the byte sum with the checksum field (64..68) zeroed.
        let sum: u32 = tail
            .iter()
            .enumerate()
            .filter(|(i, _)| !(64..68).contains(i))
            .map(|(_, b)| u32::from(*b))
            .fold(0u32, u32::wrapping_add);
        let footer = VhdFooter::parse(tail)?;
        if !sum != footer.checksum {
            return Err(Error::Vhd(format!(
                "checksum mismatch: expected {:#010x}, actual {:#010x}",
                footer.checksum, !sum
            )));
        }
        return match footer.disk_type {
            2 => Ok(DiskFormat::FixedVhd),
            3 => Err(unsupported("dynamic VHD")),
            4 => Err(unsupported("differencing VHD")),
            t => Err(Error::Vhd(format!("unknown disk type {t}"))),
        };
    }
    Ok(DiskFormat::Raw)
}

impl Disk {
    /// Opens a raw or fixed-VHD disk image.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, and as `detect`.
    pub fn open(path: &Path) -> Result<Disk, Error> {
        let what = || path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(what(), e))?;
        let flen = file.metadata().map_err(|e| Error::io(what(), e))?.len();
        let mut head = vec![0u8; flen.min(4096) as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| Error::io(what(), e))?;
        let mut tail = vec![0u8; if flen >= 1024 { 512 } else { 0 }];
        if !tail.is_empty() {
            file.read_exact_at(&mut tail, flen - 512)
                .map_err(|e| Error::io(what(), e))?;
        }
        let format = detect(&head, &tail, &what())?;
        let len = match format {
            DiskFormat::Raw => flen,
            DiskFormat::FixedVhd => {
                let size = VhdFooter::parse(&tail)?.current_size;
                if size != flen - 512 {
                    return Err(Error::Vhd(format!(
                        "current size {size} does not match the data length {}",
                        flen - 512
                    )));
                }
                size
            }
        };
        Ok(Disk { file, len, format })
    }
}

/// A read-only window on a partition, usable as `Read + Write + Seek` (writes fail).
pub struct Partition<'a, D: ReadAt + ?Sized> {
    disk: &'a D,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a, D: ReadAt + ?Sized> Partition<'a, D> {
    /// The bytes `start..start+len` of `disk`.
    pub fn new(disk: &'a D, start: u64, len: u64) -> Self {
        Partition {
            disk,
            start,
            len,
            pos: 0,
        }
    }
}

impl<D: ReadAt + ?Sized> std::io::Read for Partition<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let off = self.start.checked_add(self.pos).ok_or_else(eof)?;
        self.disk
            .read_exact_at(off, buf.get_mut(..n).ok_or_else(eof)?)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: ReadAt + ?Sized> std::io::Write for Partition<'_, D> {
    fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "disk images are opened read-only",
        ))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<D: ReadAt + ?Sized> std::io::Seek for Partition<'_, D> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match pos {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_are_rejected_with_a_hint() {
        let e = detect(b"QFI\xfb\0\0\0\x03", &[], "x.qcow2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("qemu-img convert -O raw"), "{e}");
        assert!(detect(b"vhdxfile", &[], "x").is_err());
        assert_eq!(detect(&[0; 512], &[0; 512], "x").unwrap(), DiskFormat::Raw);
    }

    /// A VHD footer of `disk_type` with current size `size` and a correct checksum.
    fn vhd_footer(disk_type: u32, size: u64) -> Vec<u8> {
        let mut f = vec![0u8; 512];
        f[..8].copy_from_slice(b"conectix");
        f[48..56].copy_from_slice(&size.to_be_bytes());
        f[60..64].copy_from_slice(&disk_type.to_be_bytes());
        let sum = f
            .iter()
            .map(|b| u32::from(*b))
            .fold(0u32, u32::wrapping_add);
        f[64..68].copy_from_slice(&(!sum).to_be_bytes());
        f
    }

    #[test]
    fn vhd_footer_fields() {
        let f = vhd_footer(2, 1 << 20);
        assert_eq!(detect(&[0; 512], &f, "x").unwrap(), DiskFormat::FixedVhd);
        assert_eq!(VhdFooter::parse(&f).unwrap().current_size, 1 << 20);
        let e = detect(&[0; 512], &vhd_footer(3, 0), "x").unwrap_err();
        assert!(e.to_string().contains("dynamic VHD"), "{e}");
        let e = detect(&[0; 512], &vhd_footer(9, 0), "x").unwrap_err();
        assert!(e.to_string().contains("unknown disk type 9"), "{e}");
        let mut bad = vhd_footer(2, 0);
        bad[100] ^= 1;
        let e = detect(&[0; 512], &bad, "x").unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
        let e = VhdFooter::parse(&f[..62]).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("VHD footer.DiskType at byte 60")),
            "{e:?}"
        );
    }
}
