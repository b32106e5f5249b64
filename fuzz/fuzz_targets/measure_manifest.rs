#![no_main]
//! Measurement manifests (JSON): consistency, re-serialisation, extend plan and signature (see
//! `remits_measure::fuzzing::manifest`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::manifest(data));
