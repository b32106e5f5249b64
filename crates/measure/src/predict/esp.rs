//! The EFI system partition: a FAT file system read with the `fatfs` crate (pure Rust,
//! FAT12/16/32 with long file names), opened read-only.

use std::io::Read;

use super::disk::{Partition, ReadAt};
use super::gpt::{Gpt, PartitionEntry};
use super::Error;

/// Largest file read from the ESP (EFI binaries, UKIs, kernels, initrds).
pub(crate) const MAX_FILE: u64 = 1 << 30;

/// An opened ESP.
pub(crate) struct Esp<'a, D: ReadAt + ?Sized> {
    fs: fatfs::FileSystem<Partition<'a, D>>,
    /// Bytes of the partition present on the disk: no file can hold more.
    bytes: u64,
    /// The partition entry.
    pub(crate) entry: PartitionEntry,
}

impl<'a, D: ReadAt + ?Sized> Esp<'a, D> {
    /// Opens the ESP of `gpt` on `disk`.
    ///
    /// # Errors
    ///
    /// [`Error::Esp`] when the partition is not a FAT file system or lies outside the disk.
    pub(crate) fn open(disk: &'a D, gpt: &Gpt) -> Result<Self, Error> {
        let entry = gpt.esp().cloned().ok_or_else(|| {
            Error::Esp("no partition with the EFI system partition type GUID".into())
        })?;
        let start = entry
            .first_lba
            .checked_mul(gpt.sector_size)
            .ok_or_else(|| Error::Esp("offset overflow".into()))?;
        let len = (entry.last_lba - entry.first_lba + 1)
            .checked_mul(gpt.sector_size)
            .ok_or_else(|| Error::Esp("size overflow".into()))?;
        let bytes = len.min(disk.len().saturating_sub(start));
        let part = Partition::new(disk, start, len);
        let opts = fatfs::FsOptions::new().update_accessed_date(false);
        let fs = fatfs::FileSystem::new(part, opts).map_err(|e| Error::Esp(format!("FAT: {e}")))?;
        Ok(Esp { fs, bytes, entry })
    }

    /// Reads a file (path relative to the ESP root, `/` or `\` separated; case-insensitive as in
    /// FAT). `Ok(None)` if it does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::Esp`] when the file system cannot be read.
    pub(crate) fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let p = path.replace('\\', "/");
        let p = p.trim_start_matches('/');
        let mut f = match self.fs.root_dir().open_file(p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Esp(format!("{path}: {e}"))),
        };
        // A file cannot hold more than the partition: a cluster chain that loops back on itself
        // would otherwise repeat a few clusters up to the 4 GiB the directory entry may declare
        // (a small disk costing gigabytes of memory, issue 16).
        let limit = MAX_FILE.min(self.bytes);
        let mut out = Vec::new();
        (&mut f)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Esp(format!("{path}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(Error::Esp(format!(
                "{path}: more than {limit} bytes (larger than {}; a looping cluster chain?)",
                if limit == MAX_FILE {
                    "the 1 GiB file cap"
                } else {
                    "its partition"
                }
            )));
        }
        Ok(Some(out))
    }
}
