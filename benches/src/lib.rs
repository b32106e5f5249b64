//! Criterion benchmarks for remits live under `benches/benches/`; this library is empty.
