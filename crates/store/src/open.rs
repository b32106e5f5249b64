//! Opening a backend chosen at run time (e.g. from a configuration file).
//!
//! Every [`Backend`] variant exists in every build, so a configuration can always name one; the
//! persistent backends are compiled only with their cargo feature (`redb`, `postgres`), and
//! [`open`] fails with [`StoreError::BackendNotBuilt`] for one that is not.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{MemoryStore, PostgresOptions, Store, StoreError, StoreOptions};

/// A backend chosen at run time.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// [`MemoryStore`]: in process, lost on exit. Plaintext is allowed (nothing is at rest).
    Memory,
    /// The embedded store (`EmbeddedStore`, feature `redb`) in this directory.
    Embedded {
        /// Directory of the store (created if needed).
        dir: PathBuf,
    },
    /// The PostgreSQL store (`PostgresStore`, feature `postgres`).
    Postgres(PostgresOptions),
}

impl Backend {
    /// Its name in configurations and errors: `memory`, `embedded` or `postgres`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Embedded { .. } => "embedded",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The remits-store cargo feature that compiles this backend (`None`: always compiled).
    pub fn feature(&self) -> Option<&'static str> {
        match self {
            Backend::Memory => None,
            Backend::Embedded { .. } => Some("redb"),
            Backend::Postgres(_) => Some("postgres"),
        }
    }

    /// Whether this build of remits-store includes the backend.
    pub fn is_built(&self) -> bool {
        match self {
            Backend::Memory => true,
            Backend::Embedded { .. } => cfg!(feature = "redb"),
            Backend::Postgres(_) => cfg!(feature = "postgres"),
        }
    }

    /// `Ok` if the backend is compiled in, else [`StoreError::BackendNotBuilt`] naming it and
    /// its feature. Needs no I/O: call it while checking a configuration.
    ///
    /// # Errors
    ///
    /// [`StoreError::BackendNotBuilt`] when the backend's feature is off.
    pub fn check_built(&self) -> Result<(), StoreError> {
        match self.feature() {
            Some(feature) if !self.is_built() => Err(StoreError::BackendNotBuilt {
                backend: self.name(),
                feature,
            }),
            _ => Ok(()),
        }
    }
}

/// Files protecting values at rest in the persistent backends (both optional).
#[derive(Clone, Debug, Default)]
pub struct AtRest {
    /// The key-encryption key (`Kek::from_file`): every value is sealed under it.
    pub kek_file: Option<PathBuf>,
    /// Rollback detection (`RollbackMarks::open`): the highest version seen of each key.
    pub rollback_marks_file: Option<PathBuf>,
}

/// Opens `backend`. With a persistent backend compiled in, the files of `at_rest` are read
/// first for every backend (a bad KEK or marks file fails even for `memory`); without one,
/// `memory` ignores them (it keeps nothing at rest). `opts.allow_plaintext` is set for `memory`.
///
/// # Errors
///
/// [`StoreError::BackendNotBuilt`] before any I/O for a backend whose feature is off; the
/// backend's own error when a file cannot be read or the database cannot be reached.
pub async fn open(
    backend: &Backend,
    at_rest: &AtRest,
    opts: StoreOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    backend.check_built()?;
    #[cfg(any(feature = "redb", feature = "postgres"))]
    let (kek, opts) = {
        let kek = match &at_rest.kek_file {
            Some(p) => Some(crate::Kek::from_file(p)?),
            None => None,
        };
        let rollback_marks = match &at_rest.rollback_marks_file {
            Some(p) => Some(crate::RollbackMarks::open(p)?),
            None => None,
        };
        (
            kek,
            StoreOptions {
                rollback_marks,
                ..opts
            },
        )
    };
    #[cfg(not(any(feature = "redb", feature = "postgres")))]
    let _ = at_rest;
    match backend {
        Backend::Memory => Ok(Arc::new(MemoryStore::with_options(StoreOptions {
            allow_plaintext: true,
            ..opts
        }))),
        #[cfg(feature = "redb")]
        Backend::Embedded { dir } => Ok(Arc::new(crate::EmbeddedStore::open_with(dir, kek, opts)?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres(pg) => Ok(Arc::new(
            crate::PostgresStore::connect_options(pg, kek, opts).await?,
        )),
        // Unreachable: `check_built` refused it above. Kept as an error, not a panic.
        #[allow(unreachable_patterns)]
        other => Err(StoreError::BackendNotBuilt {
            backend: other.name(),
            feature: other.feature().unwrap_or("default"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Namespace;

    fn backends(dir: &std::path::Path) -> [Backend; 3] {
        [
            Backend::Memory,
            Backend::Embedded {
                dir: dir.to_owned(),
            },
            Backend::Postgres(PostgresOptions::new("postgresql://127.0.0.1:1/none")),
        ]
    }

    #[test]
    fn built_matches_the_features() {
        let [m, e, p] = backends(std::path::Path::new("unused"));
        assert!(m.is_built() && m.check_built().is_ok());
        assert_eq!(e.is_built(), cfg!(feature = "redb"));
        assert_eq!(p.is_built(), cfg!(feature = "postgres"));
        for b in [e, p] {
            match b.check_built() {
                Ok(()) => assert!(b.is_built()),
                Err(StoreError::BackendNotBuilt { backend, feature }) => {
                    assert!(!b.is_built());
                    assert_eq!(backend, b.name());
                    assert_eq!(Some(feature), b.feature());
                }
                Err(other) => panic!("{other}"),
            }
        }
    }

    /// A backend that is not compiled in fails with the typed error, naming backend and
    /// feature; one that is compiled in is opened (memory) or fails on I/O, never that error.
    #[tokio::test]
    async fn open_refuses_a_backend_not_built() {
        let dir = tempfile::tempdir().unwrap();
        for b in backends(dir.path()) {
            let r = open(&b, &AtRest::default(), StoreOptions::default()).await;
            match (b.is_built(), r) {
                (false, Err(e @ StoreError::BackendNotBuilt { .. })) => {
                    let msg = e.to_string();
                    assert!(msg.contains(b.name()), "{msg}");
                    assert!(msg.contains(b.feature().unwrap_or("?")), "{msg}");
                }
                (false, other) => panic!("{}: {:?}", b.name(), other.map(|_| ())),
                (true, Err(StoreError::BackendNotBuilt { .. })) => panic!("{}", b.name()),
                (true, Ok(s)) => {
                    s.put(Namespace::Config, "k", b"v", None).await.unwrap();
                    assert_eq!(
                        s.get(Namespace::Config, "k")
                            .await
                            .unwrap()
                            .as_deref()
                            .map(Vec::as_slice),
                        Some(&b"v"[..])
                    );
                }
                (true, Err(e)) => assert_eq!(b.name(), "postgres", "{e}"), // nothing listens there
            }
        }
    }
}
