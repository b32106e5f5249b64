#![no_main]
//! A container-image layer (tar, or gzip-compressed tar) (see `remits_measure::fuzzing::tar`).
//! Seeds: `../shared/testdata/measure` and the inputs of `crates/measure/tests/fuzzing.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::tar(data));
