#![no_main]
//! Init-data: the KBS JSON form and the TOML body, digest and PCR8 (see
//! `remits_evidence::fuzzing::init_data`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_evidence::fuzzing::init_data(data));
