#![no_main]
//! TPMT_SIGNATURE and its verification under fixed keys (see `remits_tpm::fuzzing::tpm_signature`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::tpm_signature(data));
