//! The hashing seam of the launch digests: SHA-384 (PAGE_INFO chain, page contents) and SHA-256
//! (SEV / SEV-ES digests, kernel and initrd files).
//!
//! The pure-Rust `sha2` crate is the default; with the `aws-lc` feature every call goes through
//! `aws_lc_rs::digest` instead (AWS-LC's assembly SHA-512 is faster than `sha2`'s on x86-64).
//! Both backends are fed the same bytes and must give the same digests; the launch vectors run
//! against whichever one is built.

use super::gctx::LD_SIZE;

/// Which backend this build hashes with (`"aws-lc"` or `"sha2"`), for diagnostics and benches.
pub(crate) const BACKEND: &str = if cfg!(feature = "aws-lc") {
    "aws-lc"
} else {
    "sha2"
};

/// SHA-384 of `data`.
#[cfg(feature = "aws-lc")]
pub(crate) fn sha384(data: &[u8]) -> [u8; LD_SIZE] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, data);
    let mut out = [0u8; LD_SIZE];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-384 of `data`.
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn sha384(data: &[u8]) -> [u8; LD_SIZE] {
    use sha2::Digest;
    sha2::Sha384::digest(data).into()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

/// An incremental SHA-256.
#[derive(Clone)]
pub(crate) struct Sha256 {
    #[cfg(feature = "aws-lc")]
    inner: aws_lc_rs::digest::Context,
    #[cfg(not(feature = "aws-lc"))]
    inner: sha2::Sha256,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sha256").field("backend", &BACKEND).finish()
    }
}

impl Sha256 {
    /// A fresh hash.
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(feature = "aws-lc")]
            inner: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            #[cfg(not(feature = "aws-lc"))]
            inner: <sha2::Sha256 as sha2::Digest>::new(),
        }
    }

    /// Appends `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        #[cfg(feature = "aws-lc")]
        self.inner.update(data);
        #[cfg(not(feature = "aws-lc"))]
        sha2::Digest::update(&mut self.inner, data);
    }

    /// The digest of everything appended.
    pub(crate) fn finish(self) -> [u8; 32] {
        #[cfg(feature = "aws-lc")]
        {
            let mut out = [0u8; 32];
            out.copy_from_slice(self.inner.finish().as_ref());
            out
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            sha2::Digest::finalize(self.inner).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 "abc" vectors and a multi-block input checked against `sha2` directly, so
    /// whichever backend is built is compared with an independent implementation.
    #[test]
    fn known_answers_and_agreement_with_sha2() {
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha384(b"abc")),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(sha384(&data), <[u8; 48]>::from(sha2::Sha384::digest(&data)));
        let mut h = Sha256::new();
        for part in data.chunks(777) {
            h.update(part);
        }
        assert_eq!(h.finish(), <[u8; 32]>::from(sha2::Sha256::digest(&data)));
        assert_eq!(sha256(&[]), <[u8; 32]>::from(sha2::Sha256::digest([])));
    }

    /// Every padding boundary of both block sizes, a page, a uniform page, a 64 KiB chunk and
    /// 1 MiB, whole and fed in uneven parts: the built backend equals `sha2` on all of them, so
    /// the launch vectors (run against the built backend) hold for the other one too.
    #[test]
    fn agrees_with_sha2_at_every_boundary() {
        use sha2::Digest;
        let data: Vec<u8> = (0..(1u32 << 20) + 7)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut lens: Vec<usize> = (0..=260).collect();
        lens.extend([4095, 4096, 4097, 65_536, 65_543, 1 << 20, (1 << 20) + 7]);
        for len in lens {
            let d = &data[..len];
            assert_eq!(
                sha384(d),
                <[u8; 48]>::from(sha2::Sha384::digest(d)),
                "sha384 len {len}"
            );
            let mut h = Sha256::new();
            for part in d.chunks(len / 3 + 1) {
                h.update(part);
            }
            assert_eq!(
                h.finish(),
                <[u8; 32]>::from(sha2::Sha256::digest(d)),
                "sha256 len {len}"
            );
        }
        let uniform = [0xffu8; 4096];
        assert_eq!(
            sha384(&uniform),
            <[u8; 48]>::from(sha2::Sha384::digest(uniform))
        );
    }
}
