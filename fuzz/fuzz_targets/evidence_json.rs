#![no_main]
//! Every evidence JSON form through every built-in verifier driver (see
//! `remits_verify::fuzzing`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_verify::fuzzing::evidence_json(data));
