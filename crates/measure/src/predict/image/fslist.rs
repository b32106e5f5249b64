//! Flattening layers into the final filesystem and its canonical, order-independent encoding.
//!
//! ```text
//! files_digest = SHA-256( "remits/image-files/v1" || 0x00 || u64be count || record* )
//! record       = u32be len(path) || path || u8 type || u32be mode || u64be uid || u64be gid || payload
//!   'f' regular file : u64be size || SHA-256(content)       (hard links are flattened to 'f')
//!   'd' directory    : (none)
//!   'l' symlink      : u32be len(target) || target
//!   'c' / 'b' device : u32be major || u32be minor
//!   'p' fifo         : (none)
//! ```
//! Records are sorted by the path bytes ("/a/b", no trailing slash). Modification times, tar
//! member order and archive layout are not measured.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::super::events::Digest32;
use super::super::Error;
use super::layer::{Content, Entry, Layer};

/// Applies `layer` on top of `fs` (OCI whiteout semantics).
///
/// # Errors
///
/// [`Error::Image`] when an entry conflicts with the tree (a hard link to a missing file, a path
/// under a non-directory).
pub fn apply(fs: &mut BTreeMap<Vec<u8>, Entry>, layer: Layer) -> Result<(), Error> {
    let remove_under = |fs: &mut BTreeMap<Vec<u8>, Entry>, dir: &[u8], keep_self: bool| {
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        let doomed: Vec<Vec<u8>> = fs
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            fs.remove(&k);
        }
        if !keep_self {
            fs.remove(dir);
        }
    };
    for dir in &layer.opaque {
        remove_under(fs, dir, true);
    }
    for path in &layer.whiteouts {
        remove_under(fs, path, false);
    }
    // Resolve hard links within the layer (flattened to the target's metadata and content).
    let mut resolved = Vec::new();
    for (path, entry) in &layer.entries {
        if let Content::HardLink(_) = entry.content {
            let mut cur = entry;
            for _ in 0..16 {
                match &cur.content {
                    Content::HardLink(t) => {
                        cur = layer.entries.get(t).or_else(|| fs.get(t)).ok_or_else(|| {
                            Error::Image(format!(
                                "hard link {} -> {}: target missing",
                                String::from_utf8_lossy(path),
                                String::from_utf8_lossy(t)
                            ))
                        })?;
                    }
                    _ => break,
                }
            }
            match cur.content {
                Content::File { .. } => resolved.push((path.clone(), cur.clone())),
                _ => {
                    return Err(Error::Image(format!(
                        "hard link {}: target is not a regular file",
                        String::from_utf8_lossy(path)
                    )))
                }
            }
        }
    }
    for (path, entry) in layer.entries {
        if !matches!(entry.content, Content::HardLink(_)) {
            // A non-directory replacing a directory hides what was below it.
            if !matches!(entry.content, Content::Dir) {
                remove_under(fs, &path, true);
            }
            fs.insert(path, entry);
        }
    }
    for (path, entry) in resolved {
        fs.insert(path, entry);
    }
    Ok(())
}

/// The canonical digest of a flattened filesystem.
pub fn files_digest(fs: &BTreeMap<Vec<u8>, Entry>) -> Digest32 {
    let mut h = Sha256::new();
    h.update(b"remits/image-files/v1\0");
    h.update((fs.len() as u64).to_be_bytes());
    for (path, e) in fs {
        h.update((path.len() as u32).to_be_bytes());
        h.update(path);
        let ty = match e.content {
            Content::File { .. } | Content::HardLink(_) => b'f',
            Content::Dir => b'd',
            Content::Symlink(_) => b'l',
            Content::Char(..) => b'c',
            Content::Block(..) => b'b',
            Content::Fifo => b'p',
        };
        h.update([ty]);
        h.update(e.mode.to_be_bytes());
        h.update(e.uid.to_be_bytes());
        h.update(e.gid.to_be_bytes());
        match &e.content {
            Content::File { size, sha256 } => {
                h.update(size.to_be_bytes());
                h.update(sha256);
            }
            Content::Symlink(t) => {
                h.update((t.len() as u32).to_be_bytes());
                h.update(t);
            }
            Content::Char(a, b) | Content::Block(a, b) => {
                h.update(a.to_be_bytes());
                h.update(b.to_be_bytes());
            }
            Content::Dir | Content::Fifo | Content::HardLink(_) => {}
        }
    }
    h.finalize().into()
}
