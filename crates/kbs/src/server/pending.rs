//! [`PendingChallenges`]: the cap on challenges issued by `/auth` and not yet consumed.
//!
//! `/auth` is unauthenticated and each call stores a session record for `session_ttl`, so
//! without a cap anyone can grow the session table without bound. This counter admits a new
//! challenge only while fewer than `max` of this replica's challenges are outstanding; a full
//! table answers `503` with `Retry-After` and stores nothing. Attested sessions are never
//! counted nor evicted: a flood of `/auth` cannot push out a workload that already attested.
//!
//! Challenges are counted in one bucket per expiry second (ascending), so expiry costs a pop
//! from the front and no per-session entry is kept: memory is O(`session_ttl` in seconds). A
//! challenge leaves the count when its session is attested on this replica, or when it expires.
//! With several replicas the cap is per replica: a challenge issued by A and consumed on B
//! stays counted on A until it expires, and frees one slot of the same expiry second on B
//! (only a successful attestation frees a slot early, so an attacker cannot drain the count).

use std::collections::VecDeque;
use std::sync::Mutex;

/// Longest `Retry-After` sent, in seconds.
const MAX_RETRY_AFTER: u64 = 60;

/// Outstanding-challenge counter with a cap. See the module documentation.
#[derive(Debug)]
pub struct PendingChallenges {
    max: usize,
    inner: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    /// (expiry in Unix seconds, challenges expiring then), ascending by expiry.
    by_expiry: VecDeque<(u64, u64)>,
    total: usize,
    /// The last call was refused (so only the first refusal of a streak is reported).
    refusing: bool,
}

/// The table is full: retry after this many seconds (1 ..= 60).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// Seconds until the oldest outstanding challenge expires (at least 1, at most 60).
    pub retry_after: u64,
    /// The first refusal since the last admission (log this one, not the whole flood).
    pub first: bool,
}

impl Buckets {
    fn expire(&mut self, now: u64) {
        while let Some(&(exp, n)) = self.by_expiry.front() {
            if exp > now {
                break;
            }
            self.total = self
                .total
                .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
            self.by_expiry.pop_front();
        }
    }
}

impl PendingChallenges {
    /// A counter admitting at most `max` outstanding challenges (0 is treated as 1).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Mutex::new(Buckets::default()),
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        // The critical sections cannot panic; recover the data if one ever did.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more challenge expiring at `expires_at` (Unix seconds), unless `max` are
    /// already outstanding at `now`.
    ///
    /// # Errors
    ///
    /// [`Full`] when `max` challenges are outstanding.
    pub fn try_admit(&self, now: u64, expires_at: u64) -> Result<(), Full> {
        let mut b = self.lock();
        b.expire(now);
        if b.total >= self.max {
            let oldest = b.by_expiry.front().map_or(now + 1, |&(e, _)| e);
            let first = !b.refusing;
            b.refusing = true;
            return Err(Full {
                retry_after: oldest.saturating_sub(now).clamp(1, MAX_RETRY_AFTER),
                first,
            });
        }
        b.refusing = false;
        match b.by_expiry.back_mut() {
            Some((e, n)) if *e == expires_at => *n += 1,
            Some((e, _)) if *e > expires_at => {
                // The clock stepped back: insert in order.
                let i = b.by_expiry.partition_point(|&(e, _)| e < expires_at);
                match b.by_expiry.get_mut(i) {
                    Some((e, n)) if *e == expires_at => *n += 1,
                    _ => b.by_expiry.insert(i, (expires_at, 1)),
                }
            }
            _ => b.by_expiry.push_back((expires_at, 1)),
        }
        b.total += 1;
        Ok(())
    }

    /// A challenge expiring at `expires_at` was consumed (or never stored): one slot is free.
    pub fn release(&self, expires_at: u64) {
        let mut b = self.lock();
        let i = b.by_expiry.partition_point(|&(e, _)| e < expires_at);
        let freed = match b.by_expiry.get_mut(i) {
            Some((e, n)) if *e == expires_at && *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        if freed {
            b.total = b.total.saturating_sub(1);
        }
    }

    /// Outstanding challenges at `now`.
    pub fn outstanding(&self, now: u64) -> usize {
        let mut b = self.lock();
        b.expire(now);
        b.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_release_and_expiry() {
        let p = PendingChallenges::new(3);
        for _ in 0..3 {
            p.try_admit(100, 400).unwrap();
        }
        assert_eq!(
            p.try_admit(100, 400),
            Err(Full {
                retry_after: 60,
                first: true
            })
        );
        assert_eq!(
            p.try_admit(399, 699),
            Err(Full {
                retry_after: 1,
                first: false
            })
        );
        // A consumed challenge frees its slot.
        p.release(400);
        p.try_admit(101, 401).unwrap();
        assert_eq!(p.outstanding(101), 3);
        // Releasing an unknown expiry frees nothing.
        p.release(12345);
        assert_eq!(p.outstanding(101), 3);
        // Expiry frees the rest.
        assert_eq!(p.outstanding(400), 1);
        assert_eq!(p.outstanding(401), 0);
        p.try_admit(401, 701).unwrap();
    }

    #[test]
    fn clock_step_back_keeps_order() {
        let p = PendingChallenges::new(10);
        p.try_admit(100, 400).unwrap();
        p.try_admit(90, 390).unwrap();
        p.try_admit(95, 395).unwrap();
        assert_eq!(p.outstanding(390), 2);
        assert_eq!(p.outstanding(395), 1);
        p.release(400);
        assert_eq!(p.outstanding(395), 0);
    }
}
