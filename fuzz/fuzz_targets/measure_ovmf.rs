#![no_main]
//! OVMF/SVSM firmware images and every launch digest over them (see `remits_measure::fuzzing::ovmf`).
//! Seeds: `../shared/testdata/measure` and the inputs of `crates/measure/tests/fuzzing.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::ovmf(data));
