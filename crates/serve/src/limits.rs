//! [`Limits`]: every timeout and size the serving loop enforces, with safe defaults.

use std::time::Duration;

use crate::fdlimit::FD_RESERVE;

/// Timeouts and limits of one server. `Default` is safe to expose to the Internet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send a complete request head (request line and headers), counted
    /// from the first read of a request; it also runs while a keep-alive connection waits for
    /// its next request, so it is the idle keep-alive timeout as well. Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved in either direction for this long is closed (a
    /// TLS client that stalls after the handshake, a client that never reads its response).
    /// Must exceed the server's request timeout, since a request being handled moves no bytes.
    /// Default 120 s.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; larger gets `431` and the
    /// connection is closed. Also bounds the per-connection read buffer. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more gets `431`. Default 100 (hyper's stack
    /// allocation; another value costs one heap allocation per request).
    pub max_headers: usize,
    /// Most connections open at once (handshaking, idle or busy). Further clients wait in the
    /// kernel's listen backlog until one closes. Lowered automatically to stay
    /// [`FD_RESERVE`] below the process's open-file limit. Default 4096.
    pub max_connections: usize,
    /// Time a TLS client has to complete its handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// After the stop signal: how long in-flight requests may take to finish. Default 30 s.
    pub drain_timeout: Duration,
}

/// The default header-read (and keep-alive idle) timeout.
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Duration::from_secs(120),
            max_header_bytes: 16 << 10,
            max_headers: 100,
            max_connections: 4096,
            tls_handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// A [`Limits`] value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A timeout is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// A size or count is outside its range.
    #[error("{field} must be between {min} and {max}, got {got}")]
    Range {
        /// The field.
        field: &'static str,
        /// Smallest accepted.
        min: usize,
        /// Largest accepted.
        max: usize,
        /// Value given.
        got: usize,
    },
    /// `idle_timeout` does not exceed the request timeout: requests being handled would be cut.
    #[error("idle_timeout ({idle:?}) must be longer than the request timeout ({request:?})")]
    IdleShorterThanRequest {
        /// `idle_timeout`.
        idle: Duration,
        /// The server's request timeout.
        request: Duration,
    },
}

impl Limits {
    /// Smallest accepted `max_header_bytes` (hyper's minimum read buffer).
    pub const MIN_HEADER_BYTES: usize = 8 << 10;
    /// Largest accepted `max_header_bytes`.
    pub const MAX_HEADER_BYTES: usize = 1 << 20;

    /// Checks ranges: timeouts positive, `max_header_bytes` 8 KiB ..= 1 MiB, `max_headers`
    /// 1 ..= 1000, `max_connections` 1 ..= 1,000,000.
    ///
    /// # Errors
    ///
    /// [`LimitsError::Zero`] for a zero timeout or count, [`LimitsError::Range`] for a value
    /// outside its range.
    pub fn validate(&self) -> Result<(), LimitsError> {
        for (name, d) in [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            ("drain_timeout", self.drain_timeout),
        ] {
            if d.is_zero() {
                return Err(LimitsError::Zero(name));
            }
        }
        for (field, got, min, max) in [
            (
                "max_header_bytes",
                self.max_header_bytes,
                Self::MIN_HEADER_BYTES,
                Self::MAX_HEADER_BYTES,
            ),
            ("max_headers", self.max_headers, 1, 1000),
            ("max_connections", self.max_connections, 1, 1_000_000),
        ] {
            if got < min || got > max {
                return Err(LimitsError::Range {
                    field,
                    min,
                    max,
                    got,
                });
            }
        }
        Ok(())
    }

    /// [`Limits::validate`], and `idle_timeout` longer than `request_timeout` (the server's
    /// per-request deadline).
    ///
    /// # Errors
    ///
    /// As [`Limits::validate`], and [`LimitsError::IdleShorterThanRequest`] when `idle_timeout` is
    /// not longer than `request_timeout`.
    pub fn validate_with_request_timeout(
        &self,
        request_timeout: Duration,
    ) -> Result<(), LimitsError> {
        self.validate()?;
        if self.idle_timeout <= request_timeout {
            return Err(LimitsError::IdleShorterThanRequest {
                idle: self.idle_timeout,
                request: request_timeout,
            });
        }
        Ok(())
    }

    /// `max_connections`, lowered to leave [`FD_RESERVE`] descriptors (listener, store files,
    /// database connections, logs) under `fd_limit` (the soft `RLIMIT_NOFILE`), never below 1.
    pub fn effective_max_connections(&self, fd_limit: Option<u64>) -> usize {
        match fd_limit {
            Some(n) => {
                let room = usize::try_from(n.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
                self.max_connections.min(room).max(1)
            }
            None => self.max_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let l = Limits::default();
        l.validate().unwrap();
        assert!(l.header_read_timeout <= Duration::from_secs(30));
        assert!(l.max_header_bytes <= 64 << 10);
        l.validate_with_request_timeout(Duration::from_secs(30))
            .unwrap();
    }

    #[test]
    fn bad_values_refused() {
        let l = Limits {
            header_read_timeout: Duration::ZERO,
            ..Limits::default()
        };
        assert_eq!(l.validate(), Err(LimitsError::Zero("header_read_timeout")));
        let l = Limits {
            max_header_bytes: 100,
            ..Limits::default()
        };
        assert!(matches!(l.validate(), Err(LimitsError::Range { .. })));
        let l = Limits {
            idle_timeout: Duration::from_secs(30),
            ..Limits::default()
        };
        assert!(matches!(
            l.validate_with_request_timeout(Duration::from_secs(30)),
            Err(LimitsError::IdleShorterThanRequest { .. })
        ));
    }

    #[test]
    fn cap_follows_fd_limit() {
        let l = Limits::default();
        assert_eq!(l.effective_max_connections(None), 4096);
        assert_eq!(l.effective_max_connections(Some(1 << 20)), 4096);
        assert_eq!(
            l.effective_max_connections(Some(1024)),
            1024 - FD_RESERVE as usize
        );
        assert_eq!(l.effective_max_connections(Some(3)), 1);
    }
}
