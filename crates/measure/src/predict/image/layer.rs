//! One layer tarball: stream its entries, hash regular files (small ones in parallel batches,
//! large ones inline), and return the layer's entries and whiteouts.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

use super::super::events::Digest32;
use super::super::Error;

/// Files up to this size are buffered and hashed in parallel batches.
const SMALL_FILE: u64 = 1 << 20;
/// Bytes buffered per batch.
const BATCH_BYTES: usize = 8 << 20;
/// Buffer for streaming large files.
const STREAM_BUF: usize = 1 << 20;
/// Upper bound on the number of entries in one layer (metadata memory bound).
pub const MAX_ENTRIES: usize = 10_000_000;
/// Upper bound on path length.
const MAX_PATH: usize = 4096;

/// What an entry is, with its content measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Regular file: size and SHA-256 of its bytes.
    File {
        /// Size in bytes.
        size: u64,
        /// SHA-256 of the content.
        sha256: Digest32,
    },
    /// Directory.
    Dir,
    /// Symbolic link with its target (raw bytes).
    Symlink(Vec<u8>),
    /// Hard link to another path of the same layer (resolved when layers are merged).
    HardLink(Vec<u8>),
    /// Character device.
    Char(u32, u32),
    /// Block device.
    Block(u32, u32),
    /// FIFO.
    Fifo,
}

/// Metadata of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Permission bits including setuid/setgid/sticky (mode & 0o7777).
    pub mode: u32,
    /// Owner uid.
    pub uid: u64,
    /// Owner gid.
    pub gid: u64,
    /// Type and content.
    pub content: Content,
}

/// The result of reading one layer.
#[derive(Debug, Default)]
pub struct Layer {
    /// Entries by normalized path ("/a/b").
    pub entries: BTreeMap<Vec<u8>, Entry>,
    /// Paths removed from lower layers (`.wh.<name>`).
    pub whiteouts: Vec<Vec<u8>>,
    /// Directories whose lower-layer contents are hidden (`.wh..wh..opq`).
    pub opaque: Vec<Vec<u8>>,
    /// Bytes of regular-file content hashed.
    pub content_bytes: u64,
}

/// Normalizes a tar path: drops `.` and empty components, rejects `..`, returns "/a/b" (or an
/// empty vector for the root).
///
/// # Errors
///
/// [`Error::Image`] for a path with `..` or not valid as a path.
pub fn normalize(raw: &[u8]) -> Result<Vec<u8>, Error> {
    if raw.len() > MAX_PATH {
        return Err(Error::Image(format!("path longer than {MAX_PATH} bytes")));
    }
    if raw.contains(&0) {
        return Err(Error::Image("path contains NUL".into()));
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                return Err(Error::Image(format!(
                    "path {:?} contains '..'",
                    String::from_utf8_lossy(raw)
                )))
            }
            c => {
                out.push(b'/');
                out.extend_from_slice(c);
            }
        }
    }
    Ok(out)
}

fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => match path.split_at_checked(i) {
            Some((parent, rest)) => (parent, rest.get(1..).unwrap_or_default()),
            None => (&[], path),
        },
        None => (&[][..], path),
    }
}

struct Pending {
    path: Vec<u8>,
    data: Vec<u8>,
}

/// Limits the number of batches in flight (bounded memory).
struct Gate {
    count: Mutex<usize>,
    cv: Condvar,
    max: usize,
}

impl Gate {
    fn enter(&self) {
        let mut c = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *c >= self.max {
            c = self.cv.wait(c).unwrap_or_else(|p| p.into_inner());
        }
        *c += 1;
    }
    fn leave(&self) {
        let mut c = self.count.lock().unwrap_or_else(|p| p.into_inner());
        *c = c.saturating_sub(1);
        self.cv.notify_all();
    }
}

type Hashed = Arc<Mutex<Vec<(Vec<u8>, Digest32)>>>;

fn dispatch(
    batch: Vec<Pending>,
    gate: &Arc<Gate>,
    out: &Hashed,
    pending: &Arc<(Mutex<usize>, Condvar)>,
) {
    if batch.is_empty() {
        return;
    }
    gate.enter();
    {
        let mut n = pending.0.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
    }
    let gate = Arc::clone(gate);
    let out = Arc::clone(out);
    let pending = Arc::clone(pending);
    rayon::spawn(move || {
        use rayon::prelude::*;
        let hashed: Vec<(Vec<u8>, Digest32)> = batch
            .into_par_iter()
            .map(|p| {
                let d: Digest32 = Sha256::digest(&p.data).into();
                (p.path, d)
            })
            .collect();
        out.lock().unwrap_or_else(|p| p.into_inner()).extend(hashed);
        gate.leave();
        let mut n = pending.0.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        pending.1.notify_all();
    });
}

/// Reads one (uncompressed) layer tar stream. `name` names the layer in errors. Must not be
/// called from inside the rayon pool (it waits for the batches it spawns there).
///
/// # Errors
///
/// [`Error::Image`] naming the layer when the tar stream or an entry is malformed.
pub fn read_layer<R: Read>(name: &str, reader: R) -> Result<Layer, Error> {
    let gate = Arc::new(Gate {
        count: Mutex::new(0),
        cv: Condvar::new(),
        max: rayon::current_num_threads().max(1) * 2,
    });
    let hashed: Hashed = Arc::new(Mutex::new(Vec::new()));
    let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
    let result = read_entries(name, reader, &gate, &hashed, &pending);
    // Wait for every spawned batch, success or not, before touching the results.
    {
        let mut n = pending.0.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
            n = pending.1.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
    let mut layer = result?;
    let hashed = std::mem::take(&mut *hashed.lock().unwrap_or_else(|p| p.into_inner()));
    for (path, digest) in hashed {
        if let Some(Entry {
            content: Content::File { sha256, .. },
            ..
        }) = layer.entries.get_mut(&path)
        {
            *sha256 = digest;
        }
    }
    Ok(layer)
}

fn read_entries<R: Read>(
    name: &str,
    reader: R,
    gate: &Arc<Gate>,
    hashed: &Hashed,
    pending: &Arc<(Mutex<usize>, Condvar)>,
) -> Result<Layer, Error> {
    let io = |e: std::io::Error| Error::io(format!("layer {name}"), e);
    let mut archive = tar::Archive::new(reader);
    let mut layer = Layer::default();
    let mut batch: Vec<Pending> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut buf = vec![0u8; STREAM_BUF];
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        if layer.entries.len() >= MAX_ENTRIES {
            return Err(Error::Image(format!(
                "layer {name}: more than {MAX_ENTRIES} entries"
            )));
        }
        let path = normalize(&entry.path_bytes())?;
        let header = entry.header();
        let mode = header.mode().map_err(io)? & 0o7777;
        let uid = header.uid().map_err(io)?;
        let gid = header.gid().map_err(io)?;
        let kind = header.entry_type();
        let (parent, base) = split_parent(&path);
        if let Some(whited) = base.strip_prefix(b".wh.") {
            if base == b".wh..wh..opq" {
                layer.opaque.push(parent.to_vec());
            } else {
                let mut target = parent.to_vec();
                target.push(b'/');
                target.extend_from_slice(whited);
                layer.whiteouts.push(target);
            }
            continue;
        }
        if path.is_empty() {
            continue; // the root directory itself
        }
        use tar::EntryType as T;
        let content = match kind {
            T::Regular | T::Continuous => {
                let size = entry.size();
                layer.content_bytes = layer.content_bytes.saturating_add(size);
                if size <= SMALL_FILE {
                    let mut data = Vec::with_capacity(size as usize);
                    (&mut entry).take(size).read_to_end(&mut data).map_err(io)?;
                    if data.len() as u64 != size {
                        return Err(Error::Image(format!("layer {name}: truncated file")));
                    }
                    batch_bytes += data.len();
                    batch.push(Pending {
                        path: path.clone(),
                        data,
                    });
                    if batch_bytes >= BATCH_BYTES {
                        dispatch(std::mem::take(&mut batch), gate, hashed, pending);
                        batch_bytes = 0;
                    }
                    Content::File {
                        size,
                        sha256: [0; 32],
                    }
                } else {
                    let mut h = Sha256::new();
                    let mut left = size;
                    while left > 0 {
                        let want =
                            usize::try_from(left.min(STREAM_BUF as u64)).unwrap_or(STREAM_BUF);
                        let chunk = buf.get_mut(..want).unwrap_or_default();
                        entry.read_exact(chunk).map_err(io)?;
                        h.update(&*chunk);
                        left -= want as u64;
                    }
                    Content::File {
                        size,
                        sha256: h.finalize().into(),
                    }
                }
            }
            T::Directory => Content::Dir,
            T::Symlink => Content::Symlink(
                entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default(),
            ),
            T::Link => {
                let target = entry.link_name_bytes().ok_or_else(|| {
                    Error::Image(format!("layer {name}: hard link without target"))
                })?;
                Content::HardLink(normalize(&target)?)
            }
            T::Char | T::Block => {
                let major = header.device_major().map_err(io)?.unwrap_or(0);
                let minor = header.device_minor().map_err(io)?.unwrap_or(0);
                if kind == T::Char {
                    Content::Char(major, minor)
                } else {
                    Content::Block(major, minor)
                }
            }
            T::Fifo => Content::Fifo,
            // Metadata records (pax, GNU long names) are consumed by the tar crate.
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            other => {
                return Err(Error::Image(format!(
                    "layer {name}: {}: unsupported tar entry type {:?}",
                    String::from_utf8_lossy(&path),
                    other
                )))
            }
        };
        let new = Entry {
            mode,
            uid,
            gid,
            content,
        };
        if let Some(old) = layer.entries.get(&path) {
            // A duplicate makes the result depend on member order: accept only identical ones.
            let same = match (&old.content, &new.content) {
                (Content::File { .. }, Content::File { .. }) => false,
                (a, b) => {
                    a == b && old.mode == new.mode && old.uid == new.uid && old.gid == new.gid
                }
            };
            if !same {
                return Err(Error::Image(format!(
                    "layer {name}: {} appears twice with different content",
                    String::from_utf8_lossy(&path)
                )));
            }
        }
        layer.entries.insert(path, new);
    }
    dispatch(batch, gate, hashed, pending);
    Ok(layer)
}
