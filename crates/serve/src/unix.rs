//! [`bind_unix`]: a unix-domain listening socket with a chosen mode and owner, the way CoCo's
//! confidential-data-hub offers its API (a socket file only the workload may connect to).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use rustix::fs::Mode;
use tokio::net::UnixListener;

/// How [`bind_unix`] creates the socket file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixSocketOptions {
    /// Permission bits of the socket file (connecting needs write permission). Default `0o600`.
    pub mode: u32,
    /// Owner to give the socket file (`chown`), when set.
    pub uid: Option<u32>,
    /// Group to give the socket file, when set.
    pub gid: Option<u32>,
}

impl Default for UnixSocketOptions {
    fn default() -> Self {
        Self {
            mode: 0o600,
            uid: None,
            gid: None,
        }
    }
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Binds a unix-domain socket at `path` with `opts`' mode and owner.
///
/// * An existing **socket** file at `path` is a leftover of an earlier run and is removed,
///   unless a server still accepts connections on it ([`io::ErrorKind::AddrInUse`]).
/// * Anything else at `path` (a regular file, a directory, a symlink) is never removed: the
///   call fails with [`io::ErrorKind::AlreadyExists`].
/// * The socket is created under a `0o177` umask (owner-only from its first instant), then
///   `chown`ed and `chmod`ed; if either fails the socket file is removed again. The umask is
///   process-wide, so call this before starting threads that create files.
///
/// The directory holding `path` must not be writable by untrusted users (as for any socket).
/// Errors name the path. Must be called within a tokio runtime.
///
/// # Errors
///
/// [`io::ErrorKind::AddrInUse`] when a server still listens on `path`,
/// [`io::ErrorKind::AlreadyExists`] when something other than a socket is there, and the I/O error
/// of binding or setting mode and owner.
pub fn bind_unix(path: &Path, opts: &UnixSocketOptions) -> io::Result<UnixListener> {
    if opts.mode & !0o777 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket mode {:o}: only permission bits (0..=777) allowed",
                opts.mode
            ),
        ));
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: a server is listening on this socket", path.display()),
                ));
            }
            fs::remove_file(path).map_err(|e| at(path, e))?;
            tracing::info!(path = %path.display(), "removed a stale socket file");
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(at(path, e)),
    }
    let old = rustix::process::umask(Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| at(path, e))?;
    let finish = || -> io::Result<()> {
        if opts.uid.is_some() || opts.gid.is_some() {
            std::os::unix::fs::chown(path, opts.uid, opts.gid)?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(opts.mode))
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(path);
        return Err(at(path, e));
    }
    Ok(listener)
}

/// Removes the socket file at `path` when it is still a socket (at the end of a server's run);
/// anything else there is left alone.
pub fn remove_socket(path: &Path) {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mode_stale_socket_and_non_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("api.sock");
        let l = bind_unix(&p, &UnixSocketOptions::default()).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A live socket is not taken over.
        let e = bind_unix(&p, &UnixSocketOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(l);
        // A stale one is replaced, with the new mode.
        let opts = UnixSocketOptions {
            mode: 0o660,
            ..UnixSocketOptions::default()
        };
        let _l = bind_unix(&p, &opts).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // A regular file is never removed.
        let f = tmp.path().join("file");
        fs::write(&f, b"keep").unwrap();
        let e = bind_unix(&f, &UnixSocketOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&f).unwrap(), b"keep");
        let e = bind_unix(
            &tmp.path().join("x"),
            &UnixSocketOptions {
                mode: 0o4600,
                ..UnixSocketOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        remove_socket(&p);
        remove_socket(&f);
        assert!(!p.exists() && f.exists());
    }
}
