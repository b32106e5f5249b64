#![no_main]
//! Admin API bearer tokens: JWT header, algorithm, claims, lifetime and signature (see
//! `remits_kbs::fuzzing::admin_jwt`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_kbs::fuzzing::admin_jwt(data));
