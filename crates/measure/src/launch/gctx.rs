//! The SNP launch digest: a chain of SHA-384 hashes over PAGE_INFO structures (SNP firmware
//! ABI, SNP_LAUNCH_UPDATE), one per 4 KiB page added to the guest.

use super::ovmf::PAGE_SIZE;
use super::sha::sha384;
use super::source::ImageSource;
use super::Error;

/// Size of a SHA-384 digest: the launch digest and page contents digests.
pub const LD_SIZE: usize = 48;
/// Size of the PAGE_INFO structure.
pub(crate) const PAGE_INFO_SIZE: usize = 0x70;
/// GPA recorded for VMSA pages (all ones, page aligned, bits above 51 cleared).
pub(crate) const VMSA_GPA: u64 = 0x0000_FFFF_FFFF_F000;

/// PAGE_TYPE of a PAGE_INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PageType {
    /// Measured contents.
    Normal = 1,
    /// A VMSA (measured contents, GPA [`VMSA_GPA`]).
    Vmsa = 2,
    /// Zero page.
    Zero = 3,
    /// Unmeasured page.
    Unmeasured = 4,
    /// The secrets page.
    Secrets = 5,
    /// The CPUID page.
    Cpuid = 6,
}

/// Builds the 0x70-byte PAGE_INFO for `(ld, contents, page_type, gpa)`; IS_IMI and the VMPL
/// permissions are zero.
pub(crate) fn page_info(
    ld: &[u8; LD_SIZE],
    contents: &[u8; LD_SIZE],
    page_type: PageType,
    gpa: u64,
) -> [u8; PAGE_INFO_SIZE] {
    let mut info = [0u8; PAGE_INFO_SIZE];
    info[..48].copy_from_slice(ld);
    info[48..96].copy_from_slice(contents);
    info[0x60..0x62].copy_from_slice(&(PAGE_INFO_SIZE as u16).to_le_bytes());
    info[0x62] = page_type as u8;
    info[0x68..0x70].copy_from_slice(&gpa.to_le_bytes());
    info
}

/// SHA-384 of one page.
pub(crate) fn sha384_page(page: &[u8]) -> [u8; LD_SIZE] {
    sha384(page)
}

/// The SNP guest context: the running launch digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnpLaunchDigest {
    ld: [u8; LD_SIZE],
}

impl Default for SnpLaunchDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl SnpLaunchDigest {
    /// Starts from 48 zero bytes.
    pub(crate) fn new() -> Self {
        Self { ld: [0; LD_SIZE] }
    }

    /// Starts from a given digest (e.g. a precomputed OVMF hash).
    pub(crate) fn from_seed(seed: [u8; LD_SIZE]) -> Self {
        Self { ld: seed }
    }

    /// The current launch digest.
    pub(crate) fn digest(&self) -> [u8; LD_SIZE] {
        self.ld
    }

    /// Adds one page with the given contents digest.
    pub(crate) fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; LD_SIZE]) {
        self.ld = sha384(&page_info(&self.ld, contents, page_type, gpa));
    }

    /// Adds the image (a whole number of pages) as NORMAL pages from `gpa` on, streaming its
    /// pages if it is a file (see [`super::source`]: padding pages hashed once per byte value,
    /// large images on two threads).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a page of the file cannot be read.
    pub(crate) fn update_normal_pages_from(
        &mut self,
        gpa: u64,
        image: &ImageSource<'_>,
    ) -> Result<(), Error> {
        let mut page_gpa = gpa;
        image.page_digests(|digest| {
            self.update(PageType::Normal, page_gpa, digest);
            page_gpa += PAGE_SIZE as u64;
        })
    }

    /// Adds `len` bytes (rounded down to pages) of pages of `page_type` with zero contents
    /// (ZERO, UNMEASURED, SECRETS, CPUID).
    pub(crate) fn update_empty_pages(&mut self, page_type: PageType, gpa: u64, len: u64) {
        let zero = [0u8; LD_SIZE];
        let mut off = 0;
        while off + PAGE_SIZE as u64 <= len {
            self.update(page_type, gpa + off, &zero);
            off += PAGE_SIZE as u64;
        }
    }
}

/// SHA-384 of every page of `data` (trailing partial page ignored; callers pass whole pages).
pub fn normal_page_digests(data: &[u8]) -> Vec<[u8; LD_SIZE]> {
    let mut out = Vec::with_capacity(data.len() / PAGE_SIZE);
    // In-memory bytes cannot fail to read.
    let _ = ImageSource::Bytes(data).page_digests(|d| out.push(*d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_page_check_vector() {
        let mut g = SnpLaunchDigest::new();
        g.update_empty_pages(PageType::Zero, 0, 4096);
        assert_eq!(
            hex::encode(g.digest()),
            "70c0ecaab9608f14ebf8ac6f0f07bcd8728f4e2ab30382b539b4de4de904ca9f\
             8ebdf4b2cd3cd84dd996bd55dd794676"
        );
    }

    #[test]
    fn uniform_cache_matches_plain_hashing() {
        let mut data = vec![0xffu8; 4 * PAGE_SIZE];
        data[PAGE_SIZE + 7] = 1;
        data[3 * PAGE_SIZE..].fill(0);
        let d = normal_page_digests(&data);
        for (i, page) in data.chunks(PAGE_SIZE).enumerate() {
            assert_eq!(d[i], sha384_page(page));
            assert_eq!(
                d[i],
                <[u8; LD_SIZE]>::from(<sha2::Sha384 as sha2::Digest>::digest(page))
            );
        }
    }
}
