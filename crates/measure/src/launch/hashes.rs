//! The SEV hashes table: SHA-256 of the kernel, initrd and command line, laid out exactly as
//! QEMU writes it into the guest (`SevHashTable` in QEMU `target/i386/sev.c`).

use std::io::Read;
use std::path::Path;

use super::sha::{sha256, Sha256};

use super::guid::{self, Guid};
use super::ovmf::PAGE_SIZE;
use super::Error;

/// Size of the table without padding: header (GUID + u16) and three 50-byte entries.
pub(crate) const TABLE_SIZE: usize = 18 + 3 * ENTRY_SIZE;
/// Size of the table padded to 16 bytes, as QEMU places it.
pub(crate) const PADDED_TABLE_SIZE: usize = (TABLE_SIZE + 15) & !15;
const ENTRY_SIZE: usize = 16 + 2 + 32;

/// SHA-256 digests of the kernel, initrd and command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SevHashes {
    /// SHA-256 of the kernel image.
    pub kernel: [u8; 32],
    /// SHA-256 of the initrd (of the empty string when there is none).
    pub initrd: [u8; 32],
    /// SHA-256 of the command line followed by one NUL byte (just a NUL when empty or absent).
    pub cmdline: [u8; 32],
}

impl SevHashes {
    /// Hashes in-memory inputs.
    pub fn new(kernel: &[u8], initrd: Option<&[u8]>, append: Option<&str>) -> Self {
        Self {
            kernel: sha256(kernel),
            initrd: sha256(initrd.unwrap_or_default()),
            cmdline: cmdline_hash(append),
        }
    }

    /// Hashes the kernel and initrd files by streaming them (memory stays bounded), the two
    /// files concurrently.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a file cannot be read.
    pub fn from_files(
        kernel: &Path,
        initrd: Option<&Path>,
        append: Option<&str>,
    ) -> Result<Self, Error> {
        let (kernel, initrd) = std::thread::scope(|s| {
            let initrd = s.spawn(|| match initrd {
                Some(p) => sha256_file(p, "initrd"),
                None => Ok(sha256(&[])),
            });
            let kernel = sha256_file(kernel, "kernel");
            let initrd = initrd
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (kernel, initrd)
        });
        Ok(Self {
            kernel: kernel?,
            initrd: initrd?,
            cmdline: cmdline_hash(append),
        })
    }

    /// The 176-byte padded table.
    // in bounds: the table is 18 + 3 * ENTRY_SIZE bytes plus padding (PADDED_TABLE_SIZE), an
    // entry is an 18-byte header and a 32-byte digest (ENTRY_SIZE).
    #[allow(clippy::indexing_slicing)]
    pub fn table(&self) -> [u8; PADDED_TABLE_SIZE] {
        let mut t = [0u8; PADDED_TABLE_SIZE];
        put_header(&mut t[..18], &guid::SEV_HASH_TABLE_HEADER, TABLE_SIZE);
        let entries = [
            (guid::SEV_CMDLINE_ENTRY, &self.cmdline),
            (guid::SEV_INITRD_ENTRY, &self.initrd),
            (guid::SEV_KERNEL_ENTRY, &self.kernel),
        ];
        for (i, (g, h)) in entries.iter().enumerate() {
            let e = &mut t[18 + i * ENTRY_SIZE..18 + (i + 1) * ENTRY_SIZE];
            put_header(&mut e[..18], g, ENTRY_SIZE);
            e[18..].copy_from_slice(*h);
        }
        t
    }

    /// A page of zeros holding the table at `offset` (the low 12 bits of the table's GPA).
    ///
    /// # Errors
    ///
    /// [`Error::HashesTableCrossesPage`] when the table at `offset` does not fit in the page.
    pub fn page(&self, offset: u32) -> Result<[u8; PAGE_SIZE], Error> {
        let off = offset as usize;
        let end = off
            .checked_add(PADDED_TABLE_SIZE)
            .filter(|e| *e <= PAGE_SIZE)
            .ok_or(Error::HashesTableCrossesPage(offset))?;
        let mut page = [0u8; PAGE_SIZE];
        page.get_mut(off..end)
            .ok_or(Error::HashesTableCrossesPage(offset))?
            .copy_from_slice(&self.table());
        Ok(page)
    }
}

// in bounds: every caller passes an 18-byte (GUID + u16 length) header slot.
#[allow(clippy::indexing_slicing)]
fn put_header(buf: &mut [u8], g: &Guid, len: usize) {
    buf[..16].copy_from_slice(g.as_bytes());
    buf[16..18].copy_from_slice(&(len as u16).to_le_bytes());
}

fn cmdline_hash(append: Option<&str>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(append.unwrap_or_default().as_bytes());
    h.update(&[0u8]);
    h.finish()
}

/// SHA-256 of a file, streamed.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
pub(crate) fn sha256_file(path: &Path, what: &'static str) -> Result<[u8; 32], Error> {
    let io = |source| Error::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    // Small enough to stay in L2 with the hash state: the kernel copies each block into it and
    // the hash reads it back from cache (1 MiB made the copy cost as much as the hashing).
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        let chunk = buf
            .get(..n)
            .ok_or_else(|| io(std::io::ErrorKind::InvalidData.into()))?;
        h.update(chunk);
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_check_vector() {
        let h = SevHashes::new(b"", Some(b""), Some("console=ttyS0 loglevel=7"));
        let t = h.table();
        assert_eq!(t.len(), 176);
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t)),
            "9b8d003b7deacde5e1e4e53ffdeaeefcfeec67cdf0f7362fafe984996f03b59d"
        );
        // No initrd is the same as an empty one; no cmdline is the same as an empty one.
        assert_eq!(
            SevHashes::new(b"", None, None),
            SevHashes::new(b"", Some(b""), Some(""))
        );
    }

    #[test]
    fn page_bounds() {
        let h = SevHashes::new(b"k", None, None);
        let p = h.page(0xc00).unwrap();
        assert_eq!(&p[0xc00..0xc00 + 176], &h.table());
        assert!(p[..0xc00].iter().all(|b| *b == 0));
        assert!(h.page(4096 - 176).is_ok());
        assert!(matches!(
            h.page(4096 - 175),
            Err(Error::HashesTableCrossesPage(_))
        ));
    }
}
