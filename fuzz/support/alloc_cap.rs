//! An allocation cap for the tests that run the fuzz entry points (issue 16): a counting global
//! allocator with peak tracking, so that one input that allocates more than [`CAP`] fails CI
//! instead of passing unnoticed (libFuzzer only reports memory past `-malloc_limit_mb`).
//!
//! Included with `#[path = ".../fuzz/support/alloc_cap.rs"] mod alloc_cap;` by each test binary,
//! which then declares `#[global_allocator] static A: alloc_cap::Counting = alloc_cap::Counting;`.
//! The counters are process-wide (helper threads count too), so every test of such a binary takes
//! [`serial`] first: one test measures at a time.
#![allow(dead_code, unreachable_pub)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

/// The largest peak (bytes live above the level before the input) one input may reach.
pub const CAP: usize = 64 << 20;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting live bytes and their peak.
pub struct Counting;

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

// The one `unsafe` of the test suites: a global allocator cannot be written without it.
// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; only two
// atomic counters are updated, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Relaxed);
            grew(new);
        }
        q
    }
}

/// Serialises the tests of one binary, so that the process-wide peak belongs to one input.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` and returns its result with the peak of live bytes it added (bytes).
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    (r, PEAK.load(Relaxed).saturating_sub(base))
}

/// Runs `f` on one input and panics, naming the input, when it allocated more than [`CAP`] at
/// once.
pub fn capped<R>(what: &dyn std::fmt::Display, f: impl FnOnce() -> R) -> R {
    let (r, peak) = peak_of(f);
    assert!(
        peak <= CAP,
        "{what}: one input made {} MiB live at once (cap {} MiB)",
        peak >> 20,
        CAP >> 20
    );
    r
}

/// `rounds` deterministic mutants of `seed` (xorshift64): byte flips, an extreme 32-bit value
/// written over a size field, insertions, deletions and truncations.
pub fn mutants(seed: &[u8], rounds: usize, mut x: u64) -> Vec<Vec<u8>> {
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut m = seed.to_vec();
        let len = m.len().max(1);
        let i = (next() % len as u64) as usize;
        match next() % 5 {
            0 if !m.is_empty() => m[i] ^= 1 << (next() % 8),
            1 if m.len() >= 4 => {
                let i = i.min(m.len() - 4);
                m[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
            2 => m.insert(i.min(m.len()), next() as u8),
            3 if !m.is_empty() => {
                m.remove(i.min(m.len() - 1));
            }
            _ => m.truncate(i),
        }
        out.push(m);
    }
    out
}

/// Runs `entry` under the cap on `seed`, its mutants and every 1/16 truncation; returns the
/// number of inputs run.
pub fn exercise(name: &str, seed: &[u8], rounds: usize, entry: fn(&[u8])) -> usize {
    let mut runs = 0;
    let mut run = |what: &str, d: &[u8]| {
        capped(&format_args!("{name}: {what} ({} bytes)", d.len()), || {
            entry(d)
        });
        runs += 1;
    };
    run("the seed", seed);
    for k in 0..16 {
        run("a truncation", &seed[..seed.len() * k / 16]);
    }
    for m in mutants(seed, rounds, 0x9E37_79B9_7F4A_7C15 ^ seed.len() as u64) {
        run("a mutant", &m);
    }
    runs
}

/// Every offset of the first 4 KiB of `seed` in turn set to an all-ones 16-bit and 32-bit
/// value (each a declared size or count at its maximum, in either byte order), run under the
/// cap: the hostile-size sweep of issue 16. Returns the number of inputs run.
pub fn size_sweep(name: &str, seed: &[u8], entry: fn(&[u8])) -> usize {
    let mut runs = 0;
    for width in [2usize, 4] {
        for i in 0..seed.len().min(4096).saturating_sub(width - 1) {
            for v in [0xffu8, 0x7f] {
                let mut m = seed.to_vec();
                m[i..i + width].fill(0xff);
                m[i] = v;
                capped(
                    &format_args!("{name}: {width} bytes at {i:#x} = max ({} bytes)", m.len()),
                    || entry(&m),
                );
                runs += 1;
            }
        }
    }
    runs
}

/// Writes `data` as seed `name` of fuzz target `target` under `$REMITS_FUZZ_SEEDS` (what
/// `fuzz/run.sh` sets; the `write_fuzz_seeds` tests do nothing without it). Returns whether it
/// wrote.
pub fn write_seed(target: &str, name: &str, data: &[u8]) -> bool {
    let Some(root) = std::env::var_os("REMITS_FUZZ_SEEDS") else {
        return false;
    };
    let dir = std::path::Path::new(&root).join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
    true
}
