//! Opening a LUKS volume with a key the broker released, through `cryptsetup`.
//!
//! The key never appears in argv or in the environment (both are readable by other local users
//! through `/proc`): it is written to `cryptsetup`'s standard input (`--key-file=-`, which reads
//! the bytes as they are, no newline handling) over a pipe, and the caller's copy is zeroized.
//! A volume is opened only after a successful attestation; on any failure nothing is mapped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

/// What to do with the released key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlockMode {
    /// `cryptsetup open`: map the volume at `/dev/mapper/<name>` (needs device-mapper).
    Open,
    /// `cryptsetup open --test-passphrase`: check that the key opens a keyslot, map nothing.
    Test,
}

/// Where and how to open a LUKS volume.
#[derive(Clone, Debug)]
pub struct UnlockRequest {
    /// The LUKS device or image file.
    pub device: PathBuf,
    /// The device-mapper name (`/dev/mapper/<name>`); ignored in [`UnlockMode::Test`].
    pub name: String,
    /// Open or only test.
    pub mode: UnlockMode,
    /// The `cryptsetup` program (default `cryptsetup` from `PATH`).
    pub cryptsetup: PathBuf,
    /// Extra `cryptsetup open` options, e.g. `--readonly`, `--allow-discards`.
    pub options: Vec<String>,
}

/// Why a volume was not opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LuksError {
    /// The mapper name is not usable.
    #[error("invalid mapper name {name:?}: {reason}")]
    Name {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The device is missing or not a LUKS2 volume.
    #[error("{}: not a LUKS2 volume ({reason})", device.display())]
    NotLuks {
        /// The device given.
        device: PathBuf,
        /// What `cryptsetup isLuks` said.
        reason: String,
    },
    /// The released key is empty.
    #[error("the released key is empty")]
    EmptyKey,
    /// `cryptsetup` could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `cryptsetup` refused the key or failed.
    #[error("cryptsetup {action} {} failed (exit {code:?}): {stderr}", device.display())]
    Cryptsetup {
        /// `open` or `test-passphrase`.
        action: &'static str,
        /// The device.
        device: PathBuf,
        /// Exit status (2 = no key available with this passphrase).
        code: Option<i32>,
        /// cryptsetup's message (never contains the key).
        stderr: String,
    },
}

/// Checks a device-mapper name: 1–127 characters of `[A-Za-z0-9_.-]`, not `.`/`..`, not
/// starting with `-` (it would read as an option).
///
/// # Errors
///
/// [`LuksError::Name`] when the name breaks these rules.
pub fn check_name(name: &str) -> Result<(), LuksError> {
    let bad = |reason| {
        Err(LuksError::Name {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 127 {
        return bad("must be 1 to 127 characters");
    }
    if name == "." || name == ".." || name.starts_with('-') {
        return bad("must not be '.', '..' or start with '-'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// Whether `device` is a LUKS2 volume (`cryptsetup isLuks --type luks2`).
///
/// # Errors
///
/// [`LuksError::Spawn`] when cryptsetup cannot run, [`LuksError::NotLuks`] when the device is not
/// LUKS2.
pub fn is_luks2(cryptsetup: &Path, device: &Path) -> Result<(), LuksError> {
    let out = Command::new(cryptsetup)
        .args(["isLuks", "--type", "luks2", "--"])
        .arg(device)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LuksError::Spawn {
            program: cryptsetup.to_path_buf(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(LuksError::NotLuks {
        device: device.to_path_buf(),
        reason: if msg.is_empty() {
            format!("isLuks exit {:?}", out.status.code())
        } else {
            msg
        },
    })
}

/// Opens (or tests) the volume with `key`, which is consumed and zeroized.
///
/// # Errors
///
/// [`LuksError::EmptyKey`] for an empty key, [`LuksError::Name`] or [`LuksError::NotLuks`] as
/// [`check_name`] and [`is_luks2`], [`LuksError::Spawn`] or [`LuksError::Cryptsetup`] when
/// cryptsetup fails.
pub fn unlock(req: &UnlockRequest, key: Zeroizing<Vec<u8>>) -> Result<(), LuksError> {
    if key.is_empty() {
        return Err(LuksError::EmptyKey);
    }
    if req.mode == UnlockMode::Open {
        check_name(&req.name)?;
    }
    is_luks2(&req.cryptsetup, &req.device)?;
    let mut cmd = Command::new(&req.cryptsetup);
    cmd.args(["open", "--type", "luks2", "--key-file=-"]);
    let action = match req.mode {
        UnlockMode::Test => {
            cmd.arg("--test-passphrase");
            "test-passphrase"
        }
        UnlockMode::Open => "open",
    };
    cmd.args(&req.options).arg("--").arg(&req.device);
    if req.mode == UnlockMode::Open {
        cmd.arg(&req.name);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LuksError::Spawn {
            program: req.cryptsetup.clone(),
            source,
        })?;
    // Write the key and close the pipe so cryptsetup sees its end. A write error (cryptsetup
    // exited early) is reported through its exit status below.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&key);
    }
    drop(key);
    let out = child
        .wait_with_output()
        .map_err(|source| LuksError::Spawn {
            program: req.cryptsetup.clone(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LuksError::Cryptsetup {
        action,
        device: req.device.clone(),
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapper_names() {
        for ok in ["data", "remits-data_1", "a.b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "-x", "a/b", "a b", &"x".repeat(128)] {
            assert!(
                matches!(check_name(bad), Err(LuksError::Name { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_key_refused_before_running_anything() {
        let req = UnlockRequest {
            device: "/nonexistent".into(),
            name: "x".into(),
            mode: UnlockMode::Test,
            cryptsetup: "/nonexistent/cryptsetup".into(),
            options: vec![],
        };
        assert!(matches!(
            unlock(&req, Zeroizing::new(Vec::new())),
            Err(LuksError::EmptyKey)
        ));
    }
}
