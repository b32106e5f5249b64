//! The open-file limit (`RLIMIT_NOFILE`): every connection is a descriptor, so the connection
//! cap must stay below it, or `accept` fails with `EMFILE` and the store or the database pool
//! cannot open files either.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept free for everything that is not a client connection: the listener, the
/// runtime, the embedded store's files, the PostgreSQL pool, logs.
pub const FD_RESERVE: u64 = 64;

/// Largest soft limit [`raise_fd_limit`] asks for (Linux's default `fs.nr_open`).
const RAISE_CEILING: u64 = 1 << 20;

/// The soft `RLIMIT_NOFILE` of this process, `None` when unlimited.
pub fn fd_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (at most 2^20), as Go's runtime does at
/// start: systemd and most shells start services with a soft limit of 1024 and a much larger
/// hard one. Returns the soft limit in force afterwards (`None` = unlimited). A refusal is
/// logged and the old limit kept.
pub fn raise_fd_limit() -> Option<u64> {
    let lim = getrlimit(Resource::Nofile);
    let target = lim.maximum.unwrap_or(RAISE_CEILING).min(RAISE_CEILING);
    if lim.current.is_some_and(|cur| cur < target) {
        let new = Rlimit {
            current: Some(target),
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, new) {
            tracing::warn!(error = %e, soft = ?lim.current, "cannot raise the open-file limit");
        }
    }
    fd_limit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_never_lowers() {
        let before = fd_limit();
        let after = raise_fd_limit();
        match (before, after) {
            (Some(b), Some(a)) => assert!(a >= b),
            (_, None) => {}
            (None, Some(a)) => panic!("limit went from unlimited to {a}"),
        }
    }
}
