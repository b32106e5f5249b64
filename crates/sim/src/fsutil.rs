//! Small file helpers: private directories, atomic writes and bounded reads.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::SimError;

/// Creates `dir` (and parents) with mode 0700 when it does not exist yet.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), SimError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SimError::io(dir, e))
}

/// Writes `data` to `path` through a temporary file in the same directory (created with
/// `mode`), fsyncs it and renames it into place.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), SimError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| SimError::invalid(path, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(SimError::io(path, e));
    }
    Ok(())
}

/// Reads at most `limit` bytes; a larger file is an error, not a truncation.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, SimError> {
    let f = fs::File::open(path).map_err(|e| SimError::io(path, e))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| SimError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(SimError::invalid(
            path,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(buf)
}
