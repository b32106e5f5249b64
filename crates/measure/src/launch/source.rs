//! Where a firmware image's bytes come from: memory, or a file that is never read whole.
//!
//! A launch digest needs two things from a firmware image: its footer table and SEV metadata,
//! which are found from the end of the image, and the digest of every page, in order. So an
//! [`ImageFile`] keeps only the image's tail (64 KiB plus the metadata if that lies earlier)
//! and streams the pages through one small reused buffer per thread when they are hashed.
//! Reading a 4 MiB image whole into fresh memory costs a page fault per 4 KiB on every run,
//! more than hashing the parts of it that are not padding.
//!
//! Page digests are computed in chunks of [`CHUNK`] bytes, by the calling thread and (for
//! images of at least [`PARALLEL_MIN`] bytes) one helper thread taking chunks from a shared
//! counter; the caller receives the digests in page order,
//! so it can extend the PAGE_INFO chain while the helper is still hashing. Pages filled with
//! one byte value (flash padding: over half of a typical OVMF) are hashed once per value.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::gctx::{sha384_page, LD_SIZE};
use super::ovmf::{Firmware, Parsed, MAX_IMAGE_SIZE, PAGE_SIZE, TAIL_LEN};
use super::sha::Sha256;
use super::Error;

/// Bytes hashed per unit of work (and size of each thread's read buffer).
pub(crate) const CHUNK: usize = 64 << 10;
/// Smallest image whose pages are hashed on two threads. The helper thread is started without
/// asking how many CPUs there are (finding out reads cgroup files and costs about as much as
/// the thread); on one CPU the two threads simply take turns.
pub(crate) const PARALLEL_MIN: usize = 512 << 10;
/// Stack of the helper thread (it hashes pages: a few KiB of stack).
const HELPER_STACK: usize = 256 << 10;

// The tail read first always holds the largest footer table (footer 32 bytes before the end,
// table of at most `u16::MAX` bytes) and is a whole number of pages.
const _: () = assert!(TAIL_LEN >= 32 + u16::MAX as usize + 18 && TAIL_LEN % PAGE_SIZE == 0);

/// A firmware image (OVMF or SVSM) as a launch digest reads it.
#[derive(Clone, Copy, Debug)]
pub enum ImageSource<'a> {
    /// The image bytes, in memory.
    Bytes(&'a [u8]),
    /// An opened image file: its tail is held, its pages are streamed when hashed.
    File(&'a ImageFile),
}

impl<'a> From<&'a [u8]> for ImageSource<'a> {
    fn from(b: &'a [u8]) -> Self {
        Self::Bytes(b)
    }
}

impl<'a> From<&'a Vec<u8>> for ImageSource<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for ImageSource<'a> {
    fn from(b: &'a [u8; N]) -> Self {
        Self::Bytes(b)
    }
}

impl<'a> From<&'a ImageFile> for ImageSource<'a> {
    fn from(f: &'a ImageFile) -> Self {
        Self::File(f)
    }
}

/// A firmware image file opened for measuring. [`ImageFile::open`] reads only the image's tail;
/// the page contents are read (again, through small buffers) when a digest is computed, so the
/// file must not change in between. Files that cannot be read at an offset (pipes, `/dev/fd/N`
/// of a process substitution) are read whole instead.
#[derive(Debug)]
pub struct ImageFile {
    what: &'static str,
    path: PathBuf,
    len: u64,
    contents: Contents,
}

#[derive(Debug)]
enum Contents {
    /// A regular file and its bytes from `len - tail.len()` to the end.
    Tail { file: File, tail: Vec<u8> },
    /// A file that is not seekable, read whole.
    Whole(Vec<u8>),
}

impl ImageFile {
    /// Opens the image at `path` and reads its tail. `what` names it in errors ("OVMF",
    /// "SVSM"). Files larger than [`MAX_IMAGE_SIZE`] are refused before any read.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened or read, [`Error::ImageSize`] when it is larger
    /// than `MAX_IMAGE_SIZE`.
    pub fn open(path: &Path, what: &'static str) -> Result<Self, Error> {
        let io = |source| Error::Io {
            what,
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        let too_large = |size| Error::ImageSize {
            image: what,
            size,
            reason: "larger than 256 MiB",
        };
        if meta.len() > MAX_IMAGE_SIZE as u64 {
            return Err(too_large(meta.len()));
        }
        if !meta.is_file() {
            let mut data = Vec::new();
            file.take(MAX_IMAGE_SIZE as u64 + 1)
                .read_to_end(&mut data)
                .map_err(io)?;
            if data.len() > MAX_IMAGE_SIZE {
                return Err(too_large(data.len() as u64));
            }
            return Ok(Self {
                what,
                path: path.to_path_buf(),
                len: data.len() as u64,
                contents: Contents::Whole(data),
            });
        }
        let len = meta.len();
        let mut from = len.saturating_sub(TAIL_LEN as u64);
        loop {
            let mut tail = vec![0u8; (len - from) as usize];
            file.read_exact_at(&mut tail, from).map_err(io)?;
            // The metadata is found from the end; if it starts before the tail, read from there.
            // Errors are left for `firmware` to report (they do not depend on the tail).
            let needs = match Firmware::parse_tail(&tail, len, len, what) {
                Ok(Parsed::NeedsFrom(offset)) if (offset as u64) < from => Some(offset as u64),
                _ => None,
            };
            match needs {
                Some(offset) => from = offset - offset % PAGE_SIZE as u64,
                None => {
                    return Ok(Self {
                        what,
                        path: path.to_path_buf(),
                        len,
                        contents: Contents::Tail { file, tail },
                    })
                }
            }
        }
    }

    /// Size of the image in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            what: self.what,
            path: self.path.clone(),
            source,
        }
    }
}

impl<'a> ImageSource<'a> {
    /// Length of the image.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File(f) => f.len,
        }
    }

    /// Parses the footer table and the SEV metadata of the image mapped to end at `end`.
    pub(crate) fn firmware(&self, end: u64, image: &'static str) -> Result<Firmware<'a>, Error> {
        let (tail, len) = match self {
            Self::Bytes(b) => return Firmware::parse_ending_at(b, end, image),
            Self::File(ImageFile {
                contents: Contents::Whole(b),
                ..
            }) => return Firmware::parse_ending_at(b, end, image),
            Self::File(ImageFile {
                contents: Contents::Tail { tail, .. },
                len,
                ..
            }) => (tail.as_slice(), *len),
        };
        match Firmware::parse_tail(tail, len, end, image)? {
            Parsed::Firmware(fw) => Ok(fw),
            // `ImageFile::open` read back far enough for the metadata; only a file changed
            // since could get here.
            Parsed::NeedsFrom(offset) => Err(Error::Truncated {
                field: "SEV metadata",
                offset: offset as u64,
                needed: (len - offset as u64),
                available: tail.len() as u64,
            }),
        }
    }

    /// Bytes `[off, off + n)` of the image: borrowed, or read into `buf`.
    fn read<'b>(&'b self, off: usize, n: usize, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Error> {
        let bytes = match self {
            Self::Bytes(b) => b,
            Self::File(f) => match &f.contents {
                Contents::Whole(b) => b.as_slice(),
                Contents::Tail { tail, .. } if off >= f.len as usize - tail.len() => {
                    tail.as_slice()
                }
                Contents::Tail { file, .. } => {
                    buf.resize(n, 0);
                    file.read_exact_at(buf, off as u64).map_err(|e| f.io(e))?;
                    return Ok(buf);
                }
            },
        };
        // `bytes` ends where the image ends (a tail's start is `len - bytes.len()`).
        let at = off.checked_sub(self.len() as usize - bytes.len());
        at.and_then(|at| bytes.get(at..at + n))
            .ok_or(Error::Truncated {
                field: "image pages",
                offset: off as u64,
                needed: n as u64,
                available: bytes.len().saturating_sub(off) as u64,
            })
    }

    /// Appends the whole image to `h` (SEV and SEV-ES digests).
    pub(crate) fn sha256_into(&self, h: &mut Sha256) -> Result<(), Error> {
        let len = self.len() as usize;
        let mut buf = Vec::new();
        let mut off = 0;
        while off < len {
            let n = CHUNK.min(len - off);
            h.update(self.read(off, n, &mut buf)?);
            off += n;
        }
        Ok(())
    }

    /// Hashes the whole pages of chunk `i` into `out` (a trailing partial page is ignored) and
    /// returns how many there were.
    fn chunk_digests(
        &self,
        i: usize,
        buf: &mut Vec<u8>,
        cache: &mut UniformCache,
        out: &mut ChunkDigests,
    ) -> Result<usize, Error> {
        let len = self.len() as usize;
        let off = i * CHUNK;
        let bytes = self.read(off, CHUNK.min(len - off), buf)?;
        let mut n = 0;
        for (d, p) in out.iter_mut().zip(bytes.chunks_exact(PAGE_SIZE)) {
            *d = cache.digest(p);
            n += 1;
        }
        Ok(n)
    }

    /// Hands the SHA-384 of every page, in order, to `sink`.
    ///
    /// Large images are hashed by this thread and one helper thread, each taking the next
    /// unclaimed chunk from a shared counter and writing its digests into that chunk's slot;
    /// this thread hands the slots to `sink` in order as they fill (so the PAGE_INFO chain is
    /// extended while the helper hashes) and sleeps only when every chunk is claimed and the
    /// next one in order is still being hashed by the helper. The helper allocates nothing (its
    /// buffer comes from this thread): a first `malloc` on a new thread makes glibc map a new
    /// 64 MiB arena, which cost more than a chunk's hashing.
    pub(crate) fn page_digests(&self, mut sink: impl FnMut(&[u8; LD_SIZE])) -> Result<(), Error> {
        let len = self.len() as usize;
        let chunks = len.div_ceil(CHUNK);
        let mut buf = Vec::with_capacity(CHUNK);
        let mut cache = UniformCache::new();
        let mut out = [[0u8; LD_SIZE]; CHUNK_PAGES];
        if len < PARALLEL_MIN {
            for i in 0..chunks {
                let n = self.chunk_digests(i, &mut buf, &mut cache, &mut out)?;
                out.iter().take(n).for_each(&mut sink);
            }
            return Ok(());
        }
        let slots: Vec<Slot> = std::iter::repeat_with(Slot::new).take(chunks).collect();
        let next = AtomicUsize::new(0);
        let helper_done = AtomicBool::new(false);
        let failure = Mutex::new(None);
        let main_cpu = current_cpu();
        let main = std::thread::current();
        let helper_buf = Vec::with_capacity(CHUNK);
        std::thread::scope(|s| {
            let (slots, next, helper_done, failure) = (&slots, &next, &helper_done, &failure);
            let helper = std::thread::Builder::new()
                .stack_size(HELPER_STACK)
                .spawn_scoped(s, move || {
                    // Wakes the main thread however the helper ends (also on a panic).
                    let _done = Finished(helper_done, &main);
                    leave_cpu(main_cpu);
                    let (mut buf, mut cache) = (helper_buf, UniformCache::new());
                    let mut out = [[0u8; LD_SIZE]; CHUNK_PAGES];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slots.get(i) else { break };
                        let r = self.chunk_digests(i, &mut buf, &mut cache, &mut out);
                        let failed = r.is_err();
                        let _ = slot.set(match r {
                            Ok(n) => Some((n, out)),
                            Err(e) => {
                                if let Ok(mut f) = failure.lock() {
                                    *f = Some(e);
                                }
                                None
                            }
                        });
                        main.unpark();
                        if failed {
                            break;
                        }
                    }
                });
            // Without a helper (no thread could be started) this thread hashes every chunk.
            let helper = helper.ok();
            // A new thread is queued on its parent's CPU: let it run now and move away.
            if helper.is_some() {
                std::thread::yield_now();
            }
            let helper_gone = || helper.is_none() || helper_done.load(Ordering::Acquire);
            let mut emitted = 0;
            let result = loop {
                if emitted == chunks {
                    break Ok(());
                }
                match slots.get(emitted).and_then(|s| s.get()) {
                    Some(Some((n, ds))) => {
                        ds.iter().take(*n).for_each(&mut sink);
                        emitted += 1;
                        continue;
                    }
                    Some(None) => {
                        break Err(failure.lock().ok().and_then(|mut f| f.take()).unwrap_or(
                            Error::Truncated {
                                field: "image pages (hashing thread failed)",
                                offset: (emitted * CHUNK) as u64,
                                needed: CHUNK as u64,
                                available: 0,
                            },
                        ))
                    }
                    None => {}
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if let Some(slot) = slots.get(i) {
                    match self.chunk_digests(i, &mut buf, &mut cache, &mut out) {
                        Ok(n) => {
                            let _ = slot.set(Some((n, out)));
                        }
                        Err(e) => break Err(e),
                    }
                } else if helper_gone() && slots.get(emitted).is_some_and(|s| s.get().is_none()) {
                    // The helper ended without filling a chunk it took: it can only have
                    // panicked.
                    if let Some(Err(panic)) = helper.map(|h| h.join()) {
                        std::panic::resume_unwind(panic);
                    }
                    break Err(Error::Truncated {
                        field: "image pages (hashing thread stopped)",
                        offset: (emitted * CHUNK) as u64,
                        needed: CHUNK as u64,
                        available: 0,
                    });
                } else {
                    // Every chunk is taken and the next one in order is the helper's.
                    std::thread::park();
                }
            };
            // On an error the helper has nothing left to take.
            next.store(chunks, Ordering::Relaxed);
            result
        })
    }
}

/// The CPU the calling thread runs on (`None` where that cannot be asked).
fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return Some(rustix::thread::sched_getcpu());
    #[cfg(not(target_os = "linux"))]
    return None;
}

/// Moves the calling thread off `cpu` (the main thread's) if another CPU is allowed, then
/// allows every CPU again. Linux queues a new thread on its parent's CPU and, with the other
/// CPU idle, neither the wake-up path (its idle-CPU scan is skipped once the caches' CPUs are
/// busy enough, which on two CPUs is one busy CPU) nor the balancing tick moves either thread
/// for milliseconds: measured with `perf sched timehist`, most runs hashed on one CPU. A
/// thread that narrows its own affinity is moved at once.
fn leave_cpu(cpu: Option<usize>) {
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{sched_getaffinity, sched_setaffinity};
        let (Some(cpu), Ok(allowed)) = (cpu, sched_getaffinity(None)) else {
            return;
        };
        let mut others = allowed;
        others.unset(cpu);
        if others.count() > 0 && sched_setaffinity(None, &others).is_ok() {
            let _ = sched_setaffinity(None, &allowed);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

/// Pages per chunk.
const CHUNK_PAGES: usize = CHUNK / PAGE_SIZE;
/// The digests of one chunk's pages.
type ChunkDigests = [[u8; LD_SIZE]; CHUNK_PAGES];
/// One chunk's result: how many pages it held and their digests, or `None` if the helper
/// failed to read it (its error is kept aside).
type Slot = OnceLock<Option<(usize, ChunkDigests)>>;

/// Marks the helper thread finished and wakes the main thread when dropped.
struct Finished<'a>(&'a AtomicBool, &'a std::thread::Thread);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

/// Digests of pages filled with one byte value, computed once per value.
struct UniformCache([Option<[u8; LD_SIZE]>; 256]);

impl UniformCache {
    fn new() -> Self {
        Self([None; 256])
    }

    fn digest(&mut self, page: &[u8]) -> [u8; LD_SIZE] {
        match uniform_byte(page) {
            Some(b) => match self.0.get_mut(usize::from(b)) {
                Some(slot) => *slot.get_or_insert_with(|| sha384_page(page)),
                None => sha384_page(page),
            },
            None => sha384_page(page),
        }
    }
}

/// `Some(b)` if every byte of `page` equals `b`.
fn uniform_byte(page: &[u8]) -> Option<u8> {
    let (&first, rest) = page.split_first()?;
    // Every byte equals the first when the page equals itself shifted by one.
    let (_, init) = page.split_last()?;
    (rest == init).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_pages() {
        assert_eq!(uniform_byte(&[7, 7, 7]), Some(7));
        assert_eq!(uniform_byte(&[7, 7, 8]), None);
        assert_eq!(uniform_byte(&[]), None);
        let mut c = UniformCache::new();
        let ff = [0xffu8; PAGE_SIZE];
        assert_eq!(c.digest(&ff), sha384_page(&ff));
        assert_eq!(c.digest(&ff), sha384_page(&ff));
        let mut odd = ff;
        odd[4095] = 0;
        assert_eq!(c.digest(&odd), sha384_page(&odd));
    }
}
