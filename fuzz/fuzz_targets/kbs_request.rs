#![no_main]
//! Every request body and header the KBS server parses (see `remits_kbs::fuzzing`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_kbs::fuzzing::request(data));
