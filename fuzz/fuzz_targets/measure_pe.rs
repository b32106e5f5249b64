#![no_main]
//! PE/COFF images and their Authenticode digest (see `remits_measure::fuzzing::pe`).
//! Seeds: `../shared/testdata/measure` and the inputs of `crates/measure/tests/fuzzing.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::pe(data));
