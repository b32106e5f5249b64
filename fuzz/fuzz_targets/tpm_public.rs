#![no_main]
//! TPM2B_PUBLIC, its Name and the attestation-key constructors (see `remits_tpm::fuzzing::tpm_public`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::tpm_public(data));
