//! An injectable clock, so that certificate validity, token expiry and session lifetimes are
//! tested deterministically.

use std::time::SystemTime;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock stopped at one instant (for tests and for `--time`).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub SystemTime);

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn fixed_clock_is_fixed() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let c = FixedClock(t);
        assert_eq!(c.now(), t);
        assert!(SystemClock.now() > t);
    }
}
