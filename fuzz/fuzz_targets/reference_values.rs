#![no_main]
//! Reference-value registrations, RVPS messages and manifests as reference values (see
//! `remits_verify::fuzzing::reference_values`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_verify::fuzzing::reference_values(data));
