//! Reading an input file with its size cap enforced *while reading*.
//!
//! `metadata().len()` is not a bound: `/dev/zero`, a FIFO or `/proc` files report 0 (or
//! nothing true) and stream forever. [`read_capped`] refuses a regular file that is already
//! too large without reading it, then reads at most `max + 1` bytes of anything, so memory is
//! bounded by `max` whatever the path names. Every remits command-line input goes through it.
use std::io::Read;
use std::path::{Path, PathBuf};

/// The cap the command-line tools use for evidence, certificates, manifests, keys, policies,
/// reference values and configuration files: far above any real one.
pub const MAX_INPUT_FILE: u64 = 16 << 20;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Opening or reading failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the file is for (`--report`, `evidence`, ...).
        what: String,
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds more than the cap.
    #[error("{what} {}: larger than {max} bytes", path.display())]
    TooLarge {
        /// What the file is for.
        what: String,
        /// The path given.
        path: PathBuf,
        /// The cap, in bytes.
        max: u64,
    },
    /// The file is not UTF-8 text (for [`read_capped_string`]).
    #[error("{what} {}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// What the file is for.
        what: String,
        /// The path given.
        path: PathBuf,
    },
}

/// Reads all of `path`, refusing more than `max` bytes. `what` names the input in errors.
///
/// # Errors
///
/// [`InputError::Io`] when the file cannot be opened or read, [`InputError::TooLarge`] when it
/// holds more than `max` bytes.
pub fn read_capped(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let too_large = || InputError::TooLarge {
        what: what.to_string(),
        path: path.to_path_buf(),
        max,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // A regular file that is already too large is refused at once, without reading it.
    let declared = file.metadata().map(|m| m.len()).unwrap_or(0);
    if declared > max {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > max {
        return Err(too_large());
    }
    Ok(buf)
}

/// [`read_capped`] for text files.
///
/// # Errors
///
/// As [`read_capped`], and [`InputError::NotUtf8`] when the content is not UTF-8.
pub fn read_capped_string(path: &Path, max: u64, what: &str) -> Result<String, InputError> {
    let bytes = read_capped(path, max, what)?;
    String::from_utf8(bytes).map_err(|_| InputError::NotUtf8 {
        what: what.to_string(),
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_device_is_refused_after_the_cap() {
        let err = read_capped(Path::new("/dev/zero"), 4096, "--report").unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { max: 4096, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("--report /dev/zero"), "{err}");
    }

    #[test]
    fn exact_cap_is_accepted_and_one_more_byte_is_not() {
        let dir = std::env::temp_dir().join(format!("remits-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        std::fs::write(&p, vec![7u8; 100]).unwrap();
        assert_eq!(read_capped(&p, 100, "f").unwrap().len(), 100);
        assert!(matches!(
            read_capped(&p, 99, "f"),
            Err(InputError::TooLarge { .. })
        ));
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_capped_string(&p, 100, "f"),
            Err(InputError::NotUtf8 { .. })
        ));
        assert!(matches!(
            read_capped(&dir.join("missing"), 100, "f"),
            Err(InputError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
