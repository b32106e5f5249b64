//! Injected randomness: the server draws nonces, session ids, CEKs, IVs and ephemeral keys
//! from a [`RandomSource`], so tests can make them deterministic.

use rand_core::{CryptoRng, RngCore};

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand_core::OsRng.fill_bytes(buf);
    }
}

/// A deterministic source for tests: ChaCha seeded from a fixed seed. Never use in production.
#[derive(Debug)]
pub struct SeededRandom(std::sync::Mutex<rand::rngs::StdRng>);

impl SeededRandom {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        Self(std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(
            seed,
        )))
    }
}

impl RandomSource for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        match self.0.lock() {
            Ok(mut g) => g.fill_bytes(buf),
            Err(p) => p.into_inner().fill_bytes(buf),
        }
    }
}

/// Adapts a [`RandomSource`] to `RngCore + CryptoRng` for the crypto crates.
pub struct Rng<'a>(pub &'a dyn RandomSource);

impl RngCore for Rng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for Rng<'_> {}
